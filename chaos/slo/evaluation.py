"""Pure SLO evaluation: judge one query result against an objective, and the pending → firing machine.

Callers: :mod:`chaos.slo.monitoring` (feeds it what Prometheus returned), the policy engine
(``chaos.policy``, which runs its own :class:`SloState` with a policy's ``when.for`` /
``when.consecutive`` over the same observations) and ``aftershock check`` (through the monitor).
No I/O, no clock, no imports of :mod:`chaos.clients`: everything here is a function of its inputs,
which is what makes the exact-tick tests possible.

Choices, in one place:

* **No data is never healthy.** An empty vector, or a result whose every series is NaN, is a
  *failed poll* (status ``no-data``), exactly like an unreachable Prometheus; ``errorTolerance``
  consecutive failed polls turn into ``unavailable``.
* **NaN next to real values**: in a vector where some series have real values, NaN series are
  ignored (an idle service's ``0/0`` must not hide the others) and counted in ``Verdict.error``.
* **±Inf are real values**: ``+Inf`` breaches ``<``/``<=`` (a histogram quantile beyond the last
  bucket is a breach, not a gap); ``-Inf`` breaches ``>``/``>=``.
* **Vectors**: every series is judged; the SLO breaches when any series does, the verdict's
  ``value`` is the worst series (:meth:`Objective.worse`) and ``series`` names each series' labels.
* **``for`` and ``consecutive``** both gate firing, measured in *evaluation* time and ticks: the
  first breaching tick opens ``pending_since``; the verdict is ``breached`` once at least
  ``consecutive`` consecutive ticks breached **and** ``eval_time - pending_since >= for``. A
  healthy tick resets both. A failed poll (no data, error) neither confirms nor clears a breach:
  the counters freeze, so a flapping Prometheus cannot restart a ``for`` clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from chaos.model.slos import Objective, Slo
from chaos.slo.verdicts import MONITOR, SeriesValue, Status, Verdict

Failure = Literal["no-data", "query", "unreachable"]
"""Why a poll failed: the result was empty/NaN, Prometheus refused the query (bad PromQL,
``status: error``), or Prometheus could not be queried at all (connection, HTTP, timeout)."""


@dataclass(frozen=True)
class Point:
    """One series of an instant result (a scalar is one point without labels)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Observation:
    """What one poll of one query returned, or why it failed (``failure``)."""

    points: tuple[Point, ...] = ()
    failure: Failure | None = None
    error: str = ""
    query_seconds: float = 0.0

    @classmethod
    def failed(cls, failure: Failure, error: str, query_seconds: float = 0.0) -> Observation:
        return cls(points=(), failure=failure, error=error, query_seconds=query_seconds)


@dataclass(frozen=True)
class Judgement:
    """An observation against an objective, before ``for``/``consecutive`` are applied."""

    outcome: Literal["ok", "breaching", "failed"]
    value: float | None
    series: tuple[SeriesValue, ...]
    failure: Failure | None = None
    error: str = ""


def judge(objective: Objective, observation: Observation) -> Judgement:
    """Judge every series of ``observation``; no series with a real value is a failed poll."""
    if observation.failure is not None:
        return Judgement("failed", None, (), observation.failure, observation.error)
    points = observation.points
    if not points:
        return Judgement("failed", None, (), "no-data", "no data: the query returned an empty vector")
    if len(points) == 1 and not math.isnan(points[0].value):  # a scalar, one series, a probe's result
        point = points[0]
        holds = objective.holds(point.value)
        return Judgement("ok" if holds else "breaching", point.value, (SeriesValue(dict(point.labels), point.value, holds),),
                         None, "")
    real = [p for p in points if not math.isnan(p.value)]
    if not real:
        series = tuple(SeriesValue(dict(p.labels), p.value, False) for p in points)
        return Judgement("failed", None, series, "no-data",
                         f"no data: the query returned NaN ({len(points)} series)")
    series = tuple(SeriesValue(dict(p.labels), p.value, objective.holds(p.value)) for p in real)
    worst = real[0].value
    for p in real[1:]:
        if objective.worse(p.value, worst):
            worst = p.value
    note = f"{len(points) - len(real)} NaN series ignored" if len(real) < len(points) else ""
    outcome: Literal["ok", "breaching"] = "ok" if all(s.holds for s in series) else "breaching"
    if outcome == "breaching":
        # the worst value is that of a breaching series (for == / != the 'furthest' may hold)
        bad = [s.value for s in series if not s.holds]
        worst = bad[0]
        for v in bad[1:]:
            if objective.worse(v, worst):
                worst = v
    return Judgement(outcome, worst, series, None, note)


