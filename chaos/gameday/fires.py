"""Fire times of a cron schedule in an IANA time zone, with exact DST semantics. Pure.

croniter walks the schedule in *wall-clock* (naive local) time; each wall time is then placed
on the UTC time line by one rule:

- a wall time inside a spring-forward gap (it does not exist) fires once, at the first instant
  after the gap (the transition itself: 02:30 Europe/Berlin on the last Sunday of March fires at
  03:00 CEST = 01:00 UTC);
- a wall time that occurs twice at fall-back fires once, at its first occurrence (the
  summer-time one: 02:30 on the last Sunday of October fires at 02:30 CEST = 00:30 UTC, not again
  an hour later);
- two wall times that land on the same instant fire once.

So wildcard-hour schedules (``*/30 * * * *``) do this: at spring-forward the wall times inside
the gap (02:00, 02:30 in Berlin) collapse into one fire at 03:00 CEST (the same instant as the
03:00 fire); at fall-back the repeated hour is not fired again (02:00 and 02:30 CEST fire,
02:00 and 02:30 CET do not; the next fire is 03:00 CET, 90 minutes after 02:30 CEST). Fire
times are strictly increasing. Called by the scheduler, ``gameday next``, blackouts and the TUI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from chaos.errors import InvalidExperiment, Problem

LOOKBACK = timedelta(hours=4)
"""How far before ``after`` (wall time) the walk starts: more than any DST shift (at most 2 h)."""


def _naive_local(at: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(at, tz=zone).replace(tzinfo=None)


def resolve(wall: datetime, zone: ZoneInfo) -> float:
    """The instant (epoch seconds) a naive local ``wall`` time fires at, by the rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    at = first.timestamp()
    if _naive_local(at, zone) == wall:
        return at  # exists (at a fall-back, fold=0 is the first occurrence)
    # In a gap: fold=0 uses the offset before the gap (an instant after it), fold=1 the offset
    # after (an instant before it). The transition is the first instant whose wall time is >= wall.
    lo = wall.replace(tzinfo=zone, fold=1).timestamp()
    hi = at
    if lo > hi:
        lo, hi = hi, lo
    lo_i, hi_i = int(lo), int(hi) + 1
    while lo_i < hi_i:
        mid = (lo_i + hi_i) // 2
        if _naive_local(mid, zone) >= wall:
            hi_i = mid
        else:
            lo_i = mid + 1
    return float(lo_i)


def iter_fires(cron: str, timezone: str, after: float) -> Iterator[float]:
    """Fire instants (epoch seconds, UTC) strictly after ``after``, in increasing order, forever."""
    zone = ZoneInfo(timezone)
    start = _naive_local(after, zone) - LOOKBACK
    walk = croniter(cron, start)
    last = after
    while True:
        try:
            wall = walk.get_next(datetime)
        except CroniterBadDateError:
            raise InvalidExperiment(Problem(f"cron {cron!r} never fires after {utc_z(after)}: no date matches it",
                                            path="spec.schedule.cron")) from None
        at = resolve(wall, zone)
        if at > last:
            last = at
            yield at


def next_fires(cron: str, timezone: str, after: float, count: int) -> list[float]:
    """The next ``count`` fire instants after ``after``."""
    out: list[float] = []
    if count <= 0:
        return out
    for at in iter_fires(cron, timezone, after):
        out.append(at)
        if len(out) >= count:
            break
    return out


def fires_between(cron: str, timezone: str, after: float, until: float, limit: int = 100_000) -> list[float]:
    """Fire instants in ``(after, until]`` (at most ``limit``; the caller reports the rest)."""
    out: list[float] = []
    for at in iter_fires(cron, timezone, after):
        if at > until or len(out) >= limit:
            break
        out.append(at)
    return out


def utc_z(at: float) -> str:
    """``2027-03-28T01:00:00Z``."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_text(at: float, timezone: str) -> str:
    """``Fri 2027-03-26 10:00 CET`` (for people)."""
    return datetime.fromtimestamp(at, tz=ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M %Z")
