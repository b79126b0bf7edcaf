"""A fault proxy with its admin API on loopback, in-process, for tests of the admin client and of
what talks to it (weight holds, undo deadlines, hostile admin requests). Importable as
``harness.admin`` (``tests/`` is on ``sys.path`` under pytest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chaos.clients.host.admin import AdminServer
from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import Upstream


@asynccontextmanager
async def proxy_admin(token: str, upstream: str = "gw") -> AsyncIterator[str]:
    """A proxy with one upstream (``upstream`` → the discard port) and its admin API; yields the admin URL."""
    async with FaultProxy(("127.0.0.1", 0), [Upstream(upstream, "127.0.0.1", 9)]) as proxy:
        admin = AdminServer(proxy, ("127.0.0.1", 0), token)
        await admin.start()
        try:
            yield f"http://127.0.0.1:{admin.address[1]}"
        finally:
            await admin.close()
