"""Shared by the Chaos Toolkit interop tests: the installed console scripts (``aftershock``, the real
``chaos``) run as subprocesses with a bounded wait, and the check that nothing of a run is left
running. (The experiments they run come from ``harness.experiments``.)"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
AFTERSHOCK = str(BIN / "aftershock")
CHAOS = str(BIN / "chaos")


async def run_cli(*argv: str, env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run a console script; its exit code, stdout and stderr (killed after ``timeout`` seconds)."""
    proc = await asyncio.create_subprocess_exec(*argv, cwd=str(cwd), env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def chaos_run(exported: Path, journal: Path, log: Path, *, env: dict[str, str], cwd: Path,
                    timeout: float = 120) -> tuple[int, str, str]:
    """The real ``chaos run`` of an exported experiment, its journal and log where given."""
    return await run_cli(CHAOS, "--no-version-check", "--log-file", str(log), "run", "--journal-path", str(journal),
                         str(exported), env=env, cwd=cwd, timeout=timeout)


def processes_mentioning(*marks: str) -> list[str]:
    """Processes whose command line contains one of ``marks`` (a run's state dir: its watchdogs, proxies)."""
    out = []
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmdline for m in marks):
            out.append(f"{pid}: {cmdline}")
    return out
