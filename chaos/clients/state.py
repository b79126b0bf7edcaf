"""The state directory: SQLite records of runs, write-ahead fault records, applied actions and
the undo plans of open mitigations.

A fault is recorded here (committed, fsync'd by SQLite's WAL) *before* it exists anywhere,
so ``aftershock recover`` can always find what a crashed run left behind — including a run of an
older release: the schema is versioned (``PRAGMA user_version``, :data:`SCHEMA_VERSION`) and
migrated forward when a store is opened (:data:`MIGRATIONS`; a newer database is refused, never
rewritten), and every JSON record carries its record version (``"v"``), read by one
deserialiser per record type (:func:`realisation_of`, ``chaos.targets.undo.undo_from_record``).
``tests/engine/fixtures/state-v0.db`` is a database written by the previous release; the
migration test reads it with today's ``recover``. Uses the standard library's ``sqlite3`` (no
ORM: four small tables, plain SQL, one connection per store). Callers: the run driver,
``recover``, ``runs``/``show``/``report``, the TUI's history (through the engine).
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
from typing import Any, Literal

from chaos.errors import StateError
from chaos.secrets import scrub_data

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a current database (0: the first release, before versioning)."""
RECORD_VERSION = 1
"""``"v"`` of the JSON records written now (realisations, undo items); absent means 0."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    ended REAL,
    verdict TEXT,
    exit_code INTEGER,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    journal TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS faults (
    run_id TEXT NOT NULL,
    fault TEXT NOT NULL,
    fault_type TEXT NOT NULL,
    realisation TEXT NOT NULL,
    deadline REAL NOT NULL,
    state TEXT NOT NULL,
    recorded REAL NOT NULL,
    removed REAL,
    PRIMARY KEY (run_id, fault)
);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (run_id, decision_id)
);
"""
"""The schema of version 0; :data:`MIGRATIONS` bring it (and any older database) forward."""

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS undo (
    run_id TEXT PRIMARY KEY,
    items TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL
);
INSERT OR REPLACE INTO undo (run_id, items, state, at)
    SELECT run_id, COALESCE(json_extract(detail, '$.items'), '[]'), state, at FROM actions
    WHERE decision_id = 'undo-plan';
DELETE FROM actions WHERE decision_id = 'undo-plan';
""",
}
"""Version → the SQL that brings a database of the version before to it (run in one transaction).
Version 1: the undo plan of open mitigations moves from a magic row of ``actions`` to its own table."""

FaultState = Literal["recorded", "injected", "removed", "failed"]
UndoState = Literal["pending", "done"]


def realisation_of(record: dict[str, Any]) -> dict[str, Any]:
    """Read a stored realisation of any record version (the one deserialiser; version 0 had no
    ``"v"`` and the same keys)."""
    version = int(record.get("v", 0))
    if version > RECORD_VERSION:
        raise StateError(f"a fault record of version {version} was written by a newer Aftershock "
                         f"(this one reads up to {RECORD_VERSION})")
    return {**record, "v": RECORD_VERSION}


def default_state_dir() -> Path:
    """``$AFTERSHOCK_STATE_DIR``, else ``$XDG_STATE_HOME/aftershock``, else ``~/.local/state/aftershock``."""
    explicit = os.environ.get("AFTERSHOCK_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "aftershock"


def process_start(pid: int) -> str:
    """Start time of ``pid`` (field 22 of /proc/PID/stat), to tell a live run from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def run_alive(pid: int, pid_start: str, host: str) -> bool:
    if host and host != socket.gethostname():
        return True  # another machine's run: we cannot tell, assume alive
    return bool(pid_start) and process_start(pid) == pid_start


@dataclass(frozen=True)
class RunRow:
    id: str
    experiment: str
    source: str
    target: str
    started: float
    ended: float | None
    verdict: str | None
    exit_code: int | None
    pid: int
    pid_start: str
    host: str
    journal: str

    @property
    def alive(self) -> bool:
        return self.ended is None and run_alive(self.pid, self.pid_start, self.host)


@dataclass(frozen=True)
class FaultRow:
    run_id: str
    fault: str
    fault_type: str
    realisation: dict[str, Any]
    """How to remove it: ``{"v": 1, "kind": "proxy"|"iptables"|"tc"|"kubernetes"|..., ...}``."""
    deadline: float
    state: FaultState
    """recorded (write-ahead), injected, removed, failed."""
    recorded: float
    removed: float | None

    @property
    def kind(self) -> str:
        return str(self.realisation.get("kind", ""))

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


LIVE_STATES = ("recorded", "injected", "failed")


@dataclass(frozen=True)
class ActionRow:
    """One applied (or failed) policy action of a run."""

    run_id: str
    decision_id: str
    action: str
    detail: dict[str, Any]
    state: str
    at: float


@dataclass(frozen=True)
class UndoRow:
    """The undo plan of a run's open mitigations (items: ``chaos.targets.undo`` records)."""

    run_id: str
    items: list[dict[str, Any]]
    state: UndoState
    at: float


