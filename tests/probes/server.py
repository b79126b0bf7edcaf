"""A small real HTTP server on loopback for the probe tests and the benchmark (aiohttp)."""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiohttp import web

from chaos.demo.prometheus import free_port


class Backend:
    """``/health`` answers ``status`` ("healthy") after ``delay`` seconds; ``/private`` needs no more."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.seen_auth: list[str] = []
        self.requests = 0
        self.peers: set[object] = set()
        """Client (host, port) pairs seen: one per TCP connection the probes opened."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _health(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        self.seen_auth.append(request.headers.get("Authorization", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="healthy")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def closed_url(self) -> str:
        return f"http://127.0.0.1:{free_port()}/health"

    async def __aenter__(self) -> Backend:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/private", self._health)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
