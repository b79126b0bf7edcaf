"""TCP mode without a fault: bytes and half-close pass unchanged and are counted, a fault injected
later reaches an open connection at its next chunk, an unreachable upstream is a reset. Real sockets
on loopback."""

from __future__ import annotations

import asyncio
import time

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from host.conftest import BULK_SIZE, Server


def fault(kind: str, **params: object) -> ProxyFault:
    return ProxyFault.from_dict({"id": "f1", "run_id": "run-1", "kind": kind, "deadline": time.time() + 30,
                                 **params})


async def test_bulk_and_half_close_pass_unchanged_and_are_counted(bulk_server: Server) -> None:
    async with FaultProxy(("127.0.0.1", 0), [Upstream("bulk", bulk_server.host, bulk_server.port)]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"g")
        data = await reader.read(-1)  # until the upstream's FIN comes through
        writer.close()
        text = proxy.metrics.render().decode()
    assert data == b"x" * BULK_SIZE
    assert f'aftershock_proxy_bytes_total{{direction="from"}} {float(BULK_SIZE)}' in text
    assert 'aftershock_proxy_bytes_total{direction="to"} 1.0' in text


async def test_a_fault_added_later_reaches_an_open_connection(echo_server: Server) -> None:
    async with FaultProxy(("127.0.0.1", 0), [Upstream("echo", echo_server.host, echo_server.port)]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"  # no fault
        proxy.add_fault(fault("latency", latency_ms=300))
        started = time.perf_counter()
        writer.write(b"pong")
        assert await reader.readexactly(4) == b"pong"
        assert time.perf_counter() - started >= 0.3  # the same connection now goes through the delay
        proxy.remove_fault("f1")
        proxy.add_fault(fault("reset", percent=100))
        writer.write(b"cut")
        try:
            got = await asyncio.wait_for(reader.read(10), 5)
        except ConnectionResetError:
            got = None
        writer.close()
    assert got is None  # a RST, on the connection that started without a fault


async def test_unreachable_upstream_is_a_reset() -> None:
    async with FaultProxy(("127.0.0.1", 0), [Upstream("gone", "127.0.0.1", 9)]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        try:
            got = await asyncio.wait_for(reader.read(10), 5)
        except ConnectionResetError:
            got = None
        writer.close()
    assert got is None
