"""Prometheus killed mid-run (engine in-process, real Prometheus, real demo services, a real fault).

With ``monitor.onError: rollback`` and ``errorTolerance: 3``, the monitor is declared unavailable
on the third failed poll after Prometheus died; the implicit ``monitor-on-error`` policy rolls the
fault back on that tick. The steady state after recovery cannot be verified without Prometheus,
so the verdict is ``failed`` (never ``passed``), with a reason that says so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from harness.experiments import DEMO_PROXY, delay, host_experiment, slo

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.demo.stack import DemoStack
from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_text
from chaos.slo.monitoring import Monitor

pytestmark = pytest.mark.e2e

INTERVAL_S = 0.5
TOLERANCE = 3
ERROR_RATE = ('(sum(rate(http_requests_total{service="order",code=~"5.."}[5s])) or vector(0)) '
              '/ sum(rate(http_requests_total{service="order"}[5s]))')
EXPERIMENT = host_experiment(
    "prometheus-dies", [delay("slow-payments", DEMO_PROXY, "60s", latency="20ms")],
    slos=[slo("error-rate", ERROR_RATE, "<", 0.05)], steadyState=["error-rate"],
    policies=[{"name": "fast-rollback", "when": {"slo": "error-rate"}, "action": "rollback"}],
    monitor={"prometheus": "{{ env.AFTERSHOCK_PROMETHEUS_URL }}", "interval": f"{int(INTERVAL_S * 1000)}ms",
             "onError": "rollback", "errorTolerance": TOLERANCE},
    recovery={"timeout": "3s"})


async def settled(loaded_monitor: Monitor, slos: list, timeout_s: float = 45.0) -> None:  # type: ignore[type-arg]
    """Bounded wait until Prometheus has the samples for the steady state (1 s scrapes: a poll)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tick = await loaded_monitor.evaluate_now(slos)
        if tick.verdicts and all(v.holds for v in tick.verdicts):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the steady state never settled")


async def test_prometheus_killed_mid_fault_rolls_back_after_error_tolerance(tmp_path: Path, audit: object) -> None:
    async with DemoStack(load_rate=20.0) as stack:
        prom = PrometheusServer(stack.scrape_targets(), scrape_interval="1s")
        async with prom:
            environ = {**os.environ, "AFTERSHOCK_PROMETHEUS_URL": prom.url, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
                       "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                       "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token}
            loaded = load_text(EXPERIMENT, source="prometheus-dies.yaml", environ=environ)
            exp = loaded.experiment
            async with Monitor(exp.spec.monitor) as monitor:
                await settled(monitor, list(exp.spec.slos))

            engine = Engine(EngineSettings(state_dir=tmp_path / "state", environ=environ))
            events: list[ev.RunEvent] = []
            injected = asyncio.Event()

            def listen(event: ev.RunEvent) -> None:
                events.append(event)
                if isinstance(event, ev.FaultInjected):
                    injected.set()

            engine.subscribe(listen)
            run_id = await engine.launch(loaded)
            await asyncio.wait_for(injected.wait(), 30)
            assert prom.pid is not None
            os.kill(prom.pid, signal.SIGKILL)
            killed_at = time.time()
            await asyncio.to_thread(prom.stop)
            final = await asyncio.wait_for(engine.wait(run_id), 60)

            async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
                assert await admin.list_faults() == []

    fired = [e for e in events if isinstance(e, ev.PolicyFired)]
    assert [(f.policy, f.action, f.evidence["slo"], f.evidence["status"]) for f in fired] == \
        [("monitor-on-error", "rollback", "monitor", "unavailable")]
    # it fired on the tick whose monitor verdict counted errorTolerance failed polls, not before
    # the monitor's ticks (the steady-state checks after a rollback also chart samples, without a
    # monitor verdict: they are not the monitor counting failed polls)
    ticks = [e for e in events if isinstance(e, ev.SloSampled) and e.at > killed_at
             and any(v.slo == "monitor" for v in e.tick.verdicts)]
    monitor_polls = [next(v.failed_polls for v in t.tick.verdicts if v.slo == "monitor") for t in ticks]
    firing_tick = next(i for i, t in enumerate(ticks) if t.at == fired[0].at)
    print(f"Prometheus killed → rollback fired {fired[0].at - killed_at:.3f} s; failed polls per tick "
          f"{monitor_polls[:firing_tick + 1]}; verdict {final.verdict}: {final.reason}")
    assert monitor_polls[firing_tick] >= TOLERANCE
    assert all(p < TOLERANCE for p in monitor_polls[:firing_tick]), monitor_polls
    assert firing_tick <= TOLERANCE  # at most one tick already in flight when Prometheus died
    assert fired[0].at - killed_at <= (TOLERANCE + 1) * INTERVAL_S + 1.0

    removed = [e for e in events if isinstance(e, ev.FaultRemoved)]
    assert [(r.fault, r.reason) for r in removed] == [("slow-payments", "rollback")]
    after = next(e for e in events if isinstance(e, ev.SteadyStateChecked) and e.phase == "after")
    assert after.holds is False and {v.status for v in after.verdicts} == {"unavailable"}
    assert (final.verdict, final.exit_code) == ("failed", 1)
    assert final.reason.startswith("the steady state after recovery could not be verified: error-rate unavailable")
    assert final.timings["breach_to_fault_removed_s"] <= 1.0
    store = StateStore(tmp_path / "state")
    assert store.faults(live_only=True) == []
    assert store.read_journal(run_id)["status"] == "failed"
    store.close()
