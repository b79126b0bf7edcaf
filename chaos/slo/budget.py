"""The error-budget gate (``spec.gate`` of an Experiment or a GameDay), computed from the SLO's own
objective. Pure; the one judgement both ``aftershock run`` (the engine's lifecycle) and game days
(``gameday run``/``serve``) use, with the same words.

Users do not write a budget query. For an SLO ``q`` with objective ``op v`` and a gate ``target``
(share of time, %, the objective must hold):

- bad ratio over a window ``W`` = share of time the objective did not hold:
  ``1 - avg_over_time(((q) op bool v)[W:step])`` (a subquery over the SLO's own query);
- budget left over ``window`` = ``100 · (1 - bad(window) / (1 - target/100))`` (%, may be negative);
- burn rate over ``W`` = ``bad(W) / (1 - target/100)`` (1 = spending exactly the budget);
- multi-window (as the SRE workbook's alerts): the gate closes on burn only when *every* burn
  window (default 1h and 5m) burns faster than ``maxBurnRate`` — the long window proves it is
  significant, the short one that it is still happening.

A query returning several series counts its worst one. No data closes the gate (fail closed).
The queries are performed by :func:`chaos.slo.monitoring.read_bad_ratios` (the engine's driver,
the game-day runner); :func:`judge` turns what they returned into a :class:`GateReading`,
:func:`unreadable` is the reading when Prometheus could not answer, :func:`closed` the words of a
refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.model.durations import format_duration, parse_window
from chaos.model.slos import Gate, Slo


def _step(window_s: float) -> str:
    return format_duration(max(1.0, round(window_s / 300)))


def bad_ratio_query(slo: Slo, window: str) -> str:
    """PromQL: the share of ``window`` during which ``slo``'s objective did not hold (0..1)."""
    w = parse_window(window)
    obj = slo.objective
    return (f"1 - avg_over_time((({slo.query}) {obj.op} bool {obj.value:g})"
            f"[{format_duration(w)}:{_step(w)}])")


def gate_queries(gate: Gate, slo: Slo) -> dict[str, str]:
    """Window → PromQL of its bad ratio (the budget window and every burn window)."""
    windows = ([gate.window] if gate.min_budget is not None else []) + \
        (list(gate.burn_windows) if gate.max_burn_rate is not None else [])
    return {w: bad_ratio_query(slo, w) for w in dict.fromkeys(windows)}


@dataclass(frozen=True)
class GateReading:
    """The error-budget gate read once: open or closed, and why."""

    open: bool
    reason: str
    """Why it is closed, or what it read when open."""
    budget_left: float | None = None
    burn_rates: Mapping[str, float] | None = None


def judge(gate: Gate, bad: Mapping[str, Sequence[float]]) -> GateReading:
    """Open or closed, from the bad ratios read per window (each the values of the query's series)."""
    allowance = 1.0 - gate.target / 100.0
    worst: dict[str, float] = {}
    for window, values in bad.items():
        finite = [v for v in values if v == v]  # NaN: no data
        if not finite:
            return GateReading(False, f"cannot read the error budget of SLO {gate.slo} over {window} (no data); "
                                      "not starting without it")
        worst[window] = max(finite)
    budget = None
    if gate.min_budget is not None:
        budget = 100.0 * (1.0 - worst[gate.window] / allowance)
        if budget < gate.min_budget:
            return GateReading(False, f"{budget:.3g}% of the error budget of {gate.slo} left over {gate.window}, "
                                      f"below minBudget {gate.min_budget:g}%", budget)
    rates = {w: worst[w] / allowance for w in gate.burn_windows} if gate.max_burn_rate is not None else {}
    if gate.max_burn_rate is not None and all(r > gate.max_burn_rate for r in rates.values()):
        shown = ", ".join(f"{r:.3g}x over {w}" for w, r in rates.items())
        return GateReading(False, f"{gate.slo} burns its error budget at {shown}, above maxBurnRate "
                                  f"{gate.max_burn_rate:g} in every window", budget, rates)
    parts = ([f"{budget:.3g}% budget left"] if budget is not None else []) + \
        [f"burn {r:.3g}x/{w}" for w, r in rates.items()]
    return GateReading(True, ", ".join(parts), budget, rates)


def unreadable(gate: Gate, error: str) -> GateReading:
    """The reading when Prometheus could not be asked (fail closed)."""
    return GateReading(False, f"cannot read the error budget of SLO {gate.slo}: {error}; not starting without it")


def closed(reading: GateReading) -> str:
    """The words of a refusal, the same for a run and a game day."""
    return f"gate closed: {reading.reason}"


def opened(reading: GateReading) -> str:
    """The words of a passed gate (a run's pre-flight checks, ``gameday run``)."""
    return f"gate open: {reading.reason}"
