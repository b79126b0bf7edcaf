"""Verdicts: what the monitor concluded about one SLO at one evaluation instant.

Produced by ``chaos.slo.evaluation`` (pure) / ``chaos.slo.monitoring`` (async), consumed by
``chaos.policy.decisions`` and journaled by the engine. Plain frozen dataclasses, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "pending", "breached", "no-data", "unavailable"]
"""ok: objective holds. pending: breaching but ``for``/``consecutive`` not yet met.
breached: firing (policies act). no-data: empty/NaN result (a failed poll, never healthy).
unavailable: ``errorTolerance`` consecutive failed polls (engine maps it to ``monitor.onError``)."""

MONITOR = "monitor"
"""SLO name of verdicts about the monitor itself (Prometheus unavailable)."""


@dataclass(frozen=True)
class SeriesValue:
    """One series of a vector result."""

    labels: dict[str, str]
    value: float
    holds: bool


@dataclass(frozen=True)
class Verdict:
    """One SLO's judgement at one evaluation: its status, value and the series behind it."""

    slo: str
    status: Status
    value: float | None
    """The worst value over all series (None without data)."""
    objective: str
    """Human form, e.g. ``< 0.8``."""
    query: str
    eval_time: float
    """Evaluation instant (epoch seconds) — every SLO of one tick shares it."""
    series: tuple[SeriesValue, ...] = ()
    pending_since: float | None = None
    consecutive: int = 0
    """Consecutive breaching ticks so far."""
    query_seconds: float = 0.0
    """How long the query took."""
    error: str = ""
    failed_polls: int = 0
    """Consecutive failed polls (no data, refused query, Prometheus unreachable) so far."""
    failure: str = ""
    """Why the last poll failed: ``no-data``, ``query`` (refused PromQL / status error) or
    ``unreachable`` (connection, HTTP error, timeout); "" when it succeeded."""
    for_s: float = 0.0
    """The ``for`` threshold applied (seconds of evaluation time)."""
    required_consecutive: int = 1
    """The ``consecutive`` threshold applied."""
    samples: int = 0
    """Evaluations behind this SLO's state so far when they are not one per tick (a probe: one per
    probe result, so ``consecutive`` counts results); 0 = one evaluation per tick."""

    @property
    def breached(self) -> bool:
        """True when policies should act on this verdict (firing or monitor unavailable)."""
        return self.status in ("breached", "unavailable")

    @property
    def holds(self) -> bool:
        return self.status == "ok"

    @property
    def breaching_series(self) -> tuple[SeriesValue, ...]:
        return tuple(s for s in self.series if not s.holds)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["breached"] = self.breached
        return out


@dataclass(frozen=True)
class Tick:
    """All verdicts of one evaluation instant."""

    eval_time: float
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    def get(self, slo: str) -> Verdict | None:
        for v in self.verdicts:
            if v.slo == slo:
                return v
        return None
