"""Circuit-breaker transitions in tick time, standalone and through the decider."""

from __future__ import annotations

from chaos.policy.actions import CircuitBreak, WeightTarget
from chaos.policy.breaker import CLOSED, BreakerConfig, BreakerState, roll, step
from chaos.slo.verdicts import Status, Tick, Verdict

from .helpers import decider, tick

CFG = BreakerConfig(WeightTarget("payment-gateway", "shop"), weight=0, open_for_s=30, half_open_weight=10,
                    half_open_probes=3)


def test_closed_stays_closed_without_trip() -> None:
    tr = step(CFG, CLOSED, 0.0, "breach", trip=False)
    assert tr.state == CLOSED and tr.action is None


def test_closed_open_half_open_closed() -> None:
    tr = step(CFG, CLOSED, 10.0, "breach", trip=True)
    assert tr.state == BreakerState("open", 10.0, 0)
    assert tr.action == CircuitBreak(CFG.target, 0, "open")
    state = tr.state
    # still open until openFor (30 s of tick time) has elapsed
    for t in (11.0, 25.0, 39.9):
        tr = step(CFG, state, t, "ok", trip=False)
        assert tr.action is None and tr.state == state
    tr = step(CFG, state, 40.0, "ok", trip=False)
    assert tr.state == BreakerState("half-open", 40.0, 0)
    assert tr.action == CircuitBreak(CFG.target, 10, "half-open")
    state = tr.state
    for n, t in enumerate((41.0, 42.0), start=1):
        tr = step(CFG, state, t, "ok", trip=False)
        assert tr.action is None and tr.state.probes == n
        state = tr.state
    tr = step(CFG, state, 43.0, "ok", trip=False)
    assert tr.state.phase == "closed"
    assert tr.action == CircuitBreak(CFG.target, None, "closed")  # None: restore the original weight


def test_half_open_breach_opens_again_and_restarts_timer() -> None:
    state = BreakerState("half-open", 40.0, 2)
    tr = step(CFG, state, 41.0, "breach", trip=False)
    assert tr.state == BreakerState("open", 41.0, 0)
    assert tr.action == CircuitBreak(CFG.target, 0, "open")
    assert step(CFG, tr.state, 70.0, "ok", trip=False).action is None
    assert step(CFG, tr.state, 71.0, "ok", trip=False).state.phase == "half-open"


def test_no_data_resets_probes_without_reopening() -> None:
    state = BreakerState("half-open", 40.0, 2)
    tr = step(CFG, state, 41.0, "unknown", trip=False)
    assert tr.action is None and tr.state == BreakerState("half-open", 40.0, 0)


def test_open_ignores_trips() -> None:
    state = BreakerState("open", 10.0, 0)
    assert step(CFG, state, 12.0, "breach", trip=True).action is None


CB = {"name": "isolate", "when": {"slo": "timeouts", "consecutive": 3}, "action": "circuit-break",
      "with": {"service": "payment-gateway", "namespace": "shop", "openFor": "30s", "halfOpenProbes": 3}}


def test_decider_drives_breaker_with_evidence() -> None:
    d = decider(CB)
    assert d.on_tick(tick(0, timeouts="pending")).decisions == ()
    assert d.on_tick(tick(1, timeouts="pending")).decisions == ()
    trip = d.on_tick(tick(2, timeouts="breached")).decisions
    assert [(x.id, x.action) for x in trip] == [
        ("isolate#1", CircuitBreak(WeightTarget("payment-gateway", "shop"), 0, "open"))]
    assert trip[0].evidence.slo == "timeouts" and trip[0].evidence.value == 0.9
    assert "consecutive 3" in trip[0].evidence.reason
    assert d.breaker_phases() == {"isolate": "open"}
    assert d.on_tick(tick(20, timeouts="ok")).decisions == ()
    half = d.on_tick(tick(32, timeouts="ok")).decisions
    assert [x.id for x in half] == ["isolate.breaker#1.half-open"]
    assert half[0].cause == "breaker" and half[0].action.weight == 10  # type: ignore[union-attr]
    assert d.on_tick(tick(33, timeouts="ok")).decisions == ()
    assert d.on_tick(tick(34, timeouts="ok")).decisions == ()
    closed = d.on_tick(tick(35, timeouts="ok")).decisions
    assert [x.id for x in closed] == ["isolate.breaker#2.closed"]
    assert d.breaker_phases() == {"isolate": "closed"}


