"""The run lifecycle as a pure state machine: verdict table, event order, cleanup order, timings.

Driven by a scripted decider and scripted outcomes (``tests.engine.scripted``); the last tests use
the real policy bridge (``chaos.engine.policy_bridge``), still without any I/O.
"""

from __future__ import annotations

import pytest

from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.policy_bridge import PolicyBridge
from chaos.loading import load_text

from .scripted import BREACH, EXPERIMENT, FAULT, OK, Dec, Rev, Script, ScriptedDecider, experiment, play, tick

ROLLBACK = Dec("fast-rollback#1", "rollback", policy="fast-rollback")
DEGRADE = Dec("fallback#1", "degrade", policy="fallback", target="POST /fallback")


def rollback_at(n: int) -> ScriptedDecider:
    return ScriptedDecider({n: [ROLLBACK]})


# ------------------------------------------------------------------------------- verdict table


def test_passed_when_nothing_breaches() -> None:
    played = play(experiment(), ScriptedDecider(), Script(ticks=[OK, OK, OK]))
    assert (played.final.verdict, played.final.exit_code) == ("passed", 0)
    assert played.final.timings == {}
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["end"]


def test_deviated_when_a_policy_recovers() -> None:
    played = play(experiment(), rollback_at(2), Script(ticks=[OK, BREACH, OK]))
    final = played.final
    assert (final.verdict, final.exit_code) == ("deviated", 1)
    assert "p95 breached" in final.reason
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["rollback"]
    # the loop stops once no fault is live: the third tick is never asked for
    assert len(played.of(ev.SloSampled)) == 2
    assert set(final.timings) == {"breach_to_action_s", "breach_to_fault_removed_s", "breach_to_slo_recovered_s"}
    assert final.timings["breach_to_fault_removed_s"] == pytest.approx(0.05)


def test_failed_when_the_steady_state_does_not_return() -> None:
    played = play(experiment(), rollback_at(1), Script(ticks=[BREACH], steady_after=False))
    assert (played.final.verdict, played.final.exit_code) == ("failed", 1)
    assert played.final.reason == "steady state did not return after recovery"
    after = played.of(ev.SteadyStateChecked)[-1]
    assert (after.phase, after.holds) == ("after", False)
    assert not played.of(ev.SteadyStateRestored)


def test_failed_when_a_failed_action_is_not_resolved() -> None:
    decider = ScriptedDecider({1: [DEGRADE]})
    played = play(experiment(), decider, Script(ticks=[BREACH, BREACH, OK], apply_fail=frozenset({"fallback#1"})))
    assert played.final.verdict == "failed"
    assert "fallback#1 failed" in played.final.reason
    assert decider.failed_ids == ["fallback#1"]
    failed = played.of(ev.ActionFailed)
    assert [(f.decision_id, f.error) for f in failed] == [("fallback#1", "HTTP 500")]
    assert not played.of(ev.ActionApplied)


def test_failed_action_then_successful_rollback_is_deviated() -> None:
    escalation = Dec("fallback#1.on-failure", "rollback", policy="fallback")
    decider = ScriptedDecider({1: [DEGRADE]}, escalations={"fallback#1": [escalation]})
    # the decider escalates on the tick after the failure
    played = play(experiment(), decider, Script(ticks=[BREACH, BREACH, OK], apply_fail=frozenset({"fallback#1"})))
    assert played.final.verdict == "deviated", played.final.reason
    assert played.index(ev.ActionFailed, decision_id="fallback#1") \
        < played.index(ev.PolicyFired, decision_id="fallback#1.on-failure") \
        < played.index(ev.FaultRemoved, reason="rollback") \
        < played.index(ev.ActionApplied, decision_id="fallback#1.on-failure")
    assert decider.applied_ids == ["fallback#1.on-failure"]


def test_failed_rollback_then_later_rollback_is_deviated() -> None:
    first, second = ROLLBACK, Dec("fast-rollback#2", "rollback", policy="fast-rollback")
    decider = ScriptedDecider({1: [first], 2: [second]})
    played = play(experiment(), decider, Script(ticks=[BREACH, BREACH], remove_fail_once=frozenset({"delay"})))
    assert played.final.verdict == "deviated", played.final.reason
    assert [e.decision_id for e in played.of(ev.ActionFailed)] == ["fast-rollback#1"]
    assert [e.decision_id for e in played.of(ev.ActionApplied)] == ["fast-rollback#2"]
    # one FaultRemoved, for the removal that worked, and its time is the timing's
    removed = played.of(ev.FaultRemoved)
    assert len(removed) == 1
    breach_at = played.of(ev.SloSampled)[0].at
    assert played.final.timings["breach_to_fault_removed_s"] == round(removed[0].at - breach_at, 3)
    assert played.final.timings["breach_to_action_s"] == round(played.of(ev.ActionApplied)[0].at - breach_at, 3)


