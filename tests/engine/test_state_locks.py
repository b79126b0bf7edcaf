"""Two stores of one state directory in one process (a parallel game day's runs, the TUI's engine)
keep SQLite's locks: opening the second never closes a descriptor of the database or its ``-shm``
(closing any descriptor of a file drops every POSIX lock the process holds on it, and without the
``-shm``'s dead-man-switch lock another process re-initialises it under the first store: CI saw
"disk I/O error" from a parallel game day)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from chaos.clients.state import StateStore


def _our_locks(path: Path) -> list[str]:
    """This process's POSIX locks on ``path``'s inode, from /proc/locks."""
    inode, pid = os.stat(path).st_ino, os.getpid()
    out = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()  # "1: POSIX ADVISORY READ <pid> <maj:min:inode> <start> <end>"
        if fields[1] == "POSIX" and int(fields[4]) == pid and int(fields[5].rsplit(":", 1)[1]) == inode:
            out.append(" ".join(fields[1:]))
    return out


def test_a_second_store_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    first = StateStore(tmp_path / "state")
    first.start_run("run-1", "exp", "exp.yaml", "host")
    before = {name: _our_locks(tmp_path / "state" / name) for name in ("state.db", "state.db-shm")}
    assert all(before.values()), before  # SQLite holds them while the first store is open
    second = StateStore(tmp_path / "state")
    after = {name: _our_locks(tmp_path / "state" / name) for name in ("state.db", "state.db-shm")}
    assert after == before
    second.start_run("run-2", "exp", "exp.yaml", "host")
    assert len(first.runs()) == len(second.runs()) == 2
    second.close()
    first.close()


def test_the_database_is_private_and_an_old_public_one_is_made_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.close()
    db = tmp_path / "state" / "state.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    db.chmod(0o644)  # as older releases left it
    StateStore(tmp_path / "state").close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
