"""Request smuggling against the real fault proxy (HTTP mode), on its fast path (no fault) and on its
stream path (a fault is active): every ambiguous framing of RFC 9112 §5-§7 is answered with a 400 and
the connection closed, and the upstream — which records every byte it gets — never sees the request
smuggled behind it. Run on asyncio's loop and on uvloop (tests/host/conftest.py's event loop policy
is not used here: the proxy itself is the same code on both)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

HEADS = {  # refused at the head: nothing reaches the upstream
    "content-length list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 10\r\n\r\nhello",
    "content-length same list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    "content-length repeated": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello",
    "content-length plus": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
    "content-length overflow": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 184467440737095516160\r\n\r\n",
    "space before colon": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
    "tab before colon": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
    "te and cl (CL.TE)": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl and te (TE.CL)": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n",
    "obs-fold te": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity,\r\n chunked\r\n\r\n0\r\n\r\n",
    "te not chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello",
    "te chunked not last": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te xchunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te in http/1.0": b"POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare lf": b"GET / HTTP/1.1\nHost: a\nContent-Length: 0\n\r\n\r\n",
    "bare cr": b"GET / HTTP/1.1\r\nHost: a\rContent-Length: 5\r\n\r\nhello",
    "nul in value": b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
    "http/0.9": b"GET /\r\n\r\n",
}

BODIES = {  # refused inside a chunked body: the head may have gone on, never what follows the bad line
    "chunk size 0x": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk size sign": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
    "chunk size underscore": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0_5\r\nhello\r\n0\r\n\r\n",
    "chunk size leading space": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    "chunk size overflow": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
    "chunk without crlf": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunk size lf only": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
}


class Recorder:
    """An HTTP upstream that records every byte it receives and answers each head with a 200."""

    def __init__(self) -> None:
        self.received = bytearray()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        try:
            while data := await reader.read(65536):
                self.received += data
                pending += data
                while b"\r\n\r\n" in pending:
                    _, pending = pending.split(b"\r\n\r\n", 1)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, int]]:
    rec = Recorder()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    async with server:
        yield rec, server.sockets[0].getsockname()[1]


@pytest.fixture(params=["fast path", "stream path"])
async def proxy(request: pytest.FixtureRequest, recorder: tuple[Recorder, int]) -> AsyncIterator[FaultProxy]:
    _, port = recorder
    async with FaultProxy(("127.0.0.1", 0), [Upstream("up", "127.0.0.1", port)], http=True) as proxy:
        if request.param == "stream path":  # an active fault sends every request through sessions.run_http
            proxy.add_fault(ProxyFault.from_dict({"id": "f1", "run_id": "run-1", "kind": "http-delay",
                                                  "deadline": time.time() + 60, "delay_ms": 1,
                                                  "path_prefix": "/never"}))
        yield proxy


async def _send(proxy: FaultProxy, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(data)
    await writer.drain()
    got = await asyncio.wait_for(reader.read(-1), 10)  # the proxy closes the connection
    writer.close()
    return got


@pytest.mark.parametrize("name", sorted(HEADS))
async def test_an_ambiguous_head_is_a_400_and_nothing_is_forwarded(
        name: str, proxy: FaultProxy, recorder: tuple[Recorder, int]) -> None:
    got = await _send(proxy, HEADS[name] + SMUGGLED)
    assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), got[:200]
    assert got.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in got
    assert bytes(recorder[0].received) == b""


@pytest.mark.parametrize("name", sorted(BODIES))
async def test_a_bad_chunked_body_is_a_400_and_what_follows_is_not_forwarded(
        name: str, proxy: FaultProxy, recorder: tuple[Recorder, int]) -> None:
    got = await _send(proxy, BODIES[name] + SMUGGLED)
    assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), got[:200]
    received = bytes(recorder[0].received)
    assert b"/smuggled" not in received
    assert BODIES[name].startswith(received)  # at most the request up to its bad line went on
    if name != "chunk without crlf":
        assert b"hello" not in received  # the piece with the bad line never went on


async def test_good_framing_still_goes_through_pipelined(proxy: FaultProxy, recorder: tuple[Recorder, int]) -> None:
    chunked = (b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n")
    length = b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nworld"
    last = b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    got = await _send(proxy, chunked + length + last)
    assert got.count(b"HTTP/1.1 200 OK") == 3
    assert bytes(recorder[0].received) == chunked + length + last
