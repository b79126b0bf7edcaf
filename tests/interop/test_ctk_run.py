"""The real ``chaos run`` (Chaos Toolkit's CLI) of an exported demo experiment against the demo stack
on the host target: real Prometheus, real demo services under load, a real fault through the
demo's fault proxy, the Aftershock guard removing it on the SLO breach. Its journal's status and
deviation agree with ``aftershock run`` of the same experiment, the fault went through the state
store (recorded before injection, then removed), and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from harness.experiments import proxy_delay_experiment, slo

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.demo.stack import DemoStack
from chaos.loading import load_file
from chaos.slo.monitoring import Monitor

from .ctk_cli import AFTERSHOCK, CHAOS, chaos_run, processes_mentioning, run_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "experiments" / "demo-payment-latency.yaml"
WARMUP_S = 60.0


async def _warm_up(env: dict[str, str]) -> None:
    """Until the steady-state SLOs hold (Prometheus needs a few scrapes of the demo's load)."""
    exp = load_file(EXPERIMENT, environ=env).experiment
    slos = [exp.spec.slo(n) for n in exp.spec.steady_state]
    deadline = time.monotonic() + WARMUP_S
    async with Monitor(exp.spec.monitor) as monitor:
        while time.monotonic() < deadline:
            tick = await monitor.evaluate_now(slos)
            if all(v.holds for v in tick.verdicts):
                return
            await asyncio.sleep(1.0)  # the next scrape is the event; Prometheus offers nothing to await
    raise AssertionError("the demo's steady state did not settle")


@pytest.fixture
async def demo() -> AsyncIterator[tuple[DemoStack, dict[str, str]]]:
    async with DemoStack(load_rate=25.0) as stack, \
            PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
        e = stack.endpoints
        env = {**os.environ, "AFTERSHOCK_PROMETHEUS_URL": prom.url, "AFTERSHOCK_DEMO_PROXY_LISTEN": e.proxy,
               "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
               "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token}
        await _warm_up(env)
        yield stack, env


TOP = ("chaoslib-version", "platform", "node", "experiment", "start", "end", "duration", "status", "deviated",
       "steady_states", "run", "rollbacks")
ITEM = ("activity", "start", "end", "duration", "status")


def _types(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: "number" if isinstance(data[k], int | float) and not isinstance(data[k], bool)
            else type(data[k]).__name__ for k in keys}


def _same_shape(ours: dict[str, Any], ctk: dict[str, Any]) -> None:
    """Our journal has the keys and JSON types of the journal the real ``chaos run`` wrote."""
    assert _types(ours, TOP) == _types(ctk, TOP)
    for stamp in ("start", "end"):
        datetime.fromisoformat(ours[stamp])
    for phase in ("before", "after"):
        mine, theirs = ours["steady_states"][phase], ctk["steady_states"][phase]
        assert set(theirs) <= set(mine) and mine["steady_state_met"] in (True, False)
        probe_keys = (*ITEM, "tolerance_met")
        assert {_types(p, probe_keys) == _types(theirs["probes"][0], probe_keys) for p in mine["probes"]} == {True}
    assert isinstance(ours["steady_states"]["during"], list)
    for key in ("run", "rollbacks"):
        assert ours[key] and {_types(item, ITEM) == _types(ctk[key][0], ITEM) for item in ours[key]} == {True}
        assert {set(ctk[key][0]) <= set(item) for item in ours[key]} == {True}
        assert all({"type", "name", "provider"} <= set(item["activity"]) for item in ours[key])


async def test_chaos_run_of_an_exported_demo_experiment(demo: tuple[DemoStack, dict[str, str]],
                                                         tmp_path: Path) -> None:
    stack, env = demo
    state = tmp_path / "state"
    env = {**env, "AFTERSHOCK_STATE_DIR": str(state)}
    exported = tmp_path / "experiment.json"
    rc, _, err = await run_cli(AFTERSHOCK, "export", "--format", "chaostoolkit", str(EXPERIMENT),
                             "--out", str(exported), env=env, cwd=tmp_path, timeout=60)
    assert rc == 0, err

    # Chaos Toolkit runs it: the guard removes the fault on the breach, the journal deviates
    journal_path = tmp_path / "journal.json"
    rc, out, err = await chaos_run(exported, journal_path, tmp_path / "ctk.log", env=env, cwd=tmp_path, timeout=150)
    log = (tmp_path / "ctk.log").read_text()
    journal: dict[str, Any] = json.loads(journal_path.read_text())
    assert (journal["status"], journal["deviated"]) == ("completed", True), log[-4000:]
    assert rc == 1  # chaos run exits 1 on a deviation
    ours = journal["aftershock"]
    assert ours["verdict"] == "deviated"
    assert [d["action"] for d in ours["decisions"] if "action" in d][:1] == ["rollback"]
    assert all(d.get("ok", True) for d in ours["decisions"])
    run_id = ours["run_id"]
    names = [r["activity"]["name"] for r in journal["run"]]
    assert names == ["inject-payment-delay", "hold-faults", "remove-faults", "await-steady-state"]
    assert [r["status"] for r in journal["run"]] == ["succeeded"] * 4
    hold = journal["run"][1]["output"]
    assert hold["ended_by"] == "faults removed" and hold["held_s"] < 40  # the guard ended it, not the duration
    assert journal["run"][3]["output"]["holds"] is True
    after = {p["activity"]["name"]: p["tolerance_met"] for p in journal["steady_states"]["after"]["probes"]}
    assert after == {"checkout-p95": True, "error-rate": True, "slos-held-during-run": False}
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]

    # the same write-ahead record as aftershock run: recorded before injection, removed, run finished
    store = StateStore(state)
    (row,) = store.faults(run_id)
    assert row.state == "removed" and row.fault == "payment-delay" and row.realisation["kind"] == "proxy"
    assert row.recorded <= row.deadline and row.removed is not None
    assert row.realisation["proxy_fault"]["run_id"] == run_id  # labelled as ours
    run = store.run(run_id)
    assert run is not None and run.verdict == "deviated" and run.source == "chaostoolkit"
    assert store.faults(live_only=True) == []
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        assert await admin.list_faults() == []
    rc, out, err = await run_cli(AFTERSHOCK, "recover", "--state-dir", str(state), env=env,
                               cwd=tmp_path, timeout=60)
    assert rc == 0 and "nothing to recover" in out, out + err
    rc, out, err = await run_cli(AFTERSHOCK, "show", run_id, "--state-dir", str(state), env=env,
                               cwd=tmp_path, timeout=60)
    assert rc == 0 and f"run {run_id}: demo-payment-latency — deviated" in out, out + err

    # aftershock run of the same experiment agrees on status and deviation
    rc, out, err = await run_cli(AFTERSHOCK, "run", str(EXPERIMENT), "--output", "json",
                               "--state-dir", str(state), env=env, cwd=tmp_path, timeout=150)
    finished = [json.loads(line) for line in out.splitlines() if '"RunFinished"' in line][-1]
    ours_journal = json.loads(Path(finished["journal"]).read_text())
    assert (ours_journal["status"], ours_journal["deviated"]) == (journal["status"], journal["deviated"]), err
    assert ours_journal["aftershock"]["verdict"] == ours["verdict"]
    _same_shape(ours_journal, journal)

    # nothing left behind: no process working in the run's state dir (watchdogs, run-owned proxies)
    assert processes_mentioning(str(state)) == []


async def _export_and_run(tmp_path: Path, name: str, source_text: str,
                          env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str, float]:
    """Export ``source_text`` and ``chaos run`` it with the state dir ``tmp_path/state``: exit code,
    journal, Chaos Toolkit's log and how long the run took."""
    source = tmp_path / f"{name}.yaml"
    source.write_text(source_text)
    env = {**(env or os.environ), "AFTERSHOCK_STATE_DIR": str(tmp_path / "state")}
    exported = tmp_path / f"{name}.json"
    rc, _, err = await run_cli(AFTERSHOCK, "export", str(source), "--out", str(exported), env=env, cwd=tmp_path,
                               timeout=60)
    assert rc == 0, err
    started = time.monotonic()
    rc, _, err = await chaos_run(exported, tmp_path / "journal.json", tmp_path / "ctk.log", env=env, cwd=tmp_path)
    elapsed = time.monotonic() - started
    return rc, json.loads((tmp_path / "journal.json").read_text()), (tmp_path / "ctk.log").read_text(), elapsed


async def test_an_abort_policy_stops_the_chaos_toolkit_run(tmp_path: Path) -> None:
    """The guard removes the fault itself, then interrupts ``chaos run`` (which then skips its rollbacks)."""
    with PrometheusServer() as prom:
        rc, journal, log, elapsed = await _export_and_run(tmp_path, "abort", proxy_delay_experiment(
            "ctk-abort", prom.url, [slo("never", "vector(1)", "<", 0)], duration="60s", latency="100ms",
            policies=[{"name": "stop", "when": {"slo": "never"}, "action": "abort"}]))
    assert journal["status"] == "interrupted", log[-3000:]
    assert rc == 1 and elapsed < 60  # stopped by the guard, not by the 60 s hold
    assert journal["aftershock"]["verdict"] == "aborted"
    assert [d["action"] for d in journal["aftershock"]["decisions"] if "action" in d] == ["abort"]
    # Chaos Toolkit skips rollbacks after an interruption (default rollback strategy): the guard removed it
    assert journal["rollbacks"] == []
    store = StateStore(tmp_path / "state")
    (row,) = store.faults(journal["aftershock"]["run_id"])
    assert row.state == "removed"
    run = store.run(row.run_id)
    assert run is not None and run.verdict == "aborted"
    assert processes_mentioning(str(tmp_path / "state")) == []  # the run-owned proxy is gone


async def test_a_guard_that_cannot_watch_fails_closed(tmp_path: Path) -> None:
    """The guard cannot build its monitor (its bearer token file does not exist): it removes the
    fault at once instead of leaving it unguarded, and the run deviates."""
    missing = tmp_path / "no-such-token"
    with PrometheusServer() as prom:
        rc, journal, log, _ = await _export_and_run(tmp_path, "blind", proxy_delay_experiment(
            "ctk-blind", prom.url, [slo("up", "vector(1)", "==", 1)], duration="60s", latency="100ms",
            monitor={"bearerTokenFile": str(missing)}))
    assert (rc, journal["status"], journal["deviated"]) == (1, "completed", True), log[-3000:]
    assert str(missing) in log
    hold = next(r for r in journal["run"] if r["activity"]["name"] == "hold-faults")
    assert hold["output"]["ended_by"] == "faults removed" and hold["output"]["held_s"] < 30
    (row,) = StateStore(tmp_path / "state").faults(journal["aftershock"]["run_id"])
    assert row.state == "removed"
    assert processes_mentioning(str(tmp_path / "state")) == []


async def test_a_killed_chaos_run_has_its_degrade_reverted_at_the_deadline(tmp_path: Path) -> None:
    """``chaos run`` SIGKILLed while the guard's degrade is applied: its revert was in the state store's
    undo plan (with its deadline) before the degrade was sent, and the run's undo watchdog sends it at
    the deadline with nobody running ``recover`` (a degrade never outlives the run's bound)."""
    import http.server
    import signal
    import threading

    heard: list[str] = []
    changed = threading.Condition()

    class Flags(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with changed:
                heard.append(self.path)
                changed.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    flags = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flags)
    threading.Thread(target=flags.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{flags.server_address[1]}"

    def wait_for(path: str, timeout: float) -> bool:
        with changed:
            return changed.wait_for(lambda: path in heard, timeout)

    state = tmp_path / "state"
    try:
        with PrometheusServer() as prom:
            source = tmp_path / "degrade.yaml"
            source.write_text(proxy_delay_experiment(
                "ctk-degrade", prom.url, [slo("never", "vector(1)", "<", 0)], duration="6s", latency="10ms",
                recovery={"timeout": "5s"},
                policies=[{"name": "fallback", "when": {"slo": "never"}, "action": "degrade",
                           "with": {"http": {"method": "POST", "url": f"{url}/degrade"},
                                    "revert": {"method": "POST", "url": f"{url}/revert"}}}]))
            env = {**os.environ, "AFTERSHOCK_STATE_DIR": str(state)}
            exported = tmp_path / "degrade.json"
            rc, _, err = await run_cli(AFTERSHOCK, "export", str(source), "--out", str(exported), env=env,
                                       cwd=tmp_path, timeout=60)
            assert rc == 0, err
            proc = await asyncio.create_subprocess_exec(
                CHAOS, "--no-version-check", "--log-file", str(tmp_path / "ctk.log"), "run", "--journal-path",
                str(tmp_path / "journal.json"), str(exported), cwd=str(tmp_path), env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                degraded = await asyncio.to_thread(wait_for, "/degrade", 120)
                assert degraded, (tmp_path / "ctk.log").read_text()[-3000:]
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        (plan,) = StateStore(state).undo_plans()
        (item,) = plan.items
        assert item["kind"] == "http-degrade" and item["call"]["url"] == f"{url}/revert"
        deadline = float(item["deadline"])
        assert "/revert" not in heard  # the run was killed before its own revert
        assert await asyncio.to_thread(wait_for, "/revert", deadline - time.time() + 30), \
            "the degrade was never reverted without recover"
        assert time.time() >= deadline - 1  # at the deadline, not when the run died
        assert heard.count("/revert") == 1
        watched = StateStore(state)
        for _ in range(100):  # the watchdog writes the plan done right after the revert answered
            if not watched.undo_plans():
                break
            await asyncio.sleep(0.1)
        assert watched.undo_plans() == []
    finally:
        flags.shutdown()
        flags.server_close()
