"""Shell completion through the real entry point, as bash/zsh/fish ask for it (Click's protocol):
run ids for ``show``/``report``/``recover --run`` and schedule names for ``gameday pause|resume``
come from the state directory; commands and options complete too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore

BIN = Path(sys.executable).parent / "aftershock"


def _complete(shell: str, words: list[str], state: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSHOCK_")}
    env.update(_AFTERSHOCK_COMPLETE=f"{shell}_complete", AFTERSHOCK_STATE_DIR=str(state),
               COMP_WORDS=" ".join(["aftershock", *words]),
               # bash/zsh pass the index of the word completed, fish the word itself
               COMP_CWORD=words[-1] if shell == "fish" else str(len(words)))
    done = subprocess.run([str(BIN)], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    store = StateStore(tmp_path)
    store.start_run("abcd1234", "payment-latency", "x.yaml", "kubernetes")
    store.finish_run("abcd1234", "passed", 0, "")
    store.start_run("abce5678", "pod-kill", "y.yaml", "kubernetes")
    store.finish_run("abce5678", "deviated", 1, "")
    store.start_run("zzzz0000", "pod-kill", "y.yaml", "kubernetes")
    store.finish_run("zzzz0000", "passed", 0, "")
    store.close()
    schedules = ScheduleStore(tmp_path)
    schedules.register("checkout-friday", "g.yaml", 0.0)
    schedules.register("nightly", "n.yaml", 0.0)
    schedules.close()
    return tmp_path


def test_bash_completes_run_ids(state: Path) -> None:
    assert sorted(_complete("bash", ["show", "ab"], state)) == ["plain,abcd1234", "plain,abce5678"]
    assert sorted(_complete("bash", ["report", "z"], state)) == ["plain,zzzz0000"]
    assert sorted(_complete("bash", ["recover", "--run", "abc"], state)) == ["plain,abcd1234", "plain,abce5678"]


def test_zsh_and_fish_get_the_experiment_and_verdict_as_help(state: Path) -> None:
    zsh = _complete("zsh", ["show", "abcd"], state)
    assert zsh == ["plain", "abcd1234", "payment-latency passed"]
    fish = _complete("fish", ["show", "abcd"], state)
    assert fish == ["plain,abcd1234\tpayment-latency passed"]


def test_schedule_names_and_commands(state: Path) -> None:
    assert _complete("bash", ["gameday", "pause", "ch"], state) == ["plain,checkout-friday"]
    assert sorted(_complete("bash", ["gameday", "resume", ""], state)) == ["plain,checkout-friday", "plain,nightly"]
    assert "plain,schema" in _complete("bash", ["sch"], state)


def test_no_state_yet_means_no_candidates(tmp_path: Path) -> None:
    assert _complete("bash", ["show", ""], tmp_path / "none") == []
    assert not (tmp_path / "none").exists()  # a TAB creates nothing
