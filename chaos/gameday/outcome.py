"""A finished game day as values, its verdict and its resilience score. Pure.

**Resilience score** (stated in every report): for each experiment that injected, each SLO is
*held* when no sample of it breached during the run, *lost* otherwise; steady-state SLOs weigh 2,
the others 1. With ``T`` the total weight of scored SLOs and ``L`` the weight lost,
``score = int(100 · (T − L) / T)`` — Krkn's SLO-weighted share held. SLOs without samples and
experiments that injected nothing (unsteady, invalid, error) are excluded and listed with why.
Litmus instead averages per experiment, ``Σ wᵢ·PSPᵢ / Σ wᵢ`` with ``PSPᵢ`` the probe-success
percentage of experiment ``i``; we report that figure too (``PSPᵢ`` = the experiment's weighted
share of SLOs held, ``wᵢ`` = 1), so a game day with one large experiment is not hidden by many
small ones (Krkn-like) or is (Litmus-like) — the report shows both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VERDICT_RANK = {"passed": 0, "deviated": 1, "unsteady": 2, "invalid": 3, "error": 4, "failed": 5, "aborted": 6}
EXIT_CODES = {"passed": 0, "deviated": 1, "unsteady": 1, "failed": 1, "invalid": 2, "error": 3, "aborted": 130}


@dataclass
class ExperimentResult:
    name: str
    file: str
    hypothesis: str
    run_id: str = ""
    verdict: str = "not run"
    reason: str = ""
    journal: dict[str, Any] | None = None
    steady_state: tuple[str, ...] = ()


@dataclass
class GameDayResult:
    gameday_id: str
    name: str
    source: str
    trigger: str
    """schedule | manual."""
    due: float
    started: float
    ended: float = 0.0
    experiments: list[ExperimentResult] = field(default_factory=list)
    stopped: str = ""
    """Why the remaining experiments did not run (stopOn, abort)."""
    budget_target: float = 99.0
    """Share of time (%) SLOs must hold (the gate's ``target``; 99 without a gate)."""
    budget_window_s: float = 86400.0
    """The budget window (the gate's ``window``; 24h without a gate)."""

    def budget_spent(self, breached_s: float) -> float:
        """% of the error budget (``(1 − target) × window``) that ``breached_s`` seconds out of objective spend."""
        return 100.0 * breached_s / ((1.0 - self.budget_target / 100.0) * self.budget_window_s)

    @property
    def verdict(self) -> str:
        ran = [e.verdict for e in self.experiments if e.verdict in VERDICT_RANK]
        if not ran:
            return "aborted" if self.stopped else "error"
        return max(ran, key=lambda v: VERDICT_RANK[v])

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.verdict, 3)

    @property
    def run_ids(self) -> list[str]:
        return [e.run_id for e in self.experiments if e.run_id]


@dataclass(frozen=True)
class SloScore:
    experiment: str
    slo: str
    weight: int
    held: bool | None
    """None: excluded."""
    why_excluded: str = ""
    breached_s: float = 0.0


@dataclass(frozen=True)
class Score:
    score: int | None
    """Krkn-like: ``int(100·(T−L)/T)``; None when nothing could be scored."""
    litmus: float | None
    total_weight: int
    lost_weight: int
    slos: tuple[SloScore, ...]

    @property
    def excluded(self) -> list[SloScore]:
        return [s for s in self.slos if s.held is None]


def slo_scores(result: ExperimentResult) -> list[SloScore]:
    journal = result.journal or {}
    ours = journal.get("aftershock", {})
    names = [s["name"] for s in ours.get("slos", [])]
    out: list[SloScore] = []
    if result.verdict not in ("passed", "deviated", "failed", "aborted") or not ours.get("faults"):
        why = f"the experiment injected nothing (verdict {result.verdict})"
        return [SloScore(result.name, n, 2 if n in result.steady_state else 1, None, why) for n in names]
    timeline: Sequence[Mapping[str, Any]] = ours.get("timeline", [])
    for name in names:
        samples = [(t["at"], v) for t in timeline for v in t.get("verdicts", []) if v.get("slo") == name]
        weight = 2 if name in result.steady_state else 1
        with_data = [(at, v) for at, v in samples if v.get("value") is not None]
        if not with_data:
            out.append(SloScore(result.name, name, weight, None, "no samples during the run (no data)"))
            continue
        breached = 0.0
        spacing = (samples[-1][0] - samples[0][0]) / (len(samples) - 1) if len(samples) > 1 else 0.0
        for (at, v), nxt in zip(samples, [*samples[1:], None], strict=True):
            if v.get("status") == "breached":  # until the next sample (the last one: one sample spacing)
                breached += (nxt[0] - at) if nxt is not None else spacing
        lost = any(v.get("status") == "breached" for _, v in samples)
        out.append(SloScore(result.name, name, weight, not lost, breached_s=round(breached, 2)))
    return out


def score(result: GameDayResult) -> Score:
    slos = [s for e in result.experiments for s in slo_scores(e)]
    scored = [s for s in slos if s.held is not None]
    total = sum(s.weight for s in scored)
    lost = sum(s.weight for s in scored if not s.held)
    krkn = int(100 * (total - lost) / total) if total else None
    per_exp: list[float] = []
    for e in result.experiments:
        mine = [s for s in scored if s.experiment == e.name]
        weight = sum(s.weight for s in mine)
        if weight:
            per_exp.append(100.0 * sum(s.weight for s in mine if s.held) / weight)
    litmus = round(sum(per_exp) / len(per_exp), 1) if per_exp else None
    return Score(krkn, litmus, total, lost, tuple(slos))
