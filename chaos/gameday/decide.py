"""The scheduler's decisions, free of I/O and clocks: which due times are skipped (and why), which
one may start, and what blocks it. Pure; the service (:mod:`chaos.gameday.service`) feeds it the
time, the persisted cursor and the blockers it observed, and persists what it decides.

Rules (docs/gamedays.md):

- Due times are the schedule's fire times in ``(cursor, now]``; the cursor is the latest due
  time already decided (started or skipped), persisted, so a restart resumes where it stopped.
- ``missed: skip`` — a due time runs only if it can start within :data:`SKIP_GRACE_S` of its due
  time and nothing blocks it; otherwise it is skipped at once with the reason.
- ``missed: latest`` — of several due times only the most recent is a candidate (the others are
  skipped as superseded); a blocked candidate is held and retried until ``startingDeadline``, then
  skipped with the last blocker as its reason.
- Never a burst: at most one start per schedule per decision.
- Blockers, in order: paused, suspended, blackout, concurrency (Forbid: the schedule's previous
  run is live; Replace: it is aborted and the new one starts; Allow: nothing), another run with
  live faults on overlapping targets, the error-budget gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chaos.gameday.fires import fires_between, iter_fires, utc_z
from chaos.model.gameday import Blackout, GameDaySchedule
from chaos.slo.budget import GateReading, closed

SKIP_GRACE_S = 60.0
"""``missed: skip``: how late after its due time a run may still start (scheduler tick lag)."""
MAX_RECORDED = 10_000
"""At most this many missed due times are recorded one by one per decision; beyond, one summary row."""


@dataclass(frozen=True)
class Skip:
    due: float
    reason: str
    count: int = 1
    """>1 only for a summary row of more than :data:`MAX_RECORDED` missed due times."""


@dataclass(frozen=True)
class Due:
    """What the schedule has to do now."""

    skips: tuple[Skip, ...] = ()
    candidate: float | None = None
    """The due time that may start now (if nothing blocks it)."""
    candidate_deadline: float | None = None
    """Until when the candidate may still start."""


def due_now(schedule: GameDaySchedule, cursor: float, now: float, *,
            held: Mapping[float, str] | None = None) -> Due:
    """Split the due times in ``(cursor, now]`` into skips and at most one candidate.

    ``held``: due times a blocker held (``latest``) with the blocker; one that runs out of deadline
    is skipped with that blocker as its reason."""
    held = held or {}
    grace = SKIP_GRACE_S if schedule.missed == "skip" else schedule.starting_deadline_s
    dues = fires_between(schedule.cron, schedule.timezone, cursor, now, limit=MAX_RECORDED)
    skips: list[Skip] = []
    if len(dues) == MAX_RECORDED:
        # an enormous backlog (a per-minute schedule down for weeks): the first due times one by one,
        # the rest that can no longer start as one row that says how many, then the recent ones
        keep = dues[:MAX_RECORDED - 1]
        cutoff = max(now - grace, keep[-1])
        late = fires_between(schedule.cron, schedule.timezone, keep[-1], cutoff, limit=100_000_000)
        if late:
            skips.append(Skip(late[-1], "missed: the scheduler was not running "
                              f"({len(late)} due times from {utc_z(late[0])} to this one)", count=len(late)))
        dues = keep + fires_between(schedule.cron, schedule.timezone, cutoff, now)
    candidate: float | None = None
    for i, due in enumerate(dues):
        last = i == len(dues) - 1
        if now - due > grace:
            why = ("missed: the scheduler was not running at its due time" if schedule.missed == "skip"
                   else f"missed: more than startingDeadline ({schedule.starting_deadline}) late")
            if due in held:
                why = f"not started within startingDeadline ({schedule.starting_deadline}): {held[due]}"
            skips.append(Skip(due, why))
        elif not last:
            skips.append(Skip(due, "superseded by a later due time"))
        else:
            candidate = due
    return Due(skips=tuple(skips), candidate=candidate,
               candidate_deadline=None if candidate is None else candidate + grace)


@dataclass(frozen=True)
class Blockers:
    """What the service observed about a candidate (I/O already done)."""

    paused: bool = False
    suspended: str = ""
    blackout: str = ""
    own_live: Sequence[str] = ()
    """Game-day run ids of this schedule still running."""
    overlapping: Sequence[str] = ()
    """Other runs with live faults on overlapping targets (descriptions)."""
    gate: GateReading | None = None
    """The gate's reading when it is closed (None when open or there is no gate)."""


@dataclass(frozen=True)
class Admission:
    action: str
    """start | skip | hold."""
    reason: str = ""
    replace: tuple[str, ...] = field(default=())
    """Game-day runs to abort first (concurrency Replace)."""


def admit(schedule: GameDaySchedule, due: float, deadline: float, now: float, b: Blockers) -> Admission:
    """Start, skip or hold the candidate ``due``, given what blocks it."""
    reason = ""
    replace: tuple[str, ...] = ()
    if b.paused:
        return Admission("skip", "schedule paused")  # paused: never held, every fire recorded as skipped
    if b.suspended:
        return Admission("skip", f"schedule suspended: {b.suspended}")
    if b.blackout:
        reason = f"blackout {b.blackout}"
    elif b.own_live and schedule.concurrency == "Forbid":
        reason = f"concurrency Forbid: the previous run {', '.join(b.own_live)} is still running"
    elif b.overlapping:
        reason = f"another run has faults on overlapping targets: {'; '.join(b.overlapping)}"
    elif b.gate:
        reason = closed(b.gate)
    elif b.own_live and schedule.concurrency == "Replace":
        replace = tuple(b.own_live)
    if not reason:
        return Admission("start", replace=replace)
    if schedule.missed == "latest" and now < deadline:
        return Admission("hold", reason)
    return Admission("skip", reason)


