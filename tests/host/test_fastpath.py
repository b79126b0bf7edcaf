"""The proxy's no-fault fast path (chaos.clients.host.fastpath) on real loopback sockets: HTTP framing is
transparent (the client gets the very bytes a direct connection gets, for chunked, interim, HEAD, 204 and
close-delimited responses, pipelined; also with TLS on both sides), a fault reaches the next request of a keep-alive connection and
either direction of a TCP pipe, a slow reader holds the sender back (pause/resume) and gets every byte,
an unreachable upstream is a 502, and close() ends fast connections.
Run on asyncio's loop and on uvloop (tests/host/conftest.py)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from host.conftest import Server

# request path -> the raw response the scripted upstream sends, split into pieces sent one by one
RESPONSES: dict[bytes, list[bytes]] = {
    b"/length": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
    b"/chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", b"\r\n5\r\nhel", b"lo\r\n",
                  b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n", b"\r\n"],
    b"/interim": [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"],
    b"/empty": [b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"],
    b"/head": [b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"],
    b"/split": [b"HTTP/1.1 200 OK\r\nCont", b"ent-Length: 4\r\n\r", b"\nab", b"cd"],
    b"/odd": [b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nxyz"],
}
UNTIL_CLOSE = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed ", b"until the end"]


async def _scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP upstream answering each request from RESPONSES, piece by piece."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ")[1]
            length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                           if line.startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            for piece in RESPONSES.get(path, UNTIL_CLOSE):
                writer.write(piece)
                await writer.drain()
            if path not in RESPONSES:
                break
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Server]:
    server = await asyncio.start_server(_scripted, "127.0.0.1", 0)
    async with server:
        yield Server("127.0.0.1", server.sockets[0].getsockname()[1])


def fault(kind: str, **params: object) -> ProxyFault:
    return ProxyFault.from_dict({"id": "f1", "run_id": "run-1", "kind": kind, "deadline": time.time() + 30,
                                 **params})


PIPELINED = (b"GET /length HTTP/1.1\r\nHost: a\r\n\r\n"
             b"POST /chunked HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
             b"GET /interim HTTP/1.1\r\nHost: a\r\n\r\n"
             b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n"
             b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n"
             b"GET /split HTTP/1.1\r\nHost: a\r\n\r\n"
             b"GET /rest HTTP/1.1\r\nHost: a\r\n\r\n")


async def _exchange(port: int, pieces: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
    got = await asyncio.wait_for(reader.read(-1), 10)  # the close-delimited last response ends it
    writer.close()
    return got


async def test_http_framing_is_transparent(scripted: Server) -> None:
    direct = await _exchange(scripted.port, [PIPELINED])
    async with FaultProxy(("127.0.0.1", 0), [Upstream("s", scripted.host, scripted.port)], http=True) as proxy:
        at_once = await _exchange(proxy.address[1], [PIPELINED])
        byte_by_byte = await _exchange(proxy.address[1], [PIPELINED[i:i + 1] for i in range(len(PIPELINED))])
        text = proxy.metrics.render().decode()
    assert direct.endswith(b"streamed until the end")
    assert at_once == direct
    assert byte_by_byte == direct
    assert 'aftershock_proxy_http_requests_total{code="200",upstream="s"} 10.0' in text
    assert 'aftershock_proxy_http_requests_total{code="204",upstream="s"} 2.0' in text
    assert 'aftershock_proxy_http_requests_total{code="201",upstream="s"} 2.0' in text
    assert f'aftershock_proxy_bytes_total{{direction="from"}} {float(2 * len(direct))}' in text


async def test_a_response_with_whitespace_before_a_colon_is_a_502(scripted: Server) -> None:
    """RFC 9112 §5.1: a proxy must not forward a response field with whitespace before its colon as it came."""
    async with FaultProxy(("127.0.0.1", 0), [Upstream("s", scripted.host, scripted.port)], http=True) as proxy:
        got = await _exchange(proxy.address[1], [b"GET /odd HTTP/1.1\r\nHost: a\r\n\r\n"])
    assert got.startswith(b"HTTP/1.1 502 ")
    assert b"xyz" not in got


async def test_a_fault_reaches_the_next_request_on_the_kept_connection(scripted: Server) -> None:
    async with FaultProxy(("127.0.0.1", 0), [Upstream("s", scripted.host, scripted.port)], http=True) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        request = b"GET /length HTTP/1.1\r\nHost: a\r\n\r\n"
        writer.write(request)
        assert await reader.readuntil(b"hello")
        proxy.add_fault(fault("http-abort", code=503, percent=100))
        writer.write(request)
        aborted = await reader.readuntil(b"injected abort\n")
        proxy.remove_fault("f1")
        writer.write(request)
        again = await reader.readuntil(b"hello")
        writer.close()
        text = proxy.metrics.render().decode()
    assert aborted.startswith(b"HTTP/1.1 503 ")
    assert again == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    assert 'aftershock_proxy_connections_total{upstream="s"} 1.0' in text  # the upstream connection was kept


async def test_unreachable_http_upstream_is_a_502_per_request() -> None:
    async with FaultProxy(("127.0.0.1", 0), [Upstream("gone", "127.0.0.1", 9)], http=True) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 502 ")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert b"gone unreachable" in await reader.readexactly(length)
        writer.close()


async def test_a_fault_reaches_the_upstream_direction_of_an_open_pipe() -> None:
    send_second = asyncio.Event()

    async def talker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        writer.write(b"first")
        await send_second.wait()
        writer.write(b"second")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(talker, "127.0.0.1", 0)
    async with server, FaultProxy(("127.0.0.1", 0),
                                  [Upstream("t", "127.0.0.1", server.sockets[0].getsockname()[1])]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"go")
        assert await reader.readexactly(5) == b"first"
        proxy.add_fault(fault("latency", latency_ms=300, direction="from"))
        started = time.perf_counter()
        send_second.set()
        assert await reader.readexactly(6) == b"second"
        assert time.perf_counter() - started >= 0.3  # the upstream's next chunk went through the delay
        assert await reader.read() == b""  # and its FIN after it
        writer.close()


async def test_close_ends_connections_on_the_fast_path(echo_server: Server, scripted: Server) -> None:
    proxies = [FaultProxy(("127.0.0.1", 0), [Upstream("e", echo_server.host, echo_server.port)]),
               FaultProxy(("127.0.0.1", 0), [Upstream("s", scripted.host, scripted.port)], http=True)]
    for proxy, probe, answer in zip(proxies, (b"ping", b"GET /length HTTP/1.1\r\nHost: a\r\n\r\n"),
                                    (b"ping", b"hello"), strict=True):
        await proxy.start()
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(probe)
        assert (await reader.readuntil(answer)).endswith(answer)
        await proxy.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a certificate for 127.0.0.1, made with openssl."""
    where = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (where / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "ext")
    return where


