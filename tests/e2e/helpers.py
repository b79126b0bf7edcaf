"""Helpers of the end-to-end tests: the CLI as a subprocess with its NDJSON events read as they come,
and a process audit of everything the tests (and the CLIs they start) spawned.

``Cli.start`` runs the venv's ``aftershock`` console script with
``--output json``; ``await cli.event("FaultInjected")`` waits for that event line (bounded), never
sleeps. ``Subreaper`` makes this test process adopt every orphaned descendant (Linux
``PR_SET_CHILD_SUBREAPER``), so ``leftovers()`` finds a Prometheus, demo service, fault proxy or
watchdog that outlived the CLI that started it — without confusing it with processes other
people run on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36
AFTERSHOCK = Path(sys.executable).parent / "aftershock"
"""The console script of this venv (what users run)."""
OURS = ("chaos.demo.services", "chaos.clients.host.proxy", "chaos.clients.host.watchdog", "chaos.cli",
        "chaos.targets.undo_watchdog", "aftershock")


@dataclass
class Cli:
    """One ``aftershock`` subprocess; stdout lines parsed as NDJSON events as they arrive."""

    proc: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _err_reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None, binary: Path | None = None,
                    cwd: Path | None = None) -> Cli:
        """``binary`` (default: this venv's ``aftershock``) run with ``args`` in ``cwd`` (default: the repo)."""
        proc = await asyncio.create_subprocess_exec(
            str(binary or AFTERSHOCK), *args, cwd=str(cwd or REPO), env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        cli = cls(proc)
        cli._reader = asyncio.create_task(cli._read())
        cli._err_reader = asyncio.create_task(cli._read_err())
        return cli

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict) and "event" in data:
                    self.events.append(data)
            self._new.set()
        self._new.set()

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr += raw.decode(errors="replace")
            self._new.set()
        self._new.set()

    async def said(self, text: str, timeout: float = 60.0) -> None:
        """Await a line of stderr containing ``text`` (bounded)."""
        async def wait() -> None:
            while text not in self.stderr:
                if self._err_reader is not None and self._err_reader.done():
                    raise AssertionError(f"aftershock exited without saying {text!r}; stderr: {self.stderr[-2000:]}")
                self._new.clear()
                await self._new.wait()
        await asyncio.wait_for(wait(), timeout)

    def find(self, kind: str, **match: Any) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == kind
                     and all(e.get(k) == v for k, v in match.items())), None)

    async def event(self, kind: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        """The first ``kind`` event (with these field values), awaiting its line (bounded)."""
        async def wait() -> dict[str, Any]:
            while True:
                found = self.find(kind, **match)
                if found is not None:
                    return found
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"aftershock exited without a {kind} event; stderr: {self.stderr[-2000:]}")
                self._new.clear()
                await self._new.wait()
        return await asyncio.wait_for(wait(), timeout)

    async def wait(self, timeout: float = 120.0) -> int:
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        for task in (self._reader, self._err_reader):
            if task is not None:
                await asyncio.wait_for(task, 10)
        return rc

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.wait(30)

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events if e["event"] != "SloSampled"]

    def index(self, kind: str, **match: Any) -> int:
        """Position in the event stream of the first ``kind`` event with these field values."""
        for i, e in enumerate(self.events):
            if e["event"] == kind and all(e.get(k) == v for k, v in match.items()):
                return i
        raise AssertionError(f"no {kind} {match} in {self.kinds()}")

    @property
    def final(self) -> dict[str, Any]:
        found = self.find("RunFinished")
        assert found is not None, f"no RunFinished; events {self.kinds()}; stderr {self.stderr[-2000:]}"
        return found


async def aftershock(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run one short ``aftershock`` command to completion: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        str(AFTERSHOCK), *args, cwd=str(REPO), env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# ------------------------------------------------------------------------------ process audit


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


class Subreaper:
    """While active, orphaned descendants of this process are re-parented to it (not to init)."""

    def __enter__(self) -> Subreaper:
        if _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.reap_zombies()
        _libc().prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

    @staticmethod
    def reap_zombies() -> None:
        """Collect adopted children that already exited (never the ones asyncio still waits for:
        only zombies whose command line is gone and that are not our direct subprocesses)."""
        for proc in descendants():
            if proc.state == "Z" and proc.ppid == os.getpid():
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(proc.pid, os.WNOHANG)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str
    state: str
    cmdline: str


def _proc(pid: int) -> Proc | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return Proc(pid=pid, ppid=int(fields.get("PPid", "0")), name=fields.get("Name", "").strip(),
                state=fields.get("State", "?")[:1], cmdline=cmdline.strip())


def descendants(root: int | None = None) -> list[Proc]:
    """Every live descendant of ``root`` (default: this process), from /proc."""
    root = os.getpid() if root is None else root
    procs = [p for p in (_proc(int(d)) for d in os.listdir("/proc") if d.isdigit()) if p is not None]
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out: list[Proc] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.pid)
    return out


BASELINE: set[tuple[int, str]] = set()
"""``(pid, cmdline)`` of the descendants running when the current test started (set by the
``audit`` fixture): another test's session or module fixture — the Prometheus of tests/monitor on
the same xdist worker — is not this test's leftover."""


def leftovers() -> list[Proc]:
    """Descendants that are ours, still running and not in :data:`BASELINE`: Prometheus, demo
    services, fault proxies, watchdogs, aftershock itself (zombies are reaped first: they are gone already)."""
    Subreaper.reap_zombies()
    return [p for p in descendants() if p.state != "Z" and (p.pid, p.cmdline) not in BASELINE
            and (p.name == "prometheus" or any(mark in p.cmdline for mark in OURS))]


def running() -> set[tuple[int, str]]:
    """``(pid, cmdline)`` of every descendant now (the :data:`BASELINE` of a test)."""
    return {(p.pid, p.cmdline) for p in descendants()}


def terminate(procs: list[Proc]) -> None:
    """Last-resort cleanup in ``finally`` so a failing test leaves nothing running."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    Subreaper.reap_zombies()


def ctk_keys(journal: dict[str, Any]) -> set[str]:
    return {"status", "deviated", "start", "end", "duration", "steady_states", "run", "rollbacks",
            "experiment"} - set(journal)