# ---------------------------------------------------------------- blackouts


def blackout_at(blackouts: Sequence[Blackout], at: float, timezone: str) -> str:
    """Description of the blackout covering instant ``at`` ("" when none). Date ranges are whole
    days (inclusive) or local date-times in the schedule's zone; cron windows start at each fire
    of ``cron`` (same DST rules as the schedule) and last ``duration``."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(at, tz=zone)
    for blackout in blackouts:
        span = blackout.span
        if span is not None:
            a, b = span
            if isinstance(a, datetime) and isinstance(b, datetime):
                start = a if a.tzinfo else a.replace(tzinfo=zone)
                end = b if b.tzinfo else b.replace(tzinfo=zone)
                if start <= local <= end:
                    return blackout.describe()
            elif isinstance(a, date) and isinstance(b, date) and a <= local.date() <= b:
                return blackout.describe()
        if blackout.cron is not None:
            length = blackout.duration_s
            for start_at in iter_fires(blackout.cron, timezone, at - length - 1):
                if start_at > at:
                    break
                if start_at <= at < start_at + length:
                    return blackout.describe()
    return ""


# ---------------------------------------------------------------- suspendAfter


def should_suspend(suspend_after: int | None, outcomes: Sequence[str]) -> bool:
    """True when the latest ``suspend_after`` finished game days (newest first) all failed or aborted."""
    if not suspend_after or len(outcomes) < suspend_after:
        return False
    return all(v in ("failed", "aborted", "error") for v in outcomes[:suspend_after])


@dataclass(frozen=True)
class Upcoming:
    """The next fires of a schedule and the due times a blackout will skip before them."""

    fires: tuple[float, ...]
    skipped: tuple[tuple[float, str], ...]
    """``(due time, reason)``: the reason is ``blackout: <which>``."""


MAX_SKIPPED_LOOKAHEAD = 10_000
"""Due times looked at beyond the wanted fires (a blackout that never ends must not loop forever)."""


def upcoming(schedule: GameDaySchedule, blackouts: Sequence[Blackout], after: float, count: int) -> Upcoming:
    """The next ``count`` fires after ``after`` that no blackout covers, and the skipped ones among them."""
    fires: list[float] = []
    skipped: list[tuple[float, str]] = []
    for n, due in enumerate(iter_fires(schedule.cron, schedule.timezone, after)):
        if len(fires) >= count or n >= count + MAX_SKIPPED_LOOKAHEAD:
            break
        covered = blackout_at(blackouts, due, schedule.timezone) if blackouts else ""
        if covered:
            skipped.append((due, f"blackout: {covered}"))
        else:
            fires.append(due)
    return Upcoming(tuple(fires), tuple(skipped))


@dataclass(frozen=True)
class Conflict:
    """One experiment fired twice at the same instant by two schedules."""

    experiment: str
    """The experiment file (resolved path)."""
    at: float
    schedules: tuple[str, str]
    """``(name, source)`` descriptions of the two schedules, e.g. ``its own spec.schedule (x.yaml)``."""

    def describe(self) -> str:
        return (f"{self.experiment} is fired twice at {utc_z(self.at)}: by {self.schedules[0]} and by "
                f"{self.schedules[1]}; the second start is refused (concurrency) or overlaps the first — "
                "drop one schedule, or move one (a different minute, or a blackout)")


CONFLICT_HORIZON_S = 366 * 86_400.0
"""How far ahead conflicts are looked for (a year covers every weekly and monthly pattern)."""
CONFLICT_FIRES = 2_000
"""At most this many fires of one schedule are compared (a cron every minute: the next 33 hours)."""


def schedule_conflicts(schedules: Sequence[tuple[str, GameDaySchedule, Sequence[str]]], after: float,
                       horizon_s: float = CONFLICT_HORIZON_S) -> list[Conflict]:
    """``(description, schedule, experiment files)`` → the first shared fire of every pair of schedules
    that run the same experiment file (one conflict per pair and file)."""
    out: list[Conflict] = []
    cache: dict[int, set[float]] = {}

    def fires(i: int) -> set[float]:  # only for schedules that share an experiment with another
        if i not in cache:
            schedule = schedules[i][1]
            cache[i] = set(fires_between(schedule.cron, schedule.timezone, after, after + horizon_s,
                                         limit=CONFLICT_FIRES))
        return cache[i]

    for i, (name_a, _, files_a) in enumerate(schedules):
        for j in range(i + 1, len(schedules)):
            name_b, _, files_b = schedules[j]
            shared_files = sorted(set(files_a) & set(files_b))
            if not shared_files:
                continue
            common = fires(i) & fires(j)
            if not common:
                continue
            first = min(common)
            out.extend(Conflict(f, first, (name_a, name_b)) for f in shared_files)
    return out