async def test_http_framing_is_transparent_over_tls(pki: Path) -> None:
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(pki / "server.crt", pki / "server.key")
    trusting = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    server = await asyncio.start_server(_scripted, "127.0.0.1", 0, ssl=serving)
    upstream = Upstream("s", "127.0.0.1", server.sockets[0].getsockname()[1], ssl=trusting)
    async with server, FaultProxy(("127.0.0.1", 0), [upstream], http=True, server_ssl=serving) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address, ssl=trusting)
        writer.write(PIPELINED)
        got = await asyncio.wait_for(reader.read(-1), 10)
        writer.close()
        proxy.add_fault(fault("http-abort", code=503, percent=100))
        reader, writer = await asyncio.open_connection(*proxy.address, ssl=trusting)
        writer.write(b"GET /length HTTP/1.1\r\nHost: a\r\n\r\n")
        aborted = await reader.readuntil(b"injected abort\n")
        writer.close()
    assert got.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert got.endswith(b"streamed until the end")
    assert aborted.startswith(b"HTTP/1.1 503 ")


async def test_a_slow_reader_gets_every_byte_through_flow_control() -> None:
    size = 32 * 1024 * 1024
    sent = asyncio.Event()

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()  # blocks while the proxy does not read: its client is slow
        sent.set()
        writer.close()

    server = await asyncio.start_server(sender, "127.0.0.1", 0)
    async with server, FaultProxy(("127.0.0.1", 0),
                                  [Upstream("b", "127.0.0.1", server.sockets[0].getsockname()[1])]) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address, limit=4096)
        writer.write(b"g")
        got = 0
        mismatch = False
        while data := await reader.read(4096):
            mismatch = mismatch or data != (bytes(range(256)) * 17)[got % 256:got % 256 + len(data)]
            got += len(data)
            if got < 2 * 1024 * 1024:
                assert not sent.is_set()  # the sender is held back, not buffered in the proxy
        writer.close()
        assert sent.is_set()
    assert got == size
    assert not mismatch
    assert proxy.metrics.bytes_from.value == size
