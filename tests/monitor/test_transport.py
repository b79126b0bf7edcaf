"""``chaos.clients.transport``: the HTTP/1.1 pool of the proxy's admin client and the monitor's
instant queries, against real asyncio servers on loopback that answer exactly what each test needs
(kept connections, a server closing an idle one, ``Connection: close``, chunked bodies, oversize and
broken answers, silence, refusal, cancellation, the connection limit)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from chaos.clients import transport
from chaos.clients.transport import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """A loopback server running ``handler`` per connection; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.arrived = asyncio.Condition()
        """Notified as each request is read (:meth:`received`)."""
        self.closed = asyncio.Event()
        """Set when a connection's reader sees the client close it."""
        self.url = ""

    async def received(self, n: int) -> None:
        """Until ``n`` requests have been read."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= n)


async def read_request(reader: asyncio.StreamReader, server: Server) -> bytes | None:
    """One request (head, and a Content-Length body), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        server.closed.set()
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    request = head + (await reader.readexactly(length) if length else b"")
    server.requests.append(request)
    async with server.arrived:
        server.arrived.notify_all()
    return request


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), b"".join(e + b"\r\n" for e in extra), body)


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    server = Server()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            await handler(reader, writer, server)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listening.close()


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
    while await read_request(reader, server) is not None:
        writer.write(ok(b"n=%d" % len(server.requests)))
        await writer.drain()


def pool(**kwargs: object) -> Pool:
    return Pool(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), **kwargs)  # type: ignore[arg-type]


async def test_requests_reuse_a_kept_connection_and_send_their_headers_and_body() -> None:
    async with serving(keep_alive) as server:
        client = pool(headers={"Authorization": "Bearer s3cret"})
        first = await client.request("POST", server.url + "/api/v1/query?x=1", timeout=5, content=b"query=up",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        second = await client.request("GET", server.url + "/faults", timeout=5)
        await client.aclose()
    assert (first.status_code, first.content, second.text) == (200, b"n=1", "n=2")
    assert server.connections == 1
    head = server.requests[0].decode()
    port = server.url.rsplit(":", 1)[1]
    assert head.startswith("POST /api/v1/query?x=1 HTTP/1.1\r\n")
    for line in (f"host: 127.0.0.1:{port}", f"user-agent: {transport.USER_AGENT}", "authorization: bearer s3cret",
                 "content-length: 8", "content-type: application/x-www-form-urlencoded"):
        assert line in head.lower(), head
    assert head.endswith("\r\n\r\nquery=up")
    assert server.requests[1].startswith(b"GET /faults HTTP/1.1\r\n")
    assert "s3cret" not in repr(client._headers)  # kept as a Secret


async def test_a_configured_host_header_is_sent_once_as_configured() -> None:
    async with serving(keep_alive) as server:
        client = pool(headers={"host": "prometheus.example"})
        await client.request("GET", server.url + "/", timeout=5)
        await client.aclose()
    lines = server.requests[0].decode().lower().split("\r\n")
    assert [line for line in lines if line.startswith("host:")] == ["host: prometheus.example"]


async def test_a_kept_connection_closed_before_answering_is_replaced_once() -> None:
    async def idle_timeout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        if server.connections == 1:  # the first connection: one answer, then the next request is dropped
            writer.write(ok(b"first"))
            await writer.drain()
            await read_request(reader, server)
            return
        writer.write(ok(b"second"))  # as a server whose idle timeout fired just as the request came
        await writer.drain()

    async with serving(idle_timeout) as server:
        client = pool()
        assert (await client.request("GET", server.url + "/a", timeout=5)).content == b"first"
        answer = await client.request("GET", server.url + "/b", timeout=5)
        await client.aclose()
    assert answer.content == b"second"
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/b"]
    assert server.connections == 2


async def test_a_new_connection_closed_before_answering_is_an_error_not_a_retry() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)

    async with serving(drop) as server:
        client = pool()
        with pytest.raises(transport.NetworkError, match="closed the connection without answering"):
            await client.request("POST", server.url + "/faults", timeout=5, content=b"{}")
        await client.aclose()
    assert len(server.requests) == 1 and server.connections == 1


