"""Prometheus SIGKILLed and restarted mid-run: the run ends clean, the decision recorded.

Real Prometheus (Debian's, restarted on the same port), the real engine, a real fault through a
fault proxy the run starts itself. Two policies for a monitor outage:

- ``errorTolerance`` larger than the outage: the run rides it out (failed polls are recorded as
  ``unavailable`` samples), Prometheus comes back, the fault ends at its deadline, the steady state
  is verified again: ``passed``, no policy fired;
- ``errorTolerance: 2``: the implicit ``monitor-on-error`` rollback fires during the outage (the
  decision and its evidence are in the journal), Prometheus comes back, the steady state is verified
  after recovery: ``deviated``, not ``failed``.
In both, no fault is left (the run's proxy is gone, the store has no live fault).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from harness.experiments import host_experiment, owned_proxy, partition, slo

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_text

pytestmark = pytest.mark.e2e
FAILED = ("no-data", "unavailable")


async def _outage_mid_run(tmp_path: Path, tolerance: int, duration: str) -> tuple[list[ev.RunEvent], ev.RunFinished]:
    async with PrometheusServer(scrape_interval="1s") as prom:
        environ = {**os.environ, "AFTERSHOCK_PROMETHEUS_URL": prom.url}
        text = host_experiment(
            "prometheus-restart", [partition("refuse", owned_proxy(), duration)],
            slos=[slo("up", "vector(0)", "<", 1)], steadyState=["up"],
            monitor={"prometheus": "{{ env.AFTERSHOCK_PROMETHEUS_URL }}", "interval": "300ms", "timeout": "1s",
                     "onError": "rollback", "errorTolerance": tolerance},
            recovery={"timeout": "20s"})
        loaded = load_text(text, source="prometheus-restart.yaml", environ=environ)
        engine = Engine(EngineSettings(state_dir=tmp_path / "state", environ=environ))
        events: list[ev.RunEvent] = []
        injected, failing = asyncio.Event(), asyncio.Event()

        def listen(event: ev.RunEvent) -> None:
            events.append(event)
            if isinstance(event, ev.FaultInjected):
                injected.set()
            if sum(1 for e in events if isinstance(e, ev.SloSampled)
                   and any(v.status in FAILED for v in e.tick.verdicts)) >= 2:
                failing.set()  # two failed polls seen: the run noticed the outage

        engine.subscribe(listen)
        run_id = await engine.launch(loaded)
        await asyncio.wait_for(injected.wait(), 60)
        assert prom.pid is not None
        os.kill(prom.pid, signal.SIGKILL)
        await asyncio.to_thread(prom.stop)
        await asyncio.wait_for(failing.wait(), 30)  # the run saw the outage
        await asyncio.to_thread(prom.start)  # same port, same data
        final = await asyncio.wait_for(engine.wait(run_id), 120)
        store = StateStore(tmp_path / "state")
        assert store.faults(live_only=True) == []
        journal = store.read_journal(run_id)
        store.close()
        assert journal["aftershock"]["verdict"] == final.verdict
    return events, final


async def test_outage_shorter_than_the_tolerance_is_ridden_out(tmp_path: Path) -> None:
    events, final = await _outage_mid_run(tmp_path, tolerance=1000, duration="8s")
    assert not [e for e in events if isinstance(e, ev.PolicyFired)]
    assert final.verdict == "passed", final.reason
    removed = [e for e in events if isinstance(e, ev.FaultRemoved)]
    assert [e.reason for e in removed] == ["end"]


async def test_outage_beyond_the_tolerance_rolls_back_and_recovery_is_verified_after_restart(tmp_path: Path) -> None:
    events, final = await _outage_mid_run(tmp_path, tolerance=2, duration="60s")
    fired = [e for e in events if isinstance(e, ev.PolicyFired)]
    assert [(f.policy, f.action, f.evidence["status"]) for f in fired] == [("monitor-on-error", "rollback",
                                                                              "unavailable")]
    assert [e.reason for e in events if isinstance(e, ev.FaultRemoved)] != []
    assert final.verdict == "deviated", final.reason
