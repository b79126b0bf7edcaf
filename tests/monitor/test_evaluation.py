"""Pure tests of :mod:`chaos.slo.evaluation`: judging results and the pending → firing machine."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from chaos.slo.evaluation import (
    Observation,
    Point,
    RangeSeries,
    SloState,
    judge,
    judge_instant,
    judge_window,
    monitor_verdict,
    with_thresholds,
)

from .conftest import slo


def obs(*values: float, labels: list[dict[str, str]] | None = None) -> Observation:
    labels = labels or [{"i": str(i)} for i in range(len(values))]
    return Observation(points=tuple(Point(lab, v) for lab, v in zip(labels, values, strict=True)))


BAD, GOOD = obs(0.9), obs(0.5)


def test_for_fires_after_duration_in_evaluation_time() -> None:
    state = SloState(slo("p95", "q", "<", 0.8, **{"for": "5s"}))
    statuses = [state.observe(t, BAD).status for t in (100, 102, 104, 105, 106)]
    assert statuses == ["pending", "pending", "pending", "breached", "breached"]
    v = state.observe(107, GOOD)
    assert (v.status, v.pending_since, v.consecutive) == ("ok", None, 0)


def test_consecutive_and_for_both_gate() -> None:
    state = SloState(slo("p95", "q", "<", 0.8, consecutive=3, **{"for": "1s"}))
    out = [(v.status, v.consecutive) for v in (state.observe(t, BAD) for t in (10, 11, 12))]
    assert out == [("pending", 1), ("pending", 2), ("breached", 3)]
    assert state.last is not None and state.last.pending_since == 10
    assert state.last.for_s == 1 and state.last.required_consecutive == 3


def test_policy_override_of_thresholds() -> None:
    base = slo("p95", "q", "<", 0.8, consecutive=5)
    fast = SloState(base, consecutive=1, name="p95@rollback")
    assert fast.observe(1, BAD).status == "breached"
    assert fast.last is not None and fast.last.slo == "p95@rollback"
    variant = with_thresholds(base, name="p95-fast", for_="0s", consecutive=2)
    assert (variant.consecutive, variant.for_s, variant.query) == (2, 0.0, "q")


def test_failed_polls_freeze_breach_and_become_unavailable() -> None:
    state = SloState(slo("p95", "q", "<", 0.8, consecutive=3), error_tolerance=2)
    assert state.observe(1, BAD).status == "pending"
    none = Observation()
    v = state.observe(2, none)
    assert (v.status, v.failure, v.consecutive, v.failed_polls) == ("no-data", "no-data", 1, 1)
    v = state.observe(3, Observation.failed("unreachable", "refused"))
    assert (v.status, v.failed_polls, v.error) == ("unavailable", 2, "refused")
    assert state.observe(4, BAD).status == "pending"  # consecutive continues at 2
    assert state.observe(5, BAD).status == "breached"
    assert state.observe(6, GOOD).failed_polls == 0


def test_vector_names_breaching_series_and_worst_value() -> None:
    v = SloState(slo("err", "q", "<", 0.05)).observe(
        1, obs(0.01, 0.2, 0.3, labels=[{"s": "a"}, {"s": "b"}, {"s": "c"}]))
    assert v.status == "breached" and v.value == 0.3
    assert [s.labels["s"] for s in v.breaching_series] == ["b", "c"]


def test_nan_and_empty_are_no_data_inf_is_a_value() -> None:
    objective = slo("x", "q", "<", 1).objective
    assert judge(objective, obs(math.nan)).failure == "no-data"
    assert judge(objective, Observation()).failure == "no-data"
    inf = judge(objective, obs(math.inf))
    assert inf.outcome == "breaching" and inf.value == math.inf
    assert judge(slo("x", "q", ">", 1).objective, obs(math.inf)).outcome == "ok"
    partial = judge(objective, obs(0.5, math.nan))
    assert partial.outcome == "ok" and "1 NaN series ignored" in partial.error


def test_equality_objectives() -> None:
    assert judge(slo("x", "q", "==", 0).objective, obs(0, 3, 1)).value == 3
    ne = judge(slo("x", "q", "!=", 0).objective, obs(2, 0))
    assert ne.outcome == "breaching" and ne.value == 0


def test_instant_and_monitor_verdicts() -> None:
    s = slo("x", "q", "<", 1, consecutive=5, **{"for": "1m"})
    assert judge_instant(s, 1, obs(2)).status == "breached"
    down = judge_instant(s, 1, Observation.failed("unreachable", "refused"))
    assert down.status == "unavailable"
    assert monitor_verdict([down], 1, 3).status == "unavailable"
    assert monitor_verdict([judge_instant(s, 1, obs(0))], 1, 3).status == "ok"


def test_window_replays_for_and_reports_worst() -> None:
    s = slo("x", "q", "<", 0.8, **{"for": "2s"})
    series = RangeSeries({"s": "a"}, ((0, 0.1), (1, 0.9), (2, 0.95), (3, 0.2), (4, 0.9), (5, 0.9), (6, 0.9)))
    w = judge_window(s, [series], 0, 6, 1)
    assert (w.status, w.worst_value, w.worst_time, w.first_breach) == ("breached", 0.95, 2, 6)
    assert w.breaching_steps == 5 and w.steps == 7
    gap = judge_window(s, [RangeSeries({}, ((0, 0.1), (2, 0.1)))], 0, 2, 1)
    assert gap.status == "no-data" and gap.missing_steps == 1


@given(st.lists(st.one_of(st.floats(allow_nan=True), st.none()), max_size=40),
       st.integers(1, 5), st.integers(0, 4))
def test_state_machine_invariants(values: list[float | None], need: int, for_s: int) -> None:
    state = SloState(slo("x", "q", "<", 0.5, consecutive=need, **{"for": f"{for_s}s"}), error_tolerance=2)
    for t, value in enumerate(values):
        v = state.observe(float(t), Observation() if value is None else obs(value))
        if v.status == "breached":
            assert v.consecutive >= need and v.pending_since is not None and t - v.pending_since >= for_s
        if v.status == "ok":
            assert v.consecutive == 0 and v.pending_since is None and v.failed_polls == 0
        if value is None or math.isnan(value):
            assert v.status in ("no-data", "unavailable") and v.failure == "no-data"