def test_decider_reopens_on_breach_during_half_open() -> None:
    d = decider({**CB, "when": {"slo": "timeouts"}})
    assert [x.id for x in d.on_tick(tick(0, timeouts="breached")).decisions] == ["isolate#1"]
    assert [x.id for x in d.on_tick(tick(30, timeouts="ok")).decisions] == ["isolate.breaker#1.half-open"]
    reopened = d.on_tick(tick(31, timeouts="pending")).decisions
    assert [(x.id, x.action.phase) for x in reopened] == [("isolate.breaker#2.open", "open")]  # type: ignore[union-attr]
    assert d.on_tick(tick(60, timeouts="ok")).decisions == ()
    assert [x.id for x in d.on_tick(tick(61, timeouts="ok")).decisions] == ["isolate.breaker#3.half-open"]


# ------------------------------------------------------------------ resetAfter (gobreaker's interval)


def test_roll_starts_generations_only_while_closed() -> None:
    cfg = BreakerConfig(WeightTarget("gw"), reset_after_s=60)
    state, cleared = roll(cfg, CLOSED, 5.0)
    assert state.generation == 5.0 and not cleared
    assert roll(cfg, state, 64.9) == (state, False)
    state, cleared = roll(cfg, state, 65.0)
    assert state.generation == 65.0 and cleared
    opened = BreakerState("open", 70.0, 0)
    assert roll(cfg, opened, 500.0) == (opened, False)
    never = BreakerConfig(WeightTarget("gw"), reset_after_s=0)
    assert roll(never, BreakerState("closed", None, 0, 0.0), 1e9)[1] is False


def test_closing_starts_a_new_generation() -> None:
    tr = step(CFG, BreakerState("half-open", 40.0, 2), 43.0, "ok", trip=False)
    assert tr.state == BreakerState("closed", 43.0, 0, 43.0)


def _probe_tick(t: float, status: Status, samples: int, streak: int) -> Tick:
    v = Verdict(slo="probe", status=status, value=0.0 if status != "ok" else 1.0, objective="== 1", query="",
                eval_time=t, consecutive=streak, samples=samples)
    return Tick(eval_time=t, verdicts=(v,))


PROBE_CB = {**CB, "when": {"slo": "probe", "consecutive": 3}, "with": {**CB["with"], "resetAfter": "60s"}}


def test_counts_reset_after_the_interval_while_closed() -> None:
    d = decider(PROBE_CB)
    assert d.on_tick(_probe_tick(0, "ok", 1, 0)).decisions == ()
    assert d.on_tick(_probe_tick(58, "breached", 2, 1)).decisions == ()
    assert d.on_tick(_probe_tick(59, "breached", 3, 2)).decisions == ()
    # 60 s after the generation began: the two failures are forgotten, the third is the first again
    assert d.on_tick(_probe_tick(60, "breached", 4, 3)).decisions == ()
    assert d.on_tick(_probe_tick(61, "breached", 5, 4)).decisions == ()
    trip = d.on_tick(_probe_tick(62, "breached", 6, 5)).decisions
    assert [x.id for x in trip] == ["isolate#1"]


def test_probe_results_count_once_whatever_the_tick_rate() -> None:
    d = decider(PROBE_CB)
    # ticks faster than probe results: a repeated result (same samples) is not counted again
    for t in (1.0, 1.2, 1.4):
        assert d.on_tick(_probe_tick(t, "breached", 1, 1)).decisions == ()
    assert d.on_tick(_probe_tick(2.0, "breached", 2, 2)).decisions == ()
    assert d.on_tick(_probe_tick(2.5, "breached", 2, 2)).decisions == ()
    # two results arrived between ticks: both count (bounded by the probe's own streak)
    trip = d.on_tick(_probe_tick(4.1, "breached", 4, 4)).decisions
    assert [x.id for x in trip] == ["isolate#1"]


def test_an_ok_between_ticks_is_not_skipped_over() -> None:
    d = decider(PROBE_CB)
    assert d.on_tick(_probe_tick(1, "breached", 1, 1)).decisions == ()
    assert d.on_tick(_probe_tick(2, "breached", 2, 2)).decisions == ()
    # results 3 (ok) and 4 (failed) between ticks: the streak is 1, not 3
    assert d.on_tick(_probe_tick(4, "breached", 4, 1)).decisions == ()
    assert d.on_tick(_probe_tick(5, "breached", 5, 2)).decisions == ()
    assert [x.id for x in d.on_tick(_probe_tick(6, "breached", 6, 3)).decisions] == ["isolate#1"]
