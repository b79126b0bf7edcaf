"""The state directory: SQLite records of runs, write-ahead fault records, applied actions and
the undo plans of open mitigations.

A fault is recorded here (committed, fsync'd by SQLite's WAL) *before* it exists anywhere,
so ``aftershock recover`` can always find what a crashed run left behind — including a run of an
older release: the schema is versioned (``PRAGMA user_version``, :data:`SCHEMA_VERSION`) and
migrated forward when a store is opened (:data:`MIGRATIONS`; a newer database is refused, never
rewritten), and every JSON record carries its record version (``"v"``), read by one
deserialiser per record type (:func:`realisation_of`, ``chaos.targets.undo.undo_from_record``).
This module is the one owner of the database schema: the schedule tables
(:mod:`chaos.clients.schedule_store`) are created by the same migrations and opened through the
same :func:`open_database`. ``tests/engine/fixtures/state-v0.db`` and ``state-v1.db`` are
databases written by previous releases; the migration tests read them with today's ``recover``.

The state directory is trusted like code (its records say what ``recover`` removes), so it is
checked like ssh's ``StrictModes`` before anything is read or written (:func:`secure_dir`): owned by
the invoking user, not writable by group or others; ``state.db`` (and SQLite's WAL/SHM, created
with its mode), journals and reports are 0600, directories 0700. A row that cannot be read (corrupt
JSON, a record of a newer version) is reported and skipped — quarantined, never rewritten — so one
bad row never stops the recovery of the others (:meth:`StateStore.damaged_faults`).
Uses the standard library's ``sqlite3`` (no ORM: small tables, plain SQL, one connection per
store). Callers: the run driver, ``recover``, ``status``, ``runs``/``show``/``report``, the
schedule store, the TUI's history (through the engine).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chaos.errors import StateError
from chaos.secrets import scrub_data

log = logging.getLogger("aftershock.state")

SCHEMA_VERSION = 2
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
    2: """
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL DEFAULT '',
    since REAL NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    suspended TEXT NOT NULL DEFAULT '',
    resumed REAL NOT NULL DEFAULT 0,
    next_fire REAL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_fires (
    schedule TEXT NOT NULL,
    due REAL NOT NULL,
    trigger TEXT NOT NULL DEFAULT 'schedule',
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL DEFAULT 1,
    gameday_id TEXT NOT NULL DEFAULT '',
    decided REAL NOT NULL,
    ended REAL,
    verdict TEXT,
    score INTEGER,
    report TEXT NOT NULL DEFAULT '',
    runs TEXT NOT NULL DEFAULT '[]',
    pid INTEGER NOT NULL DEFAULT 0,
    pid_start TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (schedule, due)
);
""",
}
"""Version → the SQL that brings a database of the version before to it (run in one transaction).
Version 1: the undo plan of open mitigations moves from a magic row of ``actions`` to its own table.
Version 2: the schedule tables (until then created by the schedule store itself, outside the
versioning; ``IF NOT EXISTS`` keeps the rows of a database that has them)."""

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


def secure_dir(path: Path, what: str = "state directory") -> Path:
    """Create ``path`` (0700) or check an existing one like ssh's StrictModes: a directory (not a
    symlink to one owned by someone else), owned by the invoking user, not writable by group or others.
    Raises :class:`StateError` (exit 3) naming the fix; nothing is read or written before."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except OSError as exc:
        raise StateError(f"cannot create the {what} {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"refusing the {what} {path}: it is not a directory")
    _check_owner_mode(path, info, what)
    return path


def _check_owner_mode(path: Path, info: os.stat_result, what: str) -> None:
    euid = os.geteuid()
    if info.st_uid != euid:
        raise StateError(f"refusing the {what} {path}: it is owned by uid {info.st_uid}, not by you (uid {euid}); "
                         "what is in it could be anyone's — use one of your own (--state-dir) or chown it")
    if info.st_mode & 0o022:
        raise StateError(f"refusing the {what} {path}: it is writable by group or others "
                         f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod go-w {path}`")


def private_file(path: Path, what: str = "state file", *, create: bool = True) -> None:
    """Create ``path`` 0600, or check an existing one (a regular file owned by the user, not writable
    by others) and take group/other access away (files of older releases were 0644). Also for
    SQLite's WAL/SHM (``create=False``: SQLite makes and removes those itself).

    An existing file is checked by ``lstat`` and never opened: closing any descriptor of a file drops
    every POSIX lock this process holds on it, and another connection of this process (a parallel
    game day, the TUI's engine) holds SQLite's locks on the database and its ``-shm``; without them a
    third connection re-initialises the ``-shm`` under the first ("disk I/O error"). Checking by path
    is safe here because the directory was checked first: only its owner can put names in it."""
    try:
        if not create:
            raise FileExistsError
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"cannot open the {what} {path}: {exc.strerror or exc}") from exc
    else:  # new and empty: no connection holds a lock on it yet
        os.close(fd)
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:  # SQLite removed its -wal/-shm as the last connection closed
        return
    except OSError as exc:
        raise StateError(f"cannot open the {what} {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"refusing the {what} {path}: it is not a regular file")
    _check_owner_mode(path, info, what)
    if stat.S_IMODE(info.st_mode) & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as exc:
            raise StateError(f"cannot make the {what} {path} private: {exc.strerror or exc}") from exc


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically as a 0600 file (journals, reports)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def open_database(state_dir: Path) -> tuple[sqlite3.Connection, Path]:
    """The state database of ``state_dir`` (checked, 0600, WAL, synchronous=FULL), migrated to
    :data:`SCHEMA_VERSION`; a newer database is refused, never written. The one way to open it."""
    try:
        secure_dir(state_dir)
        path = state_dir / "state.db"
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            private_file(state_dir / name, "state database", create=name == "state.db")
        # the TUI creates the engine on its UI thread and drives it from the engine thread
        db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _migrate(db, path)
        except BaseException:
            db.close()
            raise
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot open the state directory {state_dir}: {exc}") from exc
    return db, path


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create a fresh database, or bring an older one forward; refuse a newer one."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StateError(f"the state database {path} has schema version {version}, written by a newer "
                         f"Aftershock (this one reads up to {SCHEMA_VERSION}); upgrade Aftershock")
    if version == 0:
        db.executescript(SCHEMA)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[target]}\nPRAGMA user_version = {target};\nCOMMIT;")


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
    """One row of the runs table."""

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
    """One row of the faults table: a fault's record (written ahead of its injection)."""

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
class Damaged:
    """A row that cannot be read back: reported and skipped, every other row still handled."""

    table: str
    """``fault`` or ``undo plan``."""
    run_id: str
    name: str
    problem: str

    def describe(self) -> str:
        what = f"{self.run_id}/{self.name}" if self.name else self.run_id
        return f"{what}: the {self.table} record cannot be read ({self.problem}); skipped — remove it by hand"


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
        self._db, self.path = open_database(self.dir)
        self._lock = threading.RLock()
        try:
            secure_dir(self.dir / "journals", "journal directory")
        except StateError:
            self._db.close()
            raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
        """The readable fault rows (a damaged one is logged and skipped: :meth:`damaged_faults`)."""
        rows, damaged = self._faults(run_id, live_only)
        for bad in damaged:
            log.warning("skipping the fault record %s/%s: %s", bad.run_id, bad.name, bad.problem)
        return rows

    def damaged_faults(self, run_id: str | None = None, live_only: bool = True) -> list[Damaged]:
        """Fault rows that cannot be read (corrupt JSON, a newer record version): quarantined —
        reported, never acted on and never rewritten (a newer Aftershock may still read them)."""
        return self._faults(run_id, live_only)[1]

    def _faults(self, run_id: str | None, live_only: bool) -> tuple[list[FaultRow], list[Damaged]]:
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
        out: list[FaultRow] = []
        damaged: list[Damaged] = []
        for r in rows:
            try:
                record = _json_object(r[3])
                out.append(FaultRow(str(r[0]), str(r[1]), str(r[2]), realisation_of(record), float(r[4]), r[5],
                                    float(r[6]), r[7]))
            except (StateError, ValueError, TypeError) as exc:
                damaged.append(Damaged("fault", str(r[0]), str(r[1]), str(exc)))
        return out, damaged

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
        """The readable undo plans (a damaged one is logged and skipped: :meth:`damaged_undo_plans`)."""
        plans, damaged = self._undo_plans(pending_only)
        for bad in damaged:
            log.warning("skipping the undo plan of run %s: %s", bad.run_id, bad.problem)
        return plans

    def damaged_undo_plans(self, pending_only: bool = True) -> list[Damaged]:
        return self._undo_plans(pending_only)[1]

    def _undo_plans(self, pending_only: bool) -> tuple[list[UndoRow], list[Damaged]]:
        sql = "SELECT run_id, items, state, at FROM undo" + (" WHERE state = 'pending'" if pending_only else "")
        try:
            rows = self._db.execute(sql + " ORDER BY at").fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from exc
        plans: list[UndoRow] = []
        damaged: list[Damaged] = []
        for r in rows:
            try:
                items = json.loads(r[1])
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise ValueError("not a JSON list of records")
            except ValueError as exc:
                damaged.append(Damaged("undo plan", str(r[0]), "", f"unreadable record: {exc}"))
                continue
            plans.append(UndoRow(r[0], items, r[2], r[3]))
        return plans, damaged

    # ------------------------------------------------------------ journals

    def journal_path(self, run_id: str) -> Path:
        return self.dir / "journals" / f"{run_id}.json"

    def write_journal(self, run_id: str, journal: dict[str, Any]) -> Path:
        path = self.journal_path(run_id)
        try:
            write_private(path, json.dumps(scrub_data(journal), indent=2, default=str))
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


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(f"unreadable record (corrupt JSON: {exc})") from exc
    if not isinstance(data, dict):
        raise StateError("unreadable record (not a JSON object)")
    return data


def _record(realisation: dict[str, Any]) -> str:
    return json.dumps({**realisation, "v": RECORD_VERSION})