def test_aborted_by_the_user_at_a_tick() -> None:
    decider = ScriptedDecider()
    played = play(experiment(), decider, Script(ticks=[OK, "abort", OK]))
    assert (played.final.verdict, played.final.exit_code) == ("aborted", 130)
    assert played.final.reason == "user abort"
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["abort"]
    assert "AwaitSteady" not in played.step_kinds()
    assert decider.ticks == 1


def test_aborted_by_an_abort_policy() -> None:
    decider = ScriptedDecider({2: [Dec("stop#1", "abort", policy="stop"), DEGRADE]})
    played = play(experiment(), decider, Script(ticks=[OK, BREACH, OK]))
    assert (played.final.verdict, played.final.exit_code) == ("aborted", 130)
    assert played.final.reason == "policy stop aborted the run"
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["abort"]
    # the decisions after the abort in the same tick are not carried out
    assert [e.decision_id for e in played.of(ev.PolicyFired)] == ["stop#1"]
    assert "Apply" not in played.step_kinds()


def test_aborted_while_waiting_for_recovery() -> None:
    played = play(experiment(), rollback_at(1), Script(ticks=[BREACH], steady_after=False, aborted_in_recovery=True))
    assert played.final.verdict == "aborted"


def test_unsteady_injects_nothing() -> None:
    played = play(experiment(), ScriptedDecider(), Script(steady_before=False))
    assert (played.final.verdict, played.final.exit_code) == ("unsteady", 1)
    assert "p95" in played.final.reason
    assert played.step_kinds() == ["Preflight", "CheckSteady"]
    assert played.kinds() == ["RunStarted", "PreflightPassed", "SteadyStateChecked", "RunFinished"]


def test_invalid_when_preflight_refuses() -> None:
    played = play(experiment(), ScriptedDecider(), Script(preflight="refused"))
    assert (played.final.verdict, played.final.exit_code) == ("invalid", 2)
    assert played.step_kinds() == ["Preflight"]
    assert played.kinds() == ["RunStarted", "PreflightRefused", "RunFinished"]
    assert played.of(ev.PreflightRefused)[0].details == ("why",)


def test_error_when_the_platform_fails_preflight() -> None:
    played = play(experiment(), ScriptedDecider(), Script(preflight="error"))
    assert (played.final.verdict, played.final.exit_code) == ("error", 3)
    assert played.step_kinds() == ["Preflight"]


def test_error_when_injection_fails_and_the_half_applied_fault_is_removed() -> None:
    decider = ScriptedDecider()
    played = play(experiment(), decider, Script(inject_fail=frozenset({"delay"})))
    assert (played.final.verdict, played.final.exit_code) == ("error", 3)
    assert "injection of delay failed: proxy refused" in played.final.reason
    assert played.step_kinds() == ["Preflight", "CheckSteady", "Record", "Inject", "Remove"]
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["error"]
    assert not played.of(ev.FaultInjected)
    assert decider.injected_faults == []


def test_second_injection_failing_removes_the_first_fault_too() -> None:
    played = play(experiment("a", "b"), ScriptedDecider(), Script(inject_fail=frozenset({"b"})))
    assert played.final.verdict == "failed"
    remove = [s for s in played.steps if isinstance(s, rm.Remove)]
    assert [s.faults for s in remove] == [("b", "a")]


def test_dry_run_injects_nothing_and_passes() -> None:
    played = play(experiment(), ScriptedDecider(), Script(), dry_run=True)
    assert played.final.verdict == "passed" and "dry run" in played.final.reason
    assert played.step_kinds() == ["Preflight"]


@pytest.mark.parametrize(("verdict", "code"), sorted(rm.EXIT_CODES.items()))
def test_every_verdict_has_the_documented_exit_code(verdict: str, code: int) -> None:
    documented = {"passed": 0, "deviated": 1, "failed": 1, "unsteady": 1, "aborted": 130, "invalid": 2, "error": 3}
    assert documented[verdict] == code


# ------------------------------------------------------------------------------- order of events


