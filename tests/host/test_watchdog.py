"""The deadline watchdog takes only "rule absent" (``iptables -C`` exit 1) for gone: a check that
cannot tell (exit 4, the xtables lock is held by someone else) keeps it watching, and it removes the
rule at the deadline. Real detached watchdog process; the check and removal are small scripts that
play iptables' exit codes."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

from chaos.clients.host import watchdog

CHECK = """
import pathlib, sys
calls = pathlib.Path(sys.argv[1])
n = int(calls.read_text() or 0) + 1 if calls.exists() else 1
calls.write_text(str(n))
if pathlib.Path(sys.argv[2]).exists():
    sys.exit(1)              # the rule is absent
if n == 1:
    print("RULE"); sys.exit(0)   # present: the watchdog has seen it
sys.exit(4)                  # from then on the xtables lock is held: iptables cannot tell
"""
REMOVE = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('removed')"


def _wait_exit(pid: int, timeout: float) -> None:
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"watchdog {pid} still running"
    finally:
        os.close(fd)


def test_a_held_xtables_lock_is_not_a_removed_rule(tmp_path: Path) -> None:
    calls, removed = tmp_path / "calls", tmp_path / "removed"
    deadline = time.time() + 2 * watchdog.CHECK_EVERY + 1.5
    pid = watchdog.arm(deadline=deadline, check=[sys.executable, "-c", CHECK, str(calls), str(removed)],
                       remove=[sys.executable, "-c", REMOVE, str(removed)], pid_dir=tmp_path / "pids",
                       run_id="run-1", label="f1", expect="RULE")
    _wait_exit(pid, deadline - time.time() + 60)
    assert int(calls.read_text()) >= 3  # seen, then the lock at least once before the deadline
    assert removed.read_text() == "removed"
    assert watchdog.pending(tmp_path / "pids") == []
