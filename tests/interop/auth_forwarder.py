"""Test infrastructure: an auth-checking forwarder in front of the real Prometheus.

Prometheus (Debian's) has no authentication of its own here; this loopback forwarder answers 401
unless a request carries the expected ``Authorization`` value and headers, and forwards the others
to the real Prometheus unchanged. It counts what it accepted and refused, so a test can prove the
credentials were sent (and that a wrong one is refused). Used by ``test_ctk_auth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web


class AuthForwarder:
    def __init__(self, upstream: str, authorization: str, headers: Mapping[str, str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.authorization = authorization
        self.headers = dict(headers or {})
        self.accepted = 0
        self.refused = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def _allowed(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") != self.authorization:
            return False
        return all(request.headers.get(name) == value for name, value in self.headers.items())

    async def _handle(self, request: web.Request) -> web.Response:
        if not self._allowed(request):
            self.refused += 1
            return web.Response(status=401, text="unauthorized\n")
        self.accepted += 1
        assert self._session is not None
        body = await request.read()
        content_type = request.headers.get("Content-Type")
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body or None,
                                         headers={"Content-Type": content_type} if content_type else None) as up:
            return web.Response(status=up.status, body=await up.read(),
                                content_type=up.content_type, charset=up.charset)

    async def __aenter__(self) -> AuthForwarder:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
