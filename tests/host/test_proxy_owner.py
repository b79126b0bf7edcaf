"""A run-owned fault proxy (``--owner-pid``, as the host target starts one) lives no longer than its
run: after its owner is SIGKILLed it keeps each fault until that fault's own deadline (what the run's
record promises), then exits with nothing left; with no fault left it exits at once. Real processes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.specs import ProxyFault

TOKEN = "o" * 32


@pytest.fixture
async def owned(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, asyncio.subprocess.Process, str]]:
    """(owner, proxy, admin url): a stand-in run process and the proxy it owns."""
    owner = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(600)")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    proxy = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chaos.clients.host.proxy", "--listen", "127.0.0.1:0", "--upstream",
        "target=127.0.0.1:9", "--admin", "127.0.0.1:0", "--token-file", str(token),
        "--owner-pid", str(owner.pid), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proxy.stdout is not None
    ready = json.loads(await asyncio.wait_for(proxy.stdout.readline(), 30))
    assert ready["ready"], ready
    try:
        yield owner, proxy, f"http://{ready['admin']}"
    finally:
        for proc in (owner, proxy):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_the_proxy_keeps_a_fault_to_its_deadline_then_exits_after_its_owner_is_killed(
        owned: tuple[asyncio.subprocess.Process, asyncio.subprocess.Process, str]) -> None:
    owner, proxy, admin_url = owned
    deadline = time.time() + 5.0
    async with ProxyAdminClient(admin_url, TOKEN) as admin:
        await admin.add_fault(ProxyFault(id="slow", run_id="run-1", kind="latency", deadline=deadline,
                                         latency_ms=100))
        owner.send_signal(signal.SIGKILL)
        await owner.wait()
        assert [f.id for f in await admin.list_faults()] == ["slow"]  # still bounded by its own deadline
    assert await asyncio.wait_for(proxy.wait(), 60) == 0  # awaited: it exits once the fault expired
    assert time.time() >= deadline


async def test_with_no_fault_left_the_proxy_exits_when_its_owner_is_killed(
        owned: tuple[asyncio.subprocess.Process, asyncio.subprocess.Process, str]) -> None:
    owner, proxy, _ = owned
    owner.send_signal(signal.SIGKILL)
    await owner.wait()
    assert await asyncio.wait_for(proxy.wait(), 30) == 0
