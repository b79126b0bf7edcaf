"""Decider behaviour: firing per episode, overrides, onError, dominance, escalation, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import InvalidExperiment
from chaos.loading import load_file
from chaos.policy.actions import Abort, ActionOutcome, Degrade, Notify, RemoveFaults, ShrinkFault
from chaos.policy.decisions import Decider, on_error_policy

from .helpers import config, decider, slo, tick

ROLLBACK = {"name": "fast-rollback", "when": {"slo": "p95"}, "action": "rollback"}
DEGRADE = {"name": "fallback", "when": {"slo": "errors"}, "action": "degrade",
           "with": {"http": {"url": "http://admin:8080/fallback", "json": {"channel": "backup"}},
                    "revert": {"url": "http://admin:8080/fallback", "json": {"channel": "primary"}}}}
SHRINK = {"name": "smaller", "when": {"slo": "p95"}, "action": "shrink",
          "with": {"fault": "f1", "percent": 10}}
NOTIFY = {"name": "page", "when": {"slo": "p95"}, "action": "notify", "with": {"url": "http://hooks/x"}}


def ids(step: object) -> list[str]:
    return [d.id for d in step.decisions]  # type: ignore[attr-defined]


def test_fires_once_per_episode_and_rearms_on_ok() -> None:
    d = decider(DEGRADE)
    assert ids(d.on_tick(tick(0, errors="pending"))) == []
    first = d.on_tick(tick(1, errors="breached")).decisions
    assert [x.id for x in first] == ["fallback#1"]
    assert isinstance(first[0].action, Degrade) and first[0].evidence.status == "breached"
    assert first[0].evidence.series[0].labels == {"service": "order"}
    for t in (2, 3, 4):
        assert ids(d.on_tick(tick(t, errors="breached"))) == []
    assert ids(d.on_tick(tick(5, errors="no-data"))) == []  # no-data is not a recovery
    assert ids(d.on_tick(tick(6, errors="breached"))) == []
    assert ids(d.on_tick(tick(7, errors="ok"))) == []
    assert ids(d.on_tick(tick(8, errors="breached"))) == ["fallback#2"]


def test_policy_consecutive_and_for_override_count_raw_breaches() -> None:
    # SLO says 5 consecutive; the policy wants 2 ticks and 3 s, counted over pending/breached
    d = decider({**DEGRADE, "when": {"slo": "errors", "consecutive": 2, "for": "3s"}},
                slos=(slo("errors", consecutive=5),))
    assert ids(d.on_tick(tick(10, errors="pending"))) == []
    assert ids(d.on_tick(tick(11, errors="pending"))) == []  # 2 ticks, but only 1 s
    assert ids(d.on_tick(tick(12, errors="no-data"))) == []  # pauses, does not reset
    fired = d.on_tick(tick(13, errors="pending")).decisions
    assert [x.id for x in fired] == ["fallback#1"]
    assert "consecutive 2, for 3s" in fired[0].evidence.reason


def test_override_counter_resets_on_ok() -> None:
    d = decider({**DEGRADE, "when": {"slo": "errors", "consecutive": 3}})
    for t, status in enumerate(["pending", "pending", "ok", "pending", "pending"]):
        assert ids(d.on_tick(tick(t, errors=status))) == []  # type: ignore[arg-type]
    assert ids(d.on_tick(tick(5, errors="pending"))) == ["fallback#1"]


def test_for_override_uses_slo_consecutive() -> None:
    d = decider({**DEGRADE, "when": {"slo": "errors", "for": "0s"}}, slos=(slo("errors", consecutive=2),))
    assert ids(d.on_tick(tick(0, errors="pending"))) == []
    assert ids(d.on_tick(tick(1, errors="pending"))) == ["fallback#1"]


@pytest.mark.parametrize(("on_error", "kind"), [("rollback", RemoveFaults), ("abort", Abort), ("continue", None)])
def test_monitor_on_error_mapping(on_error: str, kind: type | None) -> None:
    d = decider(DEGRADE, on_error=on_error)
    out = d.on_tick(tick(0, monitor="unavailable", errors="no-data")).decisions
    if kind is None:
        assert out == ()
        assert on_error_policy("continue") is None
        return
    assert [type(x.action) for x in out] == [kind]
    assert out[0].policy == "monitor-on-error" and out[0].evidence.slo == "monitor"
    assert "connection refused" in out[0].evidence.reason
    assert out[0].action.faults == ("f1", "f2")  # type: ignore[union-attr]


def test_unavailable_status_of_an_slo_also_counts_as_monitor_down() -> None:
    d = decider(on_error="rollback")
    out = d.on_tick(tick(0, errors="unavailable")).decisions
    assert [x.id for x in out] == ["monitor-on-error#1"]


def test_policy_on_monitor_fires_and_rearms_when_polls_succeed() -> None:
    d = decider({**NOTIFY, "when": {"slo": "monitor"}})
    assert ids(d.on_tick(tick(0, monitor="unavailable"))) == ["page#1"]
    assert ids(d.on_tick(tick(1, monitor="unavailable"))) == []
    assert ids(d.on_tick(tick(2, errors="ok"))) == []
    assert ids(d.on_tick(tick(3, monitor="unavailable"))) == ["page#2"]


def test_rollback_dominates_shrink_but_notify_still_runs() -> None:
    d = decider(SHRINK, NOTIFY, ROLLBACK)
    step = d.on_tick(tick(0, p95="breached"))
    assert ids(step) == ["page#1", "fast-rollback#1"]
    assert [(s.decision.id, s.reason) for s in step.suppressed] == [("smaller#1", "rollback fast-rollback#1 dominates")]
    note = step.decisions[0].action
    assert isinstance(note, Notify) and note.also == ("fast-rollback#1: remove faults f1, f2",)
    assert step.live_faults == ()
    # the faults are gone: a later rollback has nothing to do, a shrink neither
    d.on_tick(tick(1, p95="ok"))
    step = d.on_tick(tick(2, p95="breached"))
    assert ids(step) == ["page#2"]
    assert {s.decision.id for s in step.suppressed} == {"smaller#2", "fast-rollback#2"}


def test_partial_rollback_leaves_other_faults_to_shrink() -> None:
    d = decider({**ROLLBACK, "with": {"faults": ["f2"]}}, {**SHRINK, "with": {"fault": "f1", "percent": 10}})
    step = d.on_tick(tick(0, p95="breached"))
    assert ids(step) == ["fast-rollback#1", "smaller#1"]
    assert step.decisions[0].action == RemoveFaults(("f2",))
    assert step.decisions[1].action == ShrinkFault("f1", (("percent", 10.0),))


def test_first_policy_on_a_target_wins() -> None:
    d = decider(DEGRADE, {**DEGRADE, "name": "fallback-two"})
    step = d.on_tick(tick(0, errors="breached"))
    assert ids(step) == ["fallback#1"]
    assert step.suppressed[0].decision.id == "fallback-two#1"


def test_abort_dominates_everything_but_notifications() -> None:
    d = decider(DEGRADE, NOTIFY, {"name": "stop", "when": {"slo": "p95"}, "action": "abort"}, ROLLBACK)
    step = d.on_tick(tick(0, p95="breached", errors="breached"))
    assert ids(step) == ["page#1", "stop#1"]
    assert step.decisions[1].action == Abort(("f1", "f2"))
    assert step.finished and d.finished
    assert {s.decision.id for s in step.suppressed} == {"fallback#1", "fast-rollback#1"}
    assert d.on_tick(tick(1, p95="breached")).decisions == ()


def test_escalation_after_timeout_in_tick_time() -> None:
    d = decider({**DEGRADE, "escalate": {"after": "30s", "to": "rollback"}})
    assert ids(d.on_tick(tick(100, errors="breached"))) == ["fallback#1"]
    assert ids(d.on_tick(tick(115, errors="breached"))) == []
    assert ids(d.on_tick(tick(129.9, errors="no-data"))) == []
    step = d.on_tick(tick(130, errors="breached"))
    assert ids(step) == ["fallback#1.escalate"]
    assert step.decisions[0].cause == "escalation" and step.decisions[0].action == RemoveFaults(("f1", "f2"))
    assert "within 30s" in step.decisions[0].evidence.reason
    assert ids(d.on_tick(tick(200, errors="breached"))) == []  # once per episode


def test_no_escalation_when_slo_recovers_in_time() -> None:
    d = decider({**DEGRADE, "escalate": {"after": "30s", "to": "abort"}})
    d.on_tick(tick(0, errors="breached"))
    d.on_tick(tick(20, errors="ok"))
    assert ids(d.on_tick(tick(31, errors="breached"))) == ["fallback#2"]
    assert ids(d.on_tick(tick(60, errors="breached"))) == []
    assert ids(d.on_tick(tick(61, errors="breached"))) == ["fallback#2.escalate"]


def test_escalation_borrows_the_with_block_of_the_named_action() -> None:
    d = decider({**NOTIFY, "escalate": {"after": "10s", "to": "shrink"}}, {**SHRINK, "when": {"slo": "other"}})
    d.on_tick(tick(0, p95="breached"))
    step = d.on_tick(tick(10, p95="breached"))
    assert ids(step) == ["page#1.escalate"]
    assert step.decisions[0].action == ShrinkFault("f1", (("percent", 10.0),))


def test_escalation_to_circuit_break_trips_the_breaker() -> None:
    cb = {"name": "isolate", "when": {"slo": "other"}, "action": "circuit-break", "with": {"service": "gw"}}
    d = decider({**NOTIFY, "escalate": {"after": "5s", "to": "circuit-break"}}, cb)
    d.on_tick(tick(0, p95="breached"))
    step = d.on_tick(tick(5, p95="breached"))
    assert ids(step) == ["page#1.escalate"]
    assert step.decisions[0].policy == "isolate" and step.decisions[0].cause == "escalation"
    assert d.breaker_phases() == {"isolate": "open"}


def test_unknown_escalation_target_is_refused() -> None:
    with pytest.raises(InvalidExperiment, match="escalates to 'degrade'"):
        config({**NOTIFY, "escalate": {"after": "5s", "to": "degrade"}})


def test_failed_degrade_escalates_to_rollback() -> None:
    d = decider(DEGRADE)
    degrade = d.on_tick(tick(0, errors="breached")).decisions[0]
    step = d.on_tick(tick(1, errors="breached"), [ActionOutcome(degrade.id, ok=False, error="connection refused")])
    assert ids(step) == ["fallback#1.on-failure"]
    assert step.decisions[0].cause == "failure" and step.decisions[0].action == RemoveFaults(("f1", "f2"))
    assert "connection refused" in step.decisions[0].evidence.reason
    # the same failure reported twice escalates once
    assert ids(d.on_tick(tick(2, errors="breached"), [ActionOutcome(degrade.id, ok=False)])) == []


def test_failed_action_uses_explicit_escalation_target() -> None:
    d = decider({**DEGRADE, "escalate": {"after": "1m", "to": "abort"}})
    degrade = d.on_tick(tick(0, errors="breached")).decisions[0]
    step = d.on_tick(tick(1, errors="breached"), [ActionOutcome(degrade.id, ok=False)])
    assert [type(x.action) for x in step.decisions] == [Abort]


def test_failed_notify_does_not_roll_back_by_default_and_failed_rollback_aborts() -> None:
    d = decider(NOTIFY, ROLLBACK)
    step = d.on_tick(tick(0, p95="breached"))
    note, rollback = step.decisions
    step = d.on_tick(tick(1, p95="breached"), [ActionOutcome(note.id, ok=False), ActionOutcome(rollback.id, ok=False)])
    assert ids(step) == ["fast-rollback#1.on-failure"]
    assert step.decisions[0].action == Abort(("f1", "f2"))  # the faults may still be live


def test_failed_breaker_trip_closes_it_and_rolls_back() -> None:
    cb = {"name": "isolate", "when": {"slo": "p95"}, "action": "circuit-break", "with": {"service": "gw"}}
    d = decider(cb)
    trip = d.on_tick(tick(0, p95="breached")).decisions[0]
    step = d.on_tick(tick(1, p95="breached"), [ActionOutcome(trip.id, ok=False)])
    assert ids(step) == ["isolate#1.on-failure"]
    assert d.breaker_phases() == {"isolate": "closed"}
    assert d.on_tick(tick(40, p95="breached")).decisions == ()  # nothing to half-open


def test_same_inputs_same_decisions_and_replay() -> None:
    cfg = config(DEGRADE, ROLLBACK, {**NOTIFY, "escalate": {"after": "2s", "to": "rollback"}})
    from chaos.policy.decisions import TickInput, replay
    inputs = [TickInput(tick(t, p95=s, errors=s)) for t, s in enumerate(["pending", "breached", "ok", "breached"])]  # type: ignore[arg-type]
    assert replay(cfg, inputs) == replay(cfg, inputs)
    assert [d.id for s in replay(cfg, inputs) for d in s.decisions] == [
        "fallback#1", "fast-rollback#1", "page#1", "fallback#2", "page#2"]


def test_from_experiment_reads_policies_slos_faults_and_on_error() -> None:
    exp = load_file(Path(__file__).parents[2] / "experiments" / "payment-latency.yaml").experiment
    d = Decider.from_experiment(exp)
    assert [p.name for p in d.config.policies] == ["fast-rollback", "fallback-channel", "isolate-gateway",
                                                   "monitor-on-error"]
    assert d.config.faults == ("payment-delay",)
    assert d.config.slos["checkout-p95"].for_s == 0.0  # rollback on the first breached evaluation