class StateStore:
    """One SQLite database in the state directory. Not shared across threads."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.dir = Path(state_dir) if state_dir is not None else default_state_dir()
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.dir / "journals").mkdir(exist_ok=True)
            self.path = self.dir / "state.db"
            # the TUI creates the engine on its UI thread and drives it from the engine thread
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._lock = threading.RLock()
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state directory {self.dir}: {exc}") from exc

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Create a fresh database, or bring an older one forward; refuse a newer one."""
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StateError(f"the state database {self.path} has schema version {version}, written by a newer "
                             f"Aftershock (this one reads up to {SCHEMA_VERSION}); upgrade Aftershock")
        if version == 0:
            self._db.executescript(SCHEMA)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._db.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[target]}\nPRAGMA user_version = {target};\n"
                                   "COMMIT;")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield from self._tx_unlocked()

    def _tx_unlocked(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from exc

    # ------------------------------------------------------------ runs

    def start_run(self, run_id: str, experiment: str, source: str, target: str,
                  started: float | None = None) -> None:
        pid = os.getpid()
        with self._tx() as db:
            db.execute("INSERT INTO runs (id, experiment, source, target, started, pid, pid_start, host) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, experiment, source, target, started or time.time(), pid,
                        process_start(pid), socket.gethostname()))

    def finish_run(self, run_id: str, verdict: str, exit_code: int, journal: str,
                   ended: float | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET ended = ?, verdict = ?, exit_code = ?, journal = ? WHERE id = ?",
                       (time.time() if ended is None else ended, verdict, exit_code, journal, run_id))

    def run(self, run_id: str) -> RunRow | None:
        rows = self._runs("WHERE id = ?", (run_id,))
        if rows:
            return rows[0]
        like = self._runs("WHERE id LIKE ? ORDER BY started DESC", (run_id + "%",))
        return like[0] if len(like) == 1 else None

    def runs(self, limit: int = 100) -> list[RunRow]:
        return self._runs("ORDER BY started DESC LIMIT ?", (limit,))

    def _runs(self, where: str, args: tuple[Any, ...]) -> list[RunRow]:
        try:
            cur = self._db.execute(
                "SELECT id, experiment, source, target, started, ended, verdict, exit_code, pid, pid_start, "
                f"host, journal FROM runs {where}", args)
            return [RunRow(*row) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from exc

    # ------------------------------------------------------------ faults (write-ahead)

    def record_fault(self, run_id: str, fault: str, fault_type: str, realisation: dict[str, Any],
                     deadline: float) -> None:
        """Durably record a fault *before* it is injected."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO faults (run_id, fault, fault_type, realisation, deadline, state, "
                       "recorded) VALUES (?, ?, ?, ?, ?, 'recorded', ?)",
                       (run_id, fault, fault_type, _record(scrub_data(realisation)), deadline, time.time()))

    def update_fault(self, run_id: str, fault: str, state: FaultState,
                     realisation: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if realisation is not None:
                db.execute("UPDATE faults SET realisation = ? WHERE run_id = ? AND fault = ?",
                           (_record(scrub_data(realisation)), run_id, fault))
            db.execute("UPDATE faults SET state = ?, removed = ? WHERE run_id = ? AND fault = ?",
                       (state, time.time() if state == "removed" else None, run_id, fault))

    def fault(self, run_id: str, fault: str) -> FaultRow | None:
        return next((r for r in self.faults(run_id) if r.fault == fault), None)

    def faults(self, run_id: str | None = None, live_only: bool = False) -> list[FaultRow]:
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if live_only:
            where.append("state IN ('recorded', 'injected', 'failed')")
        sql = ("SELECT run_id, fault, fault_type, realisation, deadline, state, recorded, removed FROM faults"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY recorded")
        try:
            rows = self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from exc
        return [FaultRow(r[0], r[1], r[2], realisation_of(json.loads(r[3])), r[4], r[5], r[6], r[7]) for r in rows]

    # ------------------------------------------------------------ actions

    def record_action(self, run_id: str, decision_id: str, action: str, detail: dict[str, Any],
                      state: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO actions (run_id, decision_id, action, detail, state, at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, decision_id, action, json.dumps(scrub_data(detail)), state, time.time()))

    def actions(self, run_id: str) -> list[ActionRow]:
        rows = self._db.execute("SELECT run_id, decision_id, action, detail, state, at FROM actions WHERE run_id = ? "
                                "ORDER BY at", (run_id,)).fetchall()
        return [ActionRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    # ------------------------------------------------------------ undo plans

    def record_undo(self, run_id: str, items: list[dict[str, Any]]) -> None:
        """Replace the run's undo plan (``pending`` while it has items, else ``done``)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO undo (run_id, items, state, at) VALUES (?, ?, ?, ?)",
                       (run_id, json.dumps([scrub_data({**i, "v": i.get("v", RECORD_VERSION)}) for i in items]),
                        "pending" if items else "done", time.time()))

    def undo_plans(self, pending_only: bool = True) -> list[UndoRow]:
        sql = "SELECT run_id, items, state, at FROM undo" + (" WHERE state = 'pending'" if pending_only else "")
        try:
            rows = self._db.execute(sql + " ORDER BY at").fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from exc
        return [UndoRow(r[0], list(json.loads(r[1])), r[2], r[3]) for r in rows]

    # ------------------------------------------------------------ journals

    def journal_path(self, run_id: str) -> Path:
        return self.dir / "journals" / f"{run_id}.json"

    def write_journal(self, run_id: str, journal: dict[str, Any]) -> Path:
        path = self.journal_path(run_id)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(scrub_data(journal), indent=2, default=str))
            os.replace(tmp, path)
        except OSError as exc:
            raise StateError(f"cannot write journal {path}: {exc}") from exc
        return path

    def read_journal(self, run_id: str) -> dict[str, Any]:
        path = self.journal_path(run_id)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise StateError(f"no journal for run {run_id} in {self.dir}") from None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read journal {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise StateError(f"journal {path} is not a JSON object")
        return data


def _record(realisation: dict[str, Any]) -> str:
    return json.dumps({**realisation, "v": RECORD_VERSION})
