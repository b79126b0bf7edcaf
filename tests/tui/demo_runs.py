"""A run built event by event (the latency demo: steady, 500 ms injected, P95 breaches, rollback,
recovery) for the report tests, which check the journal and report built from known events.
Imported by ``test_report_and_show`` (tests/tui is on sys.path); the screens' tests run the real
engine over ``world.py`` instead."""

from __future__ import annotations

from chaos.engine import events as ev
from chaos.slo.verdicts import Tick, Verdict

T0 = 1_800_000_000.0
RUN = "a1448eff"
P95_QUERY = "histogram_quantile(0.95, ...)"


def verdict(slo: str, value: float | None, status: str, objective: str, at: float) -> Verdict:
    return Verdict(slo=slo, status=status, value=value, objective=objective, query=P95_QUERY,  # type: ignore[arg-type]
                   eval_time=at)


def tick(at: float, p95: float, status: str, failed_polls: int = 0) -> ev.SloSampled:
    return ev.SloSampled(run_id=RUN, at=at, tick=Tick(at, (
        verdict("checkout-p95", p95, status, "< 0.3", at),
        verdict("error-rate", 0.0, "ok", "< 0.05", at),
        verdict("monitor", float(failed_polls), "ok", "< 3 failed polls", at))))


def latency_run(finished: bool = True) -> list[ev.RunEvent]:
    """The latency demo: steady, 500 ms injected, P95 breaches, rollback, recovery."""
    events: list[ev.RunEvent] = [
        ev.RunStarted(run_id=RUN, at=T0, experiment="demo-payment-latency", source="demo.yaml", target="host",
                      faults=("payment-delay",), slos=("checkout-p95", "error-rate")),
        ev.PreflightPassed(run_id=RUN, at=T0 + 0.1, targets=("proxy 127.0.0.1:18080 → payment-gateway",)),
        ev.SteadyStateChecked(run_id=RUN, at=T0 + 0.2, phase="before", holds=True,
                              verdicts=(verdict("checkout-p95", 0.04, "ok", "< 0.3", T0 + 0.2),)),
        ev.FaultInjected(run_id=RUN, at=T0 + 0.3, fault="payment-delay", fault_type="network-delay",
                         description="proxy 127.0.0.1:18080 → payment-gateway: latency 500ms", deadline=T0 + 40),
    ]
    p95 = [0.04, 0.05, 0.31, 0.55, 0.58, 0.59]
    for i, value in enumerate(p95):
        status = "ok" if value < 0.3 else ("pending" if i < 4 else "breached")
        events.append(tick(T0 + 0.5 + 0.5 * i, value, status))
    fired = T0 + 3.0
    events += [
        ev.PolicyFired(run_id=RUN, at=fired, decision_id="fast-rollback#1", policy="fast-rollback",
                       action="rollback", target="payment-delay",
                       evidence={"slo": "checkout-p95", "value": 0.59, "objective": "< 0.3", "status": "breached"}),
        ev.FaultRemoved(run_id=RUN, at=fired + 0.05, fault="payment-delay", reason="rollback"),
        ev.ActionApplied(run_id=RUN, at=fired + 0.05, decision_id="fast-rollback#1", action="rollback",
                         detail="removed payment-delay"),
    ]
    if not finished:
        return events
    events += [
        ev.SteadyStateChecked(run_id=RUN, at=T0 + 8.0, phase="after", holds=True,
                              verdicts=(verdict("checkout-p95", 0.04, "ok", "< 0.3", T0 + 8.0),
                                        verdict("error-rate", 0.0, "ok", "< 0.05", T0 + 8.0))),
        ev.SteadyStateRestored(run_id=RUN, at=T0 + 8.0, seconds=4.9),
        ev.RunFinished(run_id=RUN, at=T0 + 8.0, verdict="deviated", exit_code=1,
                       reason="SLO checkout-p95 breached during the fault; recovered"),
    ]
    return events