def test_order_of_events_of_a_deviated_run() -> None:
    played = play(experiment(), rollback_at(2), Script(ticks=[OK, BREACH]))
    assert played.kinds() == ["RunStarted", "PreflightPassed", "SteadyStateChecked", "FaultRecorded",
                              "FaultInjected", "PolicyFired", "FaultRemoved", "ActionApplied",
                              "SteadyStateChecked", "SteadyStateRestored", "RunFinished"]
    assert [e.phase for e in played.of(ev.SteadyStateChecked)] == ["before", "after"]
    assert played.step_kinds() == ["Preflight", "CheckSteady", "Record", "Inject", "NextTick", "NextTick",
                                   "Remove", "AwaitSteady"]
    times = [e.at for e in played.events]
    assert times == sorted(times)
    assert {e.run_id for e in played.events} == {"run1"}


def test_every_fault_is_recorded_before_it_is_injected() -> None:
    played = play(experiment("a", "b", "c"), ScriptedDecider(), Script(ticks=[OK]))
    steps = [(type(s).__name__, getattr(s, "fault", None)) for s in played.steps
             if isinstance(s, rm.Record | rm.Inject)]
    assert steps == [("Record", "a"), ("Inject", "a"), ("Record", "b"), ("Inject", "b"), ("Record", "c"),
                     ("Inject", "c")]
    # removal at the end: newest first, in one step
    assert [s.faults for s in played.steps if isinstance(s, rm.Remove)] == [("c", "b", "a")]


def test_faults_are_removed_before_reverts() -> None:
    decider = ScriptedDecider({1: [DEGRADE]}, reverts=[Rev("revert:fallback#1")])
    played = play(experiment(), decider, Script(ticks=[BREACH, OK, OK]))
    assert played.final.verdict == "deviated"
    kinds = played.step_kinds()
    assert kinds.index("Remove") < kinds.index("ApplyRevert") < kinds.index("AwaitSteady")
    assert played.index(ev.ActionApplied, decision_id="fallback#1") < played.index(ev.FaultRemoved, reason="end") \
        < played.index(ev.Reverted, decision_id="revert:fallback#1") \
        < played.index(ev.SteadyStateChecked, phase="after")
    # the run lasts the whole window: the fault ends on its own
    assert played.of(ev.FaultRemoved)[0].at >= played.of(ev.FaultInjected)[0].deadline


def test_faults_are_removed_before_reverts_on_abort() -> None:
    decider = ScriptedDecider({1: [DEGRADE]}, reverts=[Rev("revert:fallback#1")])
    played = play(experiment(), decider, Script(ticks=[BREACH, "abort"]))
    assert played.final.verdict == "aborted"
    assert played.index(ev.FaultRemoved, reason="abort") < played.index(ev.Reverted)


def test_user_rollback_removes_faults_and_checks_recovery() -> None:
    played = play(experiment(), ScriptedDecider(), Script(ticks=[OK, "rollback"]))
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["rollback"]
    assert "AwaitSteady" in played.step_kinds()
    assert played.final.verdict == "passed"


def test_keep_true_reverts_are_reported_as_kept() -> None:
    decider = ScriptedDecider({1: [DEGRADE]}, reverts=[Rev("revert:fallback#1", keep=True)])
    played = play(experiment(), decider, Script(ticks=[BREACH]))
    reverted = played.of(ev.Reverted)
    assert [(r.decision_id, r.kept) for r in reverted] == [("revert:fallback#1", True)]
    warnings = [e.message for e in played.of(ev.RunLog) if e.level == "warning"]
    assert warnings == ["KEPT (keep: true): KEPT POST /fallback: keep: true was NOT reverted"]
    assert played.final.verdict == "deviated"


def test_circuit_break_open_then_closed_by_the_weight_revert() -> None:
    breaker = Dec("isolate#1", "circuit-break", policy="isolate", target="payment-gateway")
    decider = ScriptedDecider({1: [breaker]}, reverts=[Rev("revert:isolate#1", action="restore-weight",
                                                         target="service:-/payment-gateway", weight=100)])
    restored = rm.RestoredWeight(policy="isolate", service="payment-gateway", weight=100)
    played = play(experiment(), decider, Script(ticks=[BREACH, OK], restored={"revert:isolate#1": restored}))
    states = [(b.state, b.weight, b.service) for b in played.of(ev.BreakerChanged)]
    assert states == [("open", 0, "payment-gateway"), ("closed", 100, "payment-gateway")]
    assert played.index(ev.FaultRemoved) < played.index(ev.Reverted) < played.index(ev.BreakerChanged, state="closed")
    assert played.final.verdict == "deviated"