class SloState:
    """The pending → firing state machine of one SLO (or a policy's view of it).

    ``for_s`` / ``consecutive`` default to the SLO's own and may be overridden (a policy's
    ``when.for`` / ``when.consecutive``); ``name`` defaults to the SLO's. Feed it one
    :class:`Observation` per evaluation instant, in time order.
    """

    def __init__(self, slo: Slo, *, for_s: float | None = None, consecutive: int | None = None,
                 error_tolerance: int = 3, name: str | None = None) -> None:
        self.slo = slo
        self.name = name or slo.name
        self.for_s = slo.for_s if for_s is None else float(for_s)
        self.required = slo.consecutive if consecutive is None else int(consecutive)
        if self.required < 1 or self.for_s < 0 or error_tolerance < 1:
            raise ValueError("consecutive and errorTolerance must be >= 1 and for >= 0")
        self.error_tolerance = error_tolerance
        self.objective = str(slo.objective)
        """The objective in words (every verdict's ``objective``)."""
        self.pending_since: float | None = None
        self.consecutive = 0
        self.failed_polls = 0
        self.samples = 0
        """Evaluations so far (``Verdict.samples``: the decider counts each one once)."""
        self.last: Verdict | None = None

    def reset(self) -> None:
        self.pending_since = None
        self.consecutive = 0
        self.failed_polls = 0
        self.samples = 0
        self.last = None

    def observe(self, eval_time: float, observation: Observation, *, query: str | None = None,
                error: str | None = None) -> Verdict:
        """Advance the machine by one evaluation instant and return its verdict (``query`` and
        ``error``, when given, are the verdict's instead of the SLO's query and the judgement's note:
        a probe's source and failure reason, without building the verdict twice)."""
        j = judge(self.slo.objective, observation)
        self.samples += 1
        status: Status
        if j.outcome == "failed":
            self.failed_polls += 1
            status = "unavailable" if self.failed_polls >= self.error_tolerance else "no-data"
        elif j.outcome == "breaching":
            self.failed_polls = 0
            self.consecutive += 1
            if self.pending_since is None:
                self.pending_since = eval_time
            fires = (self.consecutive >= self.required
                     and eval_time - self.pending_since >= self.for_s - 1e-9)
            status = "breached" if fires else "pending"
        else:
            self.failed_polls = 0
            self.consecutive = 0
            self.pending_since = None
            status = "ok"
        verdict = self._verdict(status, eval_time, j, observation.query_seconds,
                                self.slo.query if query is None else query, j.error if error is None else error)
        self.last = verdict
        return verdict

    def _verdict(self, status: Status, eval_time: float, j: Judgement, query_seconds: float, query: str,
                 error: str) -> Verdict:
        return Verdict(slo=self.name, status=status, value=j.value, objective=self.objective,
                       query=query, eval_time=eval_time, series=j.series,
                       pending_since=self.pending_since, consecutive=self.consecutive,
                       query_seconds=query_seconds, error=error, failed_polls=self.failed_polls,
                       failure=j.failure or "", for_s=self.for_s, required_consecutive=self.required,
                       samples=self.samples)


def judge_instant(slo: Slo, eval_time: float, observation: Observation) -> Verdict:
    """One-shot verdict (steady-state checks): ``for``/``consecutive`` do not apply to one instant.

    ``ok`` or ``breached`` when there is data; ``no-data`` for an empty/NaN result or a refused
    query; ``unavailable`` when Prometheus could not be queried.
    """
    j = judge(slo.objective, observation)
    status: Status
    if j.outcome == "failed":
        status = "unavailable" if j.failure == "unreachable" else "no-data"
    else:
        status = "ok" if j.outcome == "ok" else "breached"
    return Verdict(slo=slo.name, status=status, value=j.value, objective=str(slo.objective),
                   query=slo.query, eval_time=eval_time, series=j.series,
                   pending_since=eval_time if status == "breached" else None,
                   consecutive=1 if status == "breached" else 0, query_seconds=observation.query_seconds,
                   error=j.error, failed_polls=1 if j.outcome == "failed" else 0,
                   failure=j.failure or "", for_s=0.0, required_consecutive=1)


def monitor_verdict(verdicts: Sequence[Verdict], eval_time: float, error_tolerance: int) -> Verdict:
    """The ``monitor`` verdict of one subscriber's tick: ``unavailable`` when any SLO is.

    ``no-data`` while some polls fail below the tolerance, ``ok`` otherwise. ``error`` lists the
    SLOs concerned; ``failed_polls`` is the worst count.
    """
    failing = [v for v in verdicts if v.status in ("no-data", "unavailable")]
    down = [v for v in failing if v.status == "unavailable"]
    status: Status = "unavailable" if down else ("no-data" if failing else "ok")
    worst = max((v.failed_polls for v in verdicts), default=0)
    error = "; ".join(f"{v.slo}: {v.error}" for v in (down or failing))[:2000]
    failure = next((v.failure for v in (down or failing) if v.failure), "")
    return Verdict(slo=MONITOR, status=status, value=None, objective=f"< {error_tolerance} failed polls",
                   query="", eval_time=eval_time, failed_polls=worst, error=error, failure=failure)