async def test_connection_close_and_http_1_0_answers_are_not_kept() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        status = b"HTTP/1.0 200 OK\r\n" if len(server.requests) % 2 else b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
        writer.write(status + b"Content-Length: 2\r\n\r\nhi")
        await writer.drain()

    async with serving(closing) as server:
        client = pool()
        answers = [await client.request("GET", server.url + "/", timeout=5) for _ in range(3)]
        await client.aclose()
    assert [a.content for a in answers] == [b"hi"] * 3
    assert server.connections == 3


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await read_request(reader, server)  # until the client closes

    async with serving(chunked) as server:
        client = pool()
        answer = await client.request("GET", server.url + "/", timeout=5)
        await client.aclose()
    assert answer.content == b"hello world"


async def test_an_answer_over_the_size_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_ANSWER_BYTES", 1000)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(ok(b"x" * 1001))
        await writer.drain()

    async with serving(big) as server:
        client = pool()
        with pytest.raises(transport.ProtocolError, match="larger than 1000 bytes"):
            await client.request("GET", server.url + "/", timeout=5)
        await client.aclose()


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async with serving(garbage) as server:
        client = pool()
        with pytest.raises(transport.ProtocolError, match=r"not HTTP/1\.1"):
            await client.request("GET", server.url + "/", timeout=5)
        await client.aclose()


async def test_a_silent_server_is_a_timeout_and_the_connection_is_dropped() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        await read_request(reader, server)  # returns at EOF: the client gave up and closed

    async with serving(silent) as server:
        client = pool()
        with pytest.raises(transport.TimeoutException, match=r"no answer within 0\.2s"):
            await client.request("GET", server.url + "/", timeout=0.2)
        async with asyncio.timeout(5):
            await server.closed.wait()
        await client.aclose()
    assert isinstance(transport.TimeoutException("x"), transport.TRANSPORT_ERRORS)


async def test_refused_and_unsupported_urls() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    client = pool()
    with pytest.raises(transport.ConnectError):
        await client.request("GET", f"http://127.0.0.1:{port}/", timeout=5)
    for url in ("ftp://u:s3cret@127.0.0.1/", "http:///nohost?token=s3cret", "http://u:s3cret@127.0.0.1:99999/"):
        with pytest.raises(transport.UnsupportedProtocol) as refused:
            await client.request("GET", url, timeout=5)
        assert "s3cret" not in str(refused.value)  # the URL is never quoted: it may carry credentials
    await client.aclose()


async def test_a_cancelled_request_drops_its_connection_and_frees_its_slot() -> None:
    answer_now = asyncio.Event()

    async def slow_then_fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await read_request(reader, server) is not None:
            if len(server.requests) == 1:
                await answer_now.wait()
            writer.write(ok(b"late" if len(server.requests) == 1 else b"ok"))
            await writer.drain()

    async with serving(slow_then_fast) as server:
        client = pool(max_connections=1)
        task = asyncio.create_task(client.request("GET", server.url + "/slow", timeout=30))
        async with asyncio.timeout(10):
            await server.received(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        answer_now.set()
        answer = await client.request("GET", server.url + "/next", timeout=5)  # the one slot is free again
        await client.aclose()
    assert answer.content == b"ok"  # not the cancelled request's late answer
    assert server.connections == 2


async def test_requests_beyond_the_connection_limit_wait_for_a_slot_within_the_timeout() -> None:
    release = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await read_request(reader, server) is not None:
            await release.wait()
            writer.write(ok(b"done"))
            await writer.drain()

    async with serving(held) as server:
        client = pool(max_connections=2)
        busy = [asyncio.create_task(client.request("GET", server.url + "/", timeout=30)) for _ in range(2)]
        async with asyncio.timeout(10):
            await server.received(2)
        with pytest.raises(transport.TimeoutException, match="no free connection"):
            await client.request("GET", server.url + "/", timeout=0.2)
        release.set()
        assert [a.content for a in await asyncio.gather(*busy)] == [b"done", b"done"]
        await client.aclose()
    assert server.connections == 2 and len(server.requests) == 2