def test_every_breaker_change_is_notified_when_the_policy_has_notify() -> None:
    text = EXPERIMENT % {"faults": FAULT % {"name": "delay", "port": 18080, "duration": "10s"}}
    text = text.rstrip("\n").replace("  monitor:", """    - name: isolate
      when: {slo: errors, consecutive: 3}
      action: circuit-break
      with: {service: payment-gateway, notify: {url: "http://127.0.0.1:9/hook"}}
  monitor:""")
    exp = load_text(text, source="unit.yaml").experiment
    breaker = Dec("isolate#1", "circuit-break", policy="isolate", target="payment-gateway")
    decider = ScriptedDecider({1: [breaker]}, reverts=[Rev("revert:isolate#1", action="restore-weight",
                                                         target="service:-/payment-gateway", weight=100)])
    restored = rm.RestoredWeight(policy="isolate", service="payment-gateway", weight=100)
    played = play(exp, decider, Script(ticks=[BREACH, OK], restored={"revert:isolate#1": restored},
                                       apply_fail=frozenset({"isolate.breaker-notice#2.closed"})))
    notices = [s.decision for s in played.steps if isinstance(s, rm.Apply) and s.decision.kind == "notify"]
    assert [(n.id, n.evidence.reason) for n in notices] == [
        ("isolate.breaker-notice#1.open", "breaker isolate: open (payment-gateway weight 0)"),
        ("isolate.breaker-notice#2.closed", "breaker isolate: closed (payment-gateway weight 100)")]
    # a failed notification is said, never escalated or counted against the verdict
    warnings = [e.message for e in played.of(ev.RunLog) if e.level == "warning"]
    assert any("breaker isolate: closed" in w and "failed" in w for w in warnings)
    assert played.final.verdict == "deviated"


# ------------------------------------------------------------------------------- cleanup failures


def test_final_removal_failing_is_failed_and_says_recover() -> None:
    played = play(experiment(), ScriptedDecider(), Script(ticks=[OK], remove_fail=frozenset({"delay"})))
    assert played.final.verdict == "failed"
    assert "aftershock recover" in played.final.reason
    assert not played.of(ev.FaultRemoved)  # never claimed removed
    assert any(e.level == "error" for e in played.of(ev.RunLog))


def test_abort_whose_cleanup_fails_is_failed_not_aborted() -> None:
    played = play(experiment(), ScriptedDecider(), Script(ticks=["abort"], remove_fail=frozenset({"delay"})))
    assert played.final.verdict == "failed"


def test_failed_rollback_keeps_the_fault_live_and_retries_it_at_the_end() -> None:
    played = play(experiment(), rollback_at(1), Script(ticks=[BREACH, BREACH], remove_fail_once=frozenset({"delay"})))
    assert [e.decision_id for e in played.of(ev.ActionFailed)] == ["fast-rollback#1"]
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["end"]
    # the rollback never succeeded: nothing resolved it
    assert played.final.verdict == "failed"
    assert "fast-rollback#1" in played.final.reason


def test_failed_revert_is_failed_and_not_reported_reverted() -> None:
    decider = ScriptedDecider({1: [DEGRADE]}, reverts=[Rev("revert:fallback#1")])
    played = play(experiment(), decider, Script(ticks=[BREACH], revert_fail=frozenset({"revert:fallback#1"})))
    assert played.final.verdict == "failed"
    assert "reverting revert degrade POST /fallback failed: HTTP 503" in played.final.reason
    assert not played.of(ev.Reverted)
    assert [e.decision_id for e in played.of(ev.ActionFailed)] == ["revert:fallback#1"]


def test_rollback_of_faults_no_longer_live_is_applied_with_nothing_to_remove() -> None:
    first = Dec("r#1", "rollback", faults=("a",))
    again = Dec("r#2", "rollback", faults=("a",))
    decider = ScriptedDecider({1: [first], 2: [again]})
    played = play(experiment("a", "b"), decider, Script(ticks=[BREACH, BREACH]))
    applied = {e.decision_id: e.detail for e in played.of(ev.ActionApplied)}
    assert applied == {"r#1": "removed a", "r#2": "nothing to remove: no fault of the decision is live"}
    assert [(r.fault, r.reason) for r in played.of(ev.FaultRemoved)] == [("a", "rollback"), ("b", "end")]


# ------------------------------------------------------------------------------- timings