# ------------------------------------------------------------------------------ windows


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: ``(timestamp, value)`` pairs."""

    labels: Mapping[str, str]
    values: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class WindowResult:
    """Did an SLO hold over ``[start, end]`` (CI checks)? Worst value and when it happened."""

    slo: str
    status: Literal["ok", "breached", "no-data", "unavailable"]
    objective: str
    query: str
    start: float
    end: float
    step_s: float
    worst_value: float | None = None
    worst_time: float | None = None
    worst_labels: Mapping[str, str] = field(default_factory=dict)
    steps: int = 0
    breaching_steps: int = 0
    missing_steps: int = 0
    first_breach: float | None = None
    """Evaluation time of the first step at which the SLO *fired* (``for``/``consecutive`` applied)."""
    error: str = ""
    failure: str = ""
    query_seconds: float = 0.0

    @property
    def holds(self) -> bool:
        return self.status == "ok"

    @property
    def breached(self) -> bool:
        return self.status != "ok"


def step_times(start: float, end: float, step_s: float) -> list[float]:
    """Evaluation instants of a range query: ``start, start+step, ... <= end``."""
    n = math.floor((end - start) / step_s + 1e-9)
    return [start + k * step_s for k in range(n + 1)]


def judge_window(slo: Slo, series: Iterable[RangeSeries], start: float, end: float, step_s: float,
                 query_seconds: float = 0.0) -> WindowResult:
    """Replay :class:`SloState` over every step of a range result.

    ``breached`` when the SLO fired at any step (so ``for``/``consecutive`` apply as they would
    live); otherwise ``no-data`` when any step had no real value (fail closed: a window with gaps
    is not proof that the objective held); otherwise ``ok``.
    """
    times = step_times(start, end, step_s)
    at: dict[int, list[Point]] = {round(t * 1000): [] for t in times}
    for s in series:
        for t, v in s.values:
            key = round(t * 1000)
            if key in at:
                at[key].append(Point(s.labels, v))
    state = SloState(slo, error_tolerance=1_000_000)
    worst: float | None = None
    worst_time: float | None = None
    worst_labels: Mapping[str, str] = {}
    breaching = missing = 0
    first_breach: float | None = None
    for t in times:
        verdict = state.observe(t, Observation(points=tuple(at[round(t * 1000)])))
        if verdict.status in ("no-data", "unavailable"):
            missing += 1
            continue
        if verdict.status in ("pending", "breached"):
            breaching += 1
        if verdict.status == "breached" and first_breach is None:
            first_breach = t
        for sv in verdict.series:
            if worst is None or slo.objective.worse(sv.value, worst):
                worst, worst_time, worst_labels = sv.value, t, sv.labels
    status: Literal["ok", "breached", "no-data"]
    error = ""
    if first_breach is not None:
        status = "breached"
    elif missing:
        status = "no-data"
        error = f"no data at {missing} of {len(times)} steps"
    else:
        status = "ok"
    return WindowResult(slo=slo.name, status=status, objective=str(slo.objective), query=slo.query,
                        start=start, end=end, step_s=step_s, worst_value=worst, worst_time=worst_time,
                        worst_labels=dict(worst_labels), steps=len(times), breaching_steps=breaching,
                        missing_steps=missing, first_breach=first_breach, error=error,
                        failure="no-data" if status == "no-data" else "", query_seconds=query_seconds)


def window_failure(slo: Slo, start: float, end: float, step_s: float, failure: Failure, error: str,
                   query_seconds: float = 0.0) -> WindowResult:
    """The window result of a range query that could not be run."""
    status: Literal["no-data", "unavailable"] = "unavailable" if failure == "unreachable" else "no-data"
    return WindowResult(slo=slo.name, status=status, objective=str(slo.objective), query=slo.query,
                        start=start, end=end, step_s=step_s, error=error, failure=failure,
                        query_seconds=query_seconds)


def with_thresholds(slo: Slo, *, name: str | None = None, for_: str | None = None,
                    consecutive: int | None = None) -> Slo:
    """A copy of ``slo`` with a policy's thresholds (and, to keep it apart, another name).

    Registering such a copy with the monitor costs nothing: identical queries are sent once.
    """
    update: dict[str, object] = {}
    if name is not None:
        update["name"] = name
    if for_ is not None:
        update["for_"] = for_
    if consecutive is not None:
        update["consecutive"] = consecutive
    return slo.model_copy(update=update)
