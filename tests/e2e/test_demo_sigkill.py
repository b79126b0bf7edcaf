"""``aftershock demo`` killed with SIGKILL mid-fault leaves nothing running.

The demo's children (Prometheus, the demo services, the fault proxy) are spawned with a
parent-death signal, so the kernel stops them when the demo dies; the proxy's faults die with
the proxy, and ``aftershock recover`` then finds the proxy gone and marks the record removed.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from chaos.clients.state import StateStore

from .helpers import Cli, Subreaper, aftershock, leftovers

pytestmark = pytest.mark.e2e


async def test_sigkill_of_the_demo_leaves_no_process_and_recover_settles_the_record(
        audit: Subreaper, tmp_path: Path) -> None:
    cli = await Cli.start("demo", "--headless", "--output", "json", "--state-dir", str(tmp_path))
    injected = await cli.event("FaultInjected", timeout=120)
    assert leftovers(), "the demo's children should be running while the fault is live"
    cli.signal(signal.SIGKILL)
    assert await cli.wait() == -signal.SIGKILL
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while leftovers() and loop.time() < deadline:  # the kernel's SIGTERM to each child; nothing to await on
        await asyncio.sleep(0.1)
    assert leftovers() == []
    store = StateStore(tmp_path)
    assert [r.fault for r in store.faults(live_only=True)] == [injected["fault"]]
    rc, out, err = await aftershock("recover", "--state-dir", str(tmp_path))
    assert rc == 0, out + err
    assert "is gone" in out
    assert store.faults(live_only=True) == []
