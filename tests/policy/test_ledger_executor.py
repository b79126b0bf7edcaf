"""Ledger, executor and recording actuators: idempotency, end-of-run plan, keep, revert order."""

from __future__ import annotations

from chaos.policy.actions import (
    ActionOutcome,
    CircuitBreak,
    Decision,
    Evidence,
    RemoveFaults,
    ShrinkFault,
    WeightTarget,
)
from chaos.policy.actuators import Actuators, RecordingActuators, RoutingDegrader
from chaos.policy.executor import apply, apply_all, revert_all
from chaos.policy.ledger import Ledger, final_reverts

from .helpers import decider, tick

DEGRADE = {"name": "fallback", "when": {"slo": "errors"}, "action": "degrade",
           "with": {"http": {"url": "http://admin:8080/fallback"}, "revert": {"url": "http://admin:8080/primary"}}}
CB = {"name": "isolate", "when": {"slo": "p95"}, "action": "circuit-break",
      "with": {"service": "gw", "openFor": "10s", "halfOpenProbes": 1}}
SHRINK = {"name": "smaller", "when": {"slo": "p95"}, "action": "shrink", "with": {"fault": "f1", "percent": 10}}
EV = Evidence("p95", "breached", 0.9, "< 0.8", 0.0, "test")
GW = WeightTarget("gw")


def world() -> tuple[RecordingActuators, Actuators, Ledger]:
    rec = RecordingActuators.with_faults("f1", "f2")
    ledger = Ledger()
    for f in ("f1", "f2"):
        ledger.record_injection(f)
    return rec, Actuators.of(rec), ledger


async def test_end_of_run_undoes_everything_faults_first_then_newest_mitigation_first() -> None:
    rec, acts, ledger = world()
    d = decider(DEGRADE, CB, SHRINK)
    step = d.on_tick(tick(0, p95="breached", errors="breached"))
    outcomes = await apply_all(step.decisions, acts, ledger, at=0)
    assert all(o.ok for o in outcomes)
    assert rec.weights == {"service:-/gw": 0} and rec.faults["f1"] == {"percent": 10.0}
    assert set(rec.degrades) == {"fallback#1"}
    plan = final_reverts(ledger)
    assert [(r.kind, r.target) for r in plan] == [
        ("remove-fault", "fault:f2"), ("remove-fault", "fault:f1"),
        ("restore-weight", "service:-/gw"), ("revert-degrade", "degrade:POST http://admin:8080/fallback")]
    assert plan[1].covers == ("inject:f1", "smaller#1") and plan[2].weight == 100
    await revert_all(plan, acts, ledger)
    assert rec.faults == {} and rec.weights == {"service:-/gw": 100} and rec.degrades == {}
    assert final_reverts(ledger) == []
    # running the plan again does nothing
    before = list(rec.calls)
    assert all(o.skipped for o in await revert_all(plan, acts, ledger))
    assert rec.calls == before


async def test_breaker_close_restores_weight_during_run_so_nothing_left_at_end() -> None:
    rec, acts, ledger = world()
    d = decider(CB)
    for t, status in ((0, "breached"), (10, "ok"), (11, "ok")):
        await apply_all(d.on_tick(tick(t, p95=status)).decisions, acts, ledger, at=t)  # type: ignore[arg-type]
    assert d.breaker_phases() == {"isolate": "closed"}
    assert [c.args["weight"] for c in rec.calls if c.op == "circuit-break"] == [0, 10, 100]
    assert [r.kind for r in final_reverts(ledger)] == ["remove-fault", "remove-fault"]
    weight = next(e for e in ledger.entries if e.kind == "weight")
    assert weight.covers == ["isolate#1", "isolate.breaker#1.half-open", "isolate.breaker#2.closed"]


async def test_keep_is_flagged_loudly_and_not_reverted() -> None:
    rec, acts, ledger = world()
    d = decider({**DEGRADE, "keep": True}, {**CB, "keep": True})
    await apply_all(d.on_tick(tick(0, p95="breached", errors="breached")).decisions, acts, ledger)
    plan = final_reverts(ledger)
    kept = [r for r in plan if r.keep]
    assert [r.target for r in kept] == ["service:-/gw", "degrade:POST http://admin:8080/fallback"]
    assert all(r.summary().startswith("KEPT ") and "keep: true" in r.note for r in kept)
    outcomes = await revert_all(plan, acts, ledger)
    assert [o.note.startswith("KEPT") for o in outcomes] == [False, False, True, True]
    assert rec.weights == {"service:-/gw": 0} and set(rec.degrades) == {"fallback#1"} and rec.faults == {}


async def test_http_degrade_without_revert_is_kept_with_a_reason() -> None:
    _, acts, ledger = world()
    no_revert = {**DEGRADE, "with": {"http": {"url": "http://admin:8080/fallback"}}}
    await apply_all(decider(no_revert).on_tick(tick(0, errors="breached")).decisions, acts, ledger)
    (kept,) = [r for r in final_reverts(ledger) if r.kind == "revert-degrade"]
    assert kept.keep and "no with.revert" in kept.note


async def test_applying_twice_does_nothing_twice_even_after_restart() -> None:
    rec, acts, ledger = world()
    decision = Decision("smaller#1", "smaller", ShrinkFault("f1", (("percent", 10.0),)), EV)
    assert (await apply(decision, acts, ledger)).ok
    again = await apply(decision, acts, ledger)
    assert again.skipped and again.ok
    # a restarted process: fresh actuator objects, journaled ledger
    fresh = RecordingActuators.with_faults("f1", "f2")
    assert (await apply(decision, Actuators.of(fresh), ledger)).skipped
    assert fresh.calls == [] and rec.ids() == ["smaller#1"]
    # and the actuator itself ignores a repeated id
    await rec.shrink_fault("smaller#1", "f1", {"percent": 50})
    assert rec.faults["f1"] == {"percent": 10.0}


async def test_failures_become_outcomes_and_are_not_retried() -> None:
    rec, acts, ledger = world()
    rec.fail_next("circuit-break", "admin endpoint refused")
    decision = Decision("isolate#1", "isolate", CircuitBreak(GW, 0, "open"), EV)
    outcome = await apply(decision, acts, ledger)
    assert outcome == ActionOutcome("isolate#1", ok=False, error="circuit-break isolate#1: admin endpoint refused")
    assert ledger.failure("isolate#1") and (await apply(decision, acts, ledger)).skipped
    assert final_reverts(ledger)[0].kind == "remove-fault" and ledger.open_weight(GW) is None


async def test_missing_capability_fails_clearly() -> None:
    ledger = Ledger()
    outcome = await apply(Decision("x#1", "x", RemoveFaults(("f1",)), EV), Actuators(), ledger)
    assert not outcome.ok and "no fault remover" in outcome.error


async def test_routing_degrader_without_kubernetes_backend() -> None:
    rec, _, ledger = world()
    acts = Actuators(remover=rec, degrader=RoutingDegrader(http=rec))
    kube = {**DEGRADE, "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags", "data": {"a": "b"}}}}}
    (decision,) = decider(kube).on_tick(tick(0, errors="breached")).decisions
    outcome = await apply(decision, acts, ledger)
    assert not outcome.ok and "no Kubernetes degrade actuator" in outcome.error
