"""A plugin action with an undo, through the real ``aftershock run``: the example package's
``set-flag`` (``examples/aftershock-example-kinds``) is found by the real registry — a ``.dist-info``
with its entry points on the import path, as an installed distribution is, without building a venv
(the slow ``test_example_plugin.py`` does that) — its undo is recorded before it runs and it is
reverted when the run ends; after a kill -9, ``recover`` reverts it from the record alone."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer

from .helpers import Cli, Subreaper, aftershock

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "examples" / "aftershock-example-kinds" / "src"

EXPERIMENT = """\
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: flag-drill}
spec:
  target: {type: host}
  faults:
    - name: scratch-full
      type: disk-fill
      directory: "%(fill)s"
      size: 4096
      duration: %(duration)s
  slos:
    - name: free-space
      query: vector(1)
      objective: {op: "<", value: 0}
  policies:
    - name: flag-it
      when: {slo: free-space}
      action: set-flag
      with: {path: "%(flag)s"}
  monitor:
    prometheus: "{{ env.AFTERSHOCK_PROMETHEUS_URL }}"
    interval: 500ms
  recovery: {timeout: 5s}
"""


def _setup(tmp_path: Path, duration: str) -> tuple[Path, Path, dict[str, str]]:
    info = tmp_path / "site" / "aftershock_example_kinds-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aftershock-example-kinds\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[aftershock.faults]\ndisk-fill = aftershock_example_kinds.disk_fill:KIND\n"
                                           "[aftershock.actions]\nset-flag = aftershock_example_kinds.set_flag:KIND\n")
    flag = tmp_path / "flag"
    experiment = tmp_path / "flag-drill.yaml"
    experiment.write_text(EXPERIMENT % {"fill": tmp_path / "fill", "flag": flag, "duration": duration})
    env = {"PYTHONPATH": f"{tmp_path / 'site'}:{SRC}", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return experiment, flag, env


async def test_a_plugin_action_is_reverted_at_the_end_of_the_run(tmp_path: Path, audit: Subreaper) -> None:
    experiment, flag, env = _setup(tmp_path, "4s")
    state = tmp_path / "state"
    async with PrometheusServer([], scrape_interval="1s") as prom:
        cli = await Cli.start("run", str(experiment), "-o", "json", "--state-dir", str(state),
                              env={**env, "AFTERSHOCK_PROMETHEUS_URL": prom.url}, cwd=tmp_path)
        applied = await cli.event("ActionApplied", timeout=60, action="set-flag")
        assert flag.read_text() == "on\n"
        assert await cli.wait() == 1, cli.stderr[-2000:]
    run_id = applied["run_id"]
    assert not flag.exists()  # reverted from its record when the run ended
    reverted = cli.find("Reverted", decision_id=applied["decision_id"])
    assert reverted is not None and reverted["detail"] == f"flag {flag} unset"
    store = StateStore(state)
    assert [p.state for p in store.undo_plans(pending_only=False) if p.run_id == run_id] == ["done"]
    store.close()


async def test_kill_9_then_recover_reverts_the_plugin_action_from_its_record(tmp_path: Path,
                                                                           audit: Subreaper) -> None:
    experiment, flag, env = _setup(tmp_path, "5m")
    state = tmp_path / "state"
    async with PrometheusServer([], scrape_interval="1s") as prom:
        cli = await Cli.start("run", str(experiment), "-o", "json", "--state-dir", str(state),
                              env={**env, "AFTERSHOCK_PROMETHEUS_URL": prom.url}, cwd=tmp_path)
        applied = await cli.event("ActionApplied", timeout=60, action="set-flag")
        cli.signal(signal.SIGKILL)
        assert await cli.wait() == -signal.SIGKILL
    assert flag.exists()
    store = StateStore(state)
    (plan,) = [p for p in store.undo_plans() if p.run_id == applied["run_id"]]
    assert [(i["kind"], i["action"], i["record"]) for i in plan.items] == [("plugin", "set-flag", {"path": str(flag)})]
    assert plan.items[0]["deadline"] > 0
    store.close()
    rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)
    assert rc == 0, out + err
    assert f"set-flag {applied['decision_id']}: flag {flag} unset" in out
    assert not flag.exists()
