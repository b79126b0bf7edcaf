"""The resilience score: Krkn-like SLO-weighted share held vs Litmus's per-experiment average,
exclusions (no samples, nothing injected), and the game day's verdict."""

from __future__ import annotations

from typing import Any

from chaos.gameday.outcome import ExperimentResult, GameDayResult, score


def journal(slos: dict[str, list[str]]) -> dict[str, Any]:
    names = list(slos)
    steps = max(len(v) for v in slos.values())
    timeline = [{"at": 100.0 + i, "verdicts": [{"slo": n, "status": slos[n][i], "value": None if slos[n][i] ==
                                                "unavailable" else 1.0} for n in names if i < len(slos[n])]}
                for i in range(steps)]
    return {"aftershock": {"slos": [{"name": n} for n in names], "faults": [{"fault": "f"}], "timeline": timeline}}


def test_weights_exclusions_and_both_formulas() -> None:
    big = ExperimentResult("big", "big.yaml", "h", verdict="deviated", steady_state=("a",),
                           journal=journal({"a": ["ok", "breached", "ok"], "b": ["ok"] * 3, "c": ["ok"] * 3}))
    small = ExperimentResult("small", "small.yaml", "h", verdict="passed",
                             journal=journal({"d": ["ok"] * 3, "e": ["unavailable"] * 3}))
    unsteady = ExperimentResult("flat", "flat.yaml", "h", verdict="unsteady",
                                journal={"aftershock": {"slos": [{"name": "x"}], "faults": [], "timeline": []}})
    result = GameDayResult("id", "gd", "gd.yaml", "manual", 0.0, 0.0, experiments=[big, small, unsteady])
    sc = score(result)
    # T = a(2) + b(1) + c(1) + d(1) = 5, L = a(2): int(100·3/5) = 60
    assert (sc.score, sc.total_weight, sc.lost_weight) == (60, 5, 2)
    # Litmus: big holds 2 of 4 weight (50 %), small 1 of 1 (100 %): mean 75
    assert sc.litmus == 75.0
    assert [(s.experiment, s.slo, s.why_excluded) for s in sc.excluded] == [
        ("small", "e", "no samples during the run (no data)"),
        ("flat", "x", "the experiment injected nothing (verdict unsteady)")]
    a = next(s for s in sc.slos if s.slo == "a")
    assert a.breached_s == 1.0
    assert result.verdict == "unsteady" and result.exit_code == 1


def test_verdict_is_the_worst_and_nothing_scored_is_none() -> None:
    result = GameDayResult("id", "gd", "gd.yaml", "manual", 0.0, 0.0, experiments=[
        ExperimentResult("a", "a", "h", verdict="passed"), ExperimentResult("b", "b", "h", verdict="aborted")])
    assert result.verdict == "aborted" and result.exit_code == 130
    assert score(result).score is None