def test_timings_from_breach_to_action_removal_and_recovery() -> None:
    degrade = DEGRADE
    decider = ScriptedDecider({2: [degrade]}, reverts=[Rev("revert:fallback#1")])
    played = play(experiment(), decider, Script(ticks=[OK, BREACH, tick(p95="breached", errors="ok"), OK]))
    t = played.final.timings
    breach_at = played.of(ev.SloSampled)[1].at
    applied_at = played.of(ev.ActionApplied)[0].at
    recovered_at = played.of(ev.SloSampled)[3].at
    removed_at = played.of(ev.FaultRemoved)[0].at
    assert t == {"breach_to_action_s": round(applied_at - breach_at, 3),
                 "breach_to_fault_removed_s": round(removed_at - breach_at, 3),
                 "breach_to_slo_recovered_s": round(recovered_at - breach_at, 3)}


# ------------------------------------------------------------------------------- with the real policy bridge

BRIDGED = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: bridged}
spec:
  target: {type: host}
  faults:
    - name: delay
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080"}}
      latency: 500ms
      duration: 30s
  slos:
    - {name: p95, query: q_p95, objective: {op: "<", value: 0.3}}
    - {name: errors, query: q_errors, objective: {op: "<", value: 0.05}}
  steadyState: [p95, errors]
  policies:
%s
  monitor: {prometheus: "http://127.0.0.1:9", interval: 1s, onError: rollback, errorTolerance: 3}
"""


def bridged(policies: str) -> tuple[object, PolicyBridge]:
    exp = load_text(BRIDGED % policies, source="bridged.yaml").experiment
    return exp, PolicyBridge(exp)


def test_bridge_rollback_policy_deviated() -> None:
    exp, bridge = bridged("    - {name: fast-rollback, when: {slo: p95}, action: rollback}")
    played = play(exp, bridge, Script(ticks=[OK, BREACH, OK]))  # type: ignore[arg-type]
    assert played.final.verdict == "deviated"
    fired = played.of(ev.PolicyFired)
    assert [(f.policy, f.action, f.target) for f in fired] == [("fast-rollback", "rollback", "delay")]
    assert fired[0].evidence["slo"] == "p95"


def test_bridge_failed_degrade_escalates_to_rollback_on_the_next_tick() -> None:
    exp, bridge = bridged("""    - name: fallback
      when: {slo: errors}
      action: degrade
      with:
        http: {method: POST, url: "http://127.0.0.1:9/fallback", json: {channel: backup}}
        revert: {method: POST, url: "http://127.0.0.1:9/fallback", json: {channel: primary}}""")
    breach = tick(p95="ok", errors="breached")
    played = play(exp, bridge, Script(ticks=[breach, breach, OK],  # type: ignore[arg-type]
                                      apply_fail=frozenset({"fallback#1"})))
    assert [(f.decision_id, f.action) for f in played.of(ev.PolicyFired)] == \
        [("fallback#1", "degrade"), ("fallback#1.on-failure", "rollback")]
    assert played.final.verdict == "deviated", played.final.reason
    assert not played.of(ev.Reverted)  # the degrade never applied: nothing to revert


def test_bridge_monitor_unavailable_rolls_back_and_cannot_verify_recovery() -> None:
    exp, bridge = bridged("    - {name: fast-rollback, when: {slo: p95}, action: rollback}")
    down = tick(p95="no-data", errors="no-data")
    unavailable = tick(p95="unavailable", errors="unavailable", monitor="unavailable")
    played = play(exp, bridge, Script(ticks=[OK, down, down, unavailable],  # type: ignore[arg-type]
                                      steady_after=False))
    fired = played.of(ev.PolicyFired)
    assert [(f.policy, f.action, f.evidence["slo"], f.evidence["status"]) for f in fired] == \
        [("monitor-on-error", "rollback", "monitor", "unavailable")]
    assert fired[0].at == played.of(ev.SloSampled)[3].at  # on the tick the tolerance ran out
    assert [r.reason for r in played.of(ev.FaultRemoved)] == ["rollback"]
    assert played.final.verdict == "failed"


def test_unverifiable_steady_state_after_says_so() -> None:
    exp, bridge = bridged("    - {name: fast-rollback, when: {slo: p95}, action: rollback}")
    played = play(exp, bridge, Script(ticks=[BREACH], steady_after=False,  # type: ignore[arg-type]
                                      after_status="unavailable"))
    assert played.final.verdict == "failed"
    assert played.final.reason.startswith("the steady state after recovery could not be verified: p95 unavailable")
