"""``disk-fill``: a file of ``size`` bytes written into ``directory`` for the fault's duration.

A fault kind that does its own I/O on the host (``HostRealisation.custom``). Bounded by the thing that
injects it: a detached watchdog process (its own session, so it survives the run being killed) deletes
the file at the deadline. ``plan`` is pure and recorded before ``inject``; ``remove`` and ``present``
work from that record alone, as ``aftershock recover`` calls them from another process.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind, HostIO, HostRealisation

MAX_SIZE = 1 << 30

WATCHDOG = """
import os, sys, time
path, deadline = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, deadline - time.time()))
try:
    os.unlink(path)
except FileNotFoundError:
    pass
"""


class DiskFill(FaultBase):
    type: Literal["disk-fill"]
    directory: str = Field(min_length=1)
    """The directory to fill (created if missing)."""
    size: int = Field(ge=1, le=MAX_SIZE)
    """Bytes written (at most 1 GiB)."""


class DiskFillRealiser:
    def plan(self, fault: DiskFill) -> dict[str, Any]:
        return {"directory": fault.directory, "size": fault.size}

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"write {params['size']} bytes into {params['directory']}"

    async def inject(self, params: Mapping[str, Any], io: HostIO) -> dict[str, Any]:
        path = _path(params, io)

        def write() -> int:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.truncate(int(params["size"]))
            watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(path), str(io.deadline)],
                                        start_new_session=True, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return watchdog.pid

        pid = await asyncio.to_thread(write)
        return {"file": str(path), "watchdog": pid}

    async def remove(self, record: Mapping[str, Any], io: HostIO) -> bool:
        path = Path(record.get("file") or _path(record, io))
        pid = record.get("watchdog")
        if pid and _is_our_watchdog(int(pid), str(path)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def present(self, record: Mapping[str, Any], io: HostIO) -> bool | None:
        return Path(record.get("file") or _path(record, io)).exists()


def _path(params: Mapping[str, Any], io: HostIO) -> Path:
    return Path(str(params["directory"])) / f"aftershock-{io.run_id}-{io.fault}.fill"


def _is_our_watchdog(pid: int, path: str) -> bool:
    """Only a process whose command line names this file is ours (a recycled pid is left alone)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return path.encode() in args


KIND = FaultKind(
    name="disk-fill", model=DiskFill, words="disk fill",
    describe=lambda f: f"write {f.size} bytes into {f.directory}",
    host=HostRealisation(custom=DiskFillRealiser()),
)
