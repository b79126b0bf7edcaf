"""Schedules and their due times in the state database (``state.db``, its own two tables).

``schedule_fires`` has one row per (schedule, due time) — the idempotency key. A run is claimed by
inserting its row (committed) *before* it starts; the primary key makes a second claim of the same
due time fail, so a restarted scheduler or a second scheduler on the same database never starts
it twice. Skipped due times are rows too, with their reason. ``schedules`` holds what survives
restarts: when a schedule was first seen, paused, suspended (and why). The tables are created and
versioned by the state store's migrations (:func:`chaos.clients.state.open_database`, the one owner of
the schema: a database of a newer Aftershock is refused, never written); this module only reads and
writes their rows.
Callers: the scheduler service, ``aftershock gameday``, the TUI's Schedules screen (via commands).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.clients.state import default_state_dir, open_database, process_start, run_alive
from chaos.errors import StateError


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    source: str
    since: float
    paused: bool
    suspended: str
    resumed: float
    next_fire: float | None
    updated: float


@dataclass(frozen=True)
class FireRow:
    schedule: str
    due: float
    trigger: str
    """schedule | manual."""
    state: str
    """skipped | running | finished | orphaned."""
    reason: str
    count: int
    gameday_id: str
    decided: float
    ended: float | None
    verdict: str | None
    score: int | None
    report: str
    runs: list[str]
    pid: int
    pid_start: str
    host: str

    @property
    def alive(self) -> bool:
        return self.state == "running" and run_alive(self.pid, self.pid_start, self.host)


def _schedule_row(r: tuple[Any, ...]) -> ScheduleRow:
    return ScheduleRow(name=r[0], source=r[1], since=r[2], paused=bool(r[3]), suspended=r[4], resumed=r[5],
                       next_fire=r[6], updated=r[7])


def _run_ids(text: str) -> list[str]:
    """The run ids of a fire; a damaged value reads as none (the fire itself stays readable)."""
    try:
        ids = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [str(i) for i in ids] if isinstance(ids, list) else []


_FIRE_COLS = ("schedule, due, trigger, state, reason, count, gameday_id, decided, ended, verdict, score, report, "
              "runs, pid, pid_start, host")


class ScheduleStore:
    """The schedule tables of one state directory (own connection; WAL, synchronous=FULL)."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self._db, self.path = open_database(self.dir)  # the tables are the state store's migrations' (v2)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from exc

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from exc

    # ------------------------------------------------------------ schedules

    def register(self, name: str, source: str, now: float) -> ScheduleRow:
        """Known from now on (a new schedule does not backfill due times before it was first seen)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO schedules (name, source, since, updated) VALUES (?, ?, ?, ?)",
                       (name, source, now, now))
            db.execute("UPDATE schedules SET source = ? WHERE name = ?", (source, name))
        row = self.schedule(name)
        assert row is not None
        return row

    def schedule(self, name: str) -> ScheduleRow | None:
        rows = self._select("SELECT name, source, since, paused, suspended, resumed, next_fire, updated "
                            "FROM schedules WHERE name = ?", (name,))
        return _schedule_row(rows[0]) if rows else None

    def schedules(self) -> list[ScheduleRow]:
        rows = self._select("SELECT name, source, since, paused, suspended, resumed, next_fire, updated "
                            "FROM schedules ORDER BY name")
        return [_schedule_row(r) for r in rows]

    def set_paused(self, name: str, paused: bool, now: float) -> bool:
        """Pause or resume (resume also lifts a suspension); False when the schedule is unknown."""
        with self._tx() as db:
            if paused:
                cur = db.execute("UPDATE schedules SET paused = 1, updated = ? WHERE name = ?", (now, name))
            else:
                cur = db.execute("UPDATE schedules SET paused = 0, suspended = '', resumed = ?, updated = ? "
                                 "WHERE name = ?", (now, now, name))
            return cur.rowcount > 0

    def suspend(self, name: str, reason: str, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedules SET suspended = ?, updated = ? WHERE name = ?", (reason, now, name))

    def set_next_fire(self, name: str, at: float | None, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedules SET next_fire = ?, updated = ? WHERE name = ?", (at, now, name))

    # ------------------------------------------------------------ due times

    def cursor(self, name: str) -> float:
        """The latest scheduled due time already decided (started or skipped), else when first seen."""
        rows = self._select("SELECT MAX(due) FROM schedule_fires WHERE schedule = ? AND trigger = 'schedule'",
                            (name,))
        if rows and rows[0][0] is not None:
            return float(rows[0][0])
        sched = self.schedule(name)
        return sched.since if sched else time.time()

    def claim(self, name: str, due: float, gameday_id: str, now: float, trigger: str = "schedule") -> bool:
        """Persist the start of due time ``due`` before the run starts; False when already claimed
        or skipped (by this or another scheduler)."""
        pid = os.getpid()
        try:
            with self._tx() as db:
                db.execute("INSERT INTO schedule_fires (schedule, due, trigger, state, gameday_id, decided, pid, "
                           "pid_start, host) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                           (name, due, trigger, gameday_id, now, pid, process_start(pid), socket.gethostname()))
        except sqlite3.IntegrityError:
            return False
        return True

    def skip(self, name: str, due: float, reason: str, now: float, count: int = 1) -> bool:
        """Record a skipped due time; False when it was already decided."""
        try:
            with self._tx() as db:
                db.execute("INSERT INTO schedule_fires (schedule, due, state, reason, count, decided) "
                           "VALUES (?, ?, 'skipped', ?, ?, ?)", (name, due, reason, count, now))
        except sqlite3.IntegrityError:
            return False
        return True

    def skip_many(self, name: str, skips: list[tuple[float, str, int]], now: float) -> list[tuple[float, str, int]]:
        """Record many skipped due times in one transaction; returns those not already decided."""
        out = []
        with self._tx() as db:
            for due, reason, count in skips:
                cur = db.execute("INSERT OR IGNORE INTO schedule_fires (schedule, due, state, reason, count, decided) "
                                 "VALUES (?, ?, 'skipped', ?, ?, ?)", (name, due, reason, count, now))
                if cur.rowcount:
                    out.append((due, reason, count))
        return out

    def set_runs(self, name: str, due: float, runs: list[str]) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedule_fires SET runs = ? WHERE schedule = ? AND due = ?",
                       (json.dumps(runs), name, due))

    def finish(self, name: str, due: float, verdict: str, score: int | None, report: str, reason: str,
               runs: list[str], now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedule_fires SET state = 'finished', ended = ?, verdict = ?, score = ?, "
                       "report = ?, reason = ?, runs = ? WHERE schedule = ? AND due = ? AND state = 'running'",
                       (now, verdict, score, report, reason, json.dumps(runs), name, due))

    def fires(self, name: str | None = None, *, states: tuple[str, ...] = (), limit: int = 200) -> list[FireRow]:
        """Newest first."""
        where, args = [], []
        if name is not None:
            where.append("schedule = ?")
            args.append(name)
        if states:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        sql = (f"SELECT {_FIRE_COLS} FROM schedule_fires" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY due DESC LIMIT ?")
        rows = self._select(sql, (*args, limit))
        return [FireRow(schedule=r[0], due=r[1], trigger=r[2], state=r[3], reason=r[4], count=r[5], gameday_id=r[6],
                        decided=r[7], ended=r[8], verdict=r[9], score=r[10], report=r[11], runs=_run_ids(r[12]),
                        pid=r[13], pid_start=r[14], host=r[15]) for r in rows]

    def orphans(self, now: float) -> list[FireRow]:
        """Mark game days whose scheduler died mid-run as ``orphaned`` (verdict aborted); returns them."""
        found = [f for f in self.fires(states=("running",), limit=10_000) if not f.alive]
        for f in found:
            with self._tx() as db:
                db.execute("UPDATE schedule_fires SET state = 'orphaned', verdict = 'aborted', ended = ?, "
                           "reason = ? WHERE schedule = ? AND due = ? AND state = 'running'",
                           (now, "the scheduler running it died; its faults were recovered at the next start",
                            f.schedule, f.due))
        return found

    def outcomes(self, name: str, since: float = 0.0, limit: int = 100) -> list[str]:
        """Verdicts of finished (or orphaned) game days decided after ``since``, newest first."""
        rows = self._select("SELECT verdict FROM schedule_fires WHERE schedule = ? AND state IN "
                            "('finished', 'orphaned') AND decided > ? ORDER BY due DESC LIMIT ?",
                            (name, since, limit))
        return [str(r[0]) for r in rows]
