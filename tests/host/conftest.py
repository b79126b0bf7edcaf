"""Fixtures of the host-target tests: real loopback upstreams (TCP echo, bulk sender, HTTP apps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvloop
from aiohttp import web


@dataclass
class Server:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                 ) -> AsyncIterator[Server]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield Server("127.0.0.1", port)
        server.close()


@pytest.fixture
async def echo_server() -> AsyncIterator[Server]:
    async for server in _serve(_echo):
        yield server


BULK_SIZE = 600 * 1024


async def _bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readexactly(1)
        writer.write(b"x" * BULK_SIZE)
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def bulk_server() -> AsyncIterator[Server]:
    async for server in _serve(_bulk):
        yield server


def _http_app(name: str) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return web.json_response({"upstream": name, "path": request.path, "size": len(body),
                                  "peer_port": peer[1] if peer else None})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture
async def http_upstreams() -> AsyncIterator[dict[str, Server]]:
    runners: list[web.AppRunner] = []
    servers: dict[str, Server] = {}
    try:
        for name in ("primary", "backup"):
            runner = web.AppRunner(_http_app(name), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            port = runner.addresses[0][1]
            servers[name] = Server("127.0.0.1", port)
        yield servers
    finally:
        for runner in runners:
            await runner.cleanup()


_BOTH_LOOPS = {"test_proxy.py", "test_passthrough.py", "test_fastpath.py"}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """The proxy's tests run on asyncio's loop and on uvloop (the proxy process uses uvloop when installed)."""
    if item.path.name in _BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
