"""A temporary network namespace left by a process killed inside its block (kill -9 during a
run's capability probe) is deleted by the next process that makes one; a live owner's is kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from chaos.clients.host.netns import NETNS_DIR, temporary_netns

pytestmark = pytest.mark.root


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no such process now (pid reuse within the test is not a concern)


def test_a_dead_owners_namespace_is_swept_and_a_live_ones_kept() -> None:
    dead = f"aftershock-probe-{_dead_pid()}-0123abcd"
    alive = f"aftershock-probe-{os.getpid()}-4567cdef"
    foreign = "aftershock-probe-e4a350a8"  # not of this naming: never touched
    for name in (dead, alive, foreign):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with temporary_netns("test") as inside:
            inside.run(["ip", "link", "show", "lo"])
            names = {p.name for p in NETNS_DIR.iterdir()}
            assert dead not in names and alive in names and foreign in names
            mine = [n for n in names if n.startswith(f"aftershock-test-{os.getpid()}-")]
            assert len(mine) == 1
        assert not [p for p in NETNS_DIR.iterdir() if p.name.startswith(f"aftershock-test-{os.getpid()}-")]
    finally:
        for name in (dead, alive, foreign):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    assert not {dead, alive, foreign} & {p.name for p in Path(NETNS_DIR).iterdir()}
