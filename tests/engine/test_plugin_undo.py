"""A third party's action kind declares its undo (``ActionKind.undo`` + ``revert``): recorded
write-ahead like the product's degrades, reverted by ``aftershock recover`` from the record alone.

The example plugin (``examples/aftershock-example-kinds``, action ``set-flag``) is made findable the
way an installed distribution is — a ``.dist-info`` folder with its ``entry_points.txt`` on the
import path — so the real registry finds it, without building a venv (the slow end-to-end test of
the plugin does that). Real CLI, real state store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from chaos.clients.state import StateStore
from chaos.targets.undo import PluginUndo, undo_to_record

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "examples" / "aftershock-example-kinds" / "src"
AFTERSHOCK = Path(sys.executable).parent / "aftershock"
DEAD = "deadf1a9"


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "aftershock_example_kinds-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aftershock-example-kinds\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[aftershock.actions]\nset-flag = aftershock_example_kinds.set_flag:KIND\n")
    return site


def _env(tmp_path: Path, plugin: bool) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    if plugin:
        env["PYTHONPATH"] = f"{_site(tmp_path) if not (tmp_path / 'site').exists() else tmp_path / 'site'}:{SRC}"
    return env


def _dead_run(state: Path) -> StateStore:
    store = StateStore(state)
    store.start_run(DEAD, "flags", "flags.yaml", "host", time.time() - 60)
    db = sqlite3.connect(state / "state.db")
    db.execute("UPDATE runs SET pid = 999999, pid_start = 'gone', host = '' WHERE id = ?", (DEAD,))
    db.commit()
    db.close()
    return store


def test_the_plugin_undo_is_recorded_before_the_action_runs(tmp_path: Path) -> None:
    """``write_ahead`` of a plugin decision gives its undo record (and none for ``keep: true``)."""
    code = ("import json\n"
            "from chaos import registry\n"
            "from chaos.policy.actions import Decision, PluginAction\n"
            "from chaos.targets.undo import undo_to_record, write_ahead\n"
            "kind = registry.actions.require('set-flag')\n"
            "with_ = kind.model.model_validate({'name': 'p', 'when': {'slo': 's'}, 'action': 'set-flag',"
            " 'with': {'path': '/tmp/flag'}}).with_\n"
            "d = Decision('p#1', 'p', PluginAction('set-flag', with_), None)\n"
            "kept = Decision('p#2', 'p', PluginAction('set-flag', with_), None, keep=True)\n"
            "print(json.dumps([[undo_to_record(i) for i in write_ahead(d, 'flags')], write_ahead(kept)]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=_env(tmp_path, plugin=True))
    assert done.returncode == 0, done.stderr
    (records, kept) = json.loads(done.stdout)
    assert kept == []
    assert records == [{"v": 1, "kind": "plugin", "action": "set-flag", "decision_id": "p#1",
                        "record": {"path": "/tmp/flag"}, "experiment": "flags"}]


def test_recover_reverts_a_plugin_action_of_a_dead_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    flag = tmp_path / "flag"
    flag.write_text("on\n")  # what the killed run's apply left
    store = _dead_run(state)
    item = PluginUndo(action="set-flag", decision_id="p#1", record={"path": str(flag)}, experiment="flags")
    store.record_undo(DEAD, [undo_to_record(item, time.time() + 600)])
    store.close()

    # without the plugin installed: said (no traceback), nothing done, the plan kept for later
    done = subprocess.run([str(AFTERSHOCK), "recover", "--state-dir", str(state)], capture_output=True, text=True,
                          timeout=120, env=_env(tmp_path, plugin=False))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "'set-flag' (with a revert) is not installed here" in done.stderr
    assert flag.exists()

    done = subprocess.run([str(AFTERSHOCK), "recover", "--state-dir", str(state)], capture_output=True, text=True,
                          timeout=120, env=_env(tmp_path, plugin=True))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"✓ {DEAD}: set-flag p#1: flag {flag} unset" in done.stdout
    assert not flag.exists()
    assert StateStore(state).undo_plans() == []
