"""The host-wide run registry: liveness decided by the owner, never by absence from one store.

Each live run holds an exclusive ``flock`` on ``<run dir>/<run id>.lock`` for as long as it lives;
the kernel drops the lock when the process dies, even by SIGKILL, so "is run X alive on this host?"
is answered by trying to take the lock — whatever state directory X was started with. The file
also names the run's pid and state directory (for ``aftershock status``). The lock fd is not
inherited by children (Python opens files close-on-exec), so a watchdog or a fault proxy that
outlives a killed run never makes it look alive.

The run dir is ``$AFTERSHOCK_RUN_DIR``, else ``/run/aftershock`` for root, else
``$XDG_RUNTIME_DIR/aftershock``, else ``/tmp/aftershock-<uid>``. Whoever could write in it could
make a dead run look alive (its faults never recovered) or name a state dir for ``status`` to read,
so it is checked like ssh's StrictModes before it is used (:func:`checked_run_dir`): a real
directory (never a symlink — ``/tmp`` is anyone's to create names in), owned by the invoking user,
not writable by group or others; otherwise refused (exit 3) and nothing is done. Callers: the
engine and Chaos Toolkit runs (hold a lock per run), ``aftershock recover`` (skips faults of runs
that are alive) and ``aftershock status``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import StateError


def run_dir() -> Path:
    explicit = os.environ.get("AFTERSHOCK_RUN_DIR")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/run/aftershock")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "aftershock"
    return Path(f"/tmp/aftershock-{os.getuid()}")


def checked_run_dir(directory: Path | None = None, *, create: bool = False) -> Path | None:
    """The run dir, checked (see the module docstring); None when it does not exist and ``create`` is
    False (no run has ever held a lock: none is alive)."""
    base = directory or run_dir()
    if create:
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            base.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StateError(f"cannot create the run registry {base}: {exc.strerror or exc}") from exc
    try:
        info = os.lstat(base)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read the run registry {base}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StateError(f"refusing the run registry {base}: it is not a directory (a symlink or a file someone "
                         "put there); remove it, or set AFTERSHOCK_RUN_DIR to a directory of your own")
    euid = os.geteuid()
    if info.st_uid != euid:
        raise StateError(f"refusing the run registry {base}: it is owned by uid {info.st_uid}, not by you "
                         f"(uid {euid}); remove it, or set AFTERSHOCK_RUN_DIR to a directory of your own")
    if info.st_mode & 0o022:
        raise StateError(f"refusing the run registry {base}: it is writable by group or others "
                         f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 700 {base}`")
    return base


@dataclass(frozen=True)
class LiveRun:
    """A run that holds its host-wide lock: its id, process and state dir."""

    run_id: str
    pid: int
    state_dir: str
    started: float


class RunLock:
    """The lock a live run holds. ``release()`` at the end of the run (the kernel does it on death)."""

    def __init__(self, run_id: str, state_dir: Path | str, directory: Path | None = None) -> None:
        self.run_id = run_id
        base = checked_run_dir(directory, create=True)
        assert base is not None
        self.path = base / f"{run_id}.lock"
        self._fd: int | None = None
        while self._fd is None:
            fd = self._lock()
            # a prober may have removed the file between our open and our flock: lock the file that is there
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    self._fd = fd
                    break
            os.close(fd)
        record = {"run_id": run_id, "pid": os.getpid(), "state_dir": str(Path(state_dir).resolve()),
                  "started": time.time()}
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps(record).encode())

    def _lock(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StateError(f"cannot create the run lock {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StateError(f"run {self.run_id} is already live on this host (lock {self.path})") from exc
            raise StateError(f"cannot lock {self.path}: {exc.strerror}") from exc
        return fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _probe(path: Path) -> dict[str, Any] | None:
    """The record of a lock file if a live process holds it, else None (a stale file is removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            data = os.pread(fd, 65536, 0)
            try:
                record = json.loads(data or b"{}")
            except ValueError:
                record = {}
            return record if isinstance(record, dict) else {}
        with contextlib.suppress(OSError):  # nobody holds it: the run is dead; tidy up
            path.unlink()
        return None
    finally:
        os.close(fd)


def is_alive(run_id: str, directory: Path | None = None) -> bool:
    """Whether a process on this host holds run ``run_id``'s lock right now."""
    if not run_id or "/" in run_id or run_id.startswith("."):
        return False
    base = checked_run_dir(directory)
    return base is not None and _probe(base / f"{run_id}.lock") is not None


def live_runs(directory: Path | None = None) -> list[LiveRun]:
    """Every run alive on this host (whatever its state directory)."""
    base = checked_run_dir(directory)
    out: list[LiveRun] = []
    if base is None:
        return out
    with contextlib.suppress(OSError):
        for path in sorted(base.glob("*.lock")):
            record = _probe(path)
            if record is None:
                continue
            try:  # what a lock file says is data: a forged value is no crash
                pid, started = int(record.get("pid") or 0), float(record.get("started") or 0.0)
            except (TypeError, ValueError):
                pid, started = 0, 0.0
            out.append(LiveRun(path.stem, pid, str(record.get("state_dir") or ""), started))
    return out
