"""The TUI in a real terminal against the real demo: tmux runs ``aftershock demo`` (real
Prometheus, demo services, a real fault through the fault proxy), which launches and narrates
its run by itself; the test types the key a person would — abort — and reads the screen with ``capture-pane`` until the
verdict shows; then it quits and checks that nothing is left running or injected.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.clients.state import StateStore

from .helpers import AFTERSHOCK, REPO, Proc, descendants

pytestmark = pytest.mark.e2e


class Tmux:
    """One private tmux server (``-L``) with one 120x40 session."""

    def __init__(self, command: str) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed: `make test` installs it (apt-get install -y tmux)")
        self.socket = f"aftershock-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", command)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def pane_pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())

    async def until(self, text: str, timeout: float = 90.0) -> str:
        """Bounded poll of the screen (a terminal offers nothing to await) until ``text`` shows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} never showed; screen:\n{screen}")
            await asyncio.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"


async def test_launch_and_abort_from_the_tui_against_the_real_demo(state: Path, tmp_path: Path) -> None:
    done = tmp_path / "exit-code"
    term = Tmux(f"cd {REPO} && env TERM=xterm-256color {AFTERSHOCK} demo --scenario circuit-break "
                f"--state-dir {state}; echo $? > {done}; sleep 60")
    ours: list[Proc] = []
    try:
        # the demo launches its scenario by itself once Prometheus has data, and narrates it ("Run …
        # started" shows only for the pre-flight and steady-state check, ~0.1 s: wait for the fault's
        # countdown, which shows as long as the fault is live)
        screen = await term.until(" left", timeout=120)
        ours = [p for p in descendants(term.pane_pid()) if p.name == "prometheus"
                or any(m in p.cmdline for m in ("chaos.demo.services", "chaos.clients.host.proxy"))]
        assert {p.name for p in ours} >= {"prometheus"}, ours
        screen = await term.until(" left", timeout=60)  # the fault countdown: the fault is live
        assert "Live runs" in screen
        term.keys("a")  # one key: abort, no question asked
        screen = await term.until("ABORTED (exit 130)", timeout=60)
        assert "removed" in screen
        store = StateStore(state)
        assert store.faults(live_only=True) == [], "the abort removed the fault before reporting"
        (row,) = store.runs()
        assert row.verdict == "aborted"
        store.close()
        term.keys("q")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not done.exists() and loop.time() < deadline:  # the demo stops its services, then exits
            await asyncio.sleep(0.2)
        assert done.read_text().strip() == "130", "an aborted demo did not show its story"
        alive = [p for p in ours if os.path.exists(f"/proc/{p.pid}")]
        assert alive == [], f"left running after the demo exited: {alive}"
    finally:
        term.kill()
