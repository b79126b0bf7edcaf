"""The fault proxy's data path while no fault applies: asyncio Protocols that forward bytes from their
callbacks (no task, no ``await``, no per-chunk fault work beyond one dict check).

:class:`chaos.clients.host.proxy.FaultProxy` creates one :class:`ClientSide` per accepted connection.
TCP mode pipes chunks between the client and upstream transports, with ``pause_reading`` /
``resume_reading`` flow control. HTTP mode frames each request and response (``Content-Length``,
chunked, or until close, by :func:`~chaos.clients.host.httpframe.fast_request` /
:func:`~chaos.clients.host.httpframe.fast_response`) and forwards the raw bytes unchanged.

A connection leaves this path for the stream-based one in :mod:`chaos.clients.host.sessions` (which
applies every fault) by :func:`adopt`: its transports get a ``StreamReaderProtocol`` whose reader is
fed what was buffered here. That happens — and stays so for the rest of the connection — when a fault
applies: in TCP mode at connection start and on every chunk of either direction (the chunk that sees
the fault goes through the fault path), in HTTP mode at the start of each request (a response already
streaming finishes unfaulted; faults reach the next request). Requests the framing scan leaves to the
full parser (chunked request bodies, upgrades, odd or repeated headers) take the same exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import Any, cast

from chaos.clients.host.faulttable import NOTHING
from chaos.clients.host.httpframe import (
    MalformedMessage,
    RequestHeads,
    chunk_size,
    fast_response,
    simple_response,
)
from chaos.clients.host.lanes import Lane, reset_transport
from chaos.clients.host.metrics import LoopCount
from chaos.clients.host.sessions import STREAM_LIMIT, ProxyContext, pipe_both, run_http, run_tcp
from chaos.clients.host.specs import Upstream

Spawn = Callable[[Coroutine[Any, Any, None]], None]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def adopt(transport: asyncio.Transport, buffered: bytes, eof: bool, write_paused: bool) -> Streams:
    """Move ``transport`` from a fast-path Protocol to a reader/writer pair; ``buffered`` is read first."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if write_paused:
        protocol.pause_writing()
    if buffered:
        reader.feed_data(buffered)
    if eof:
        reader.feed_eof()
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def _guarded(session: Coroutine[Any, Any, None], writer: asyncio.StreamWriter) -> None:
    try:
        await session
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class _Side(asyncio.Protocol):
    """What both ends share: the transport, read-pause reasons, write-pause state, EOF."""

    transport: asyncio.Transport

    def __init__(self) -> None:
        self.pauses: set[str] = set()
        self.write_paused = False
        self.eof = False
        self.fast = True

    def pause(self, reason: str) -> None:
        if not self.pauses:
            self.transport.pause_reading()
        self.pauses.add(reason)

    def resume(self, reason: str) -> None:
        if reason in self.pauses:
            self.pauses.discard(reason)
            if not self.pauses and not self.transport.is_closing():
                self.transport.resume_reading()

    def leave(self, buffered: bytes) -> Streams:
        """Hand the transport to the stream path (see :func:`adopt`)."""
        self.fast = False
        reader, writer = adopt(self.transport, buffered, self.eof, self.write_paused)
        if self.pauses:
            self.pauses.clear()
            self.transport.resume_reading()
        return reader, writer


class UpstreamSide(_Side):
    """One proxy → upstream connection of a :class:`ClientSide`."""

    def __init__(self, client: ClientSide, upstream: Upstream) -> None:
        super().__init__()
        self.client = client
        self.upstream = upstream
        self.buffer = b""
        self.method = b""
        self.phase = "idle"  # HTTP: idle, head, length, chunk-size, chunk-data, chunk-end, trailers, close
        self.left = 0
        self.closes = False
        self.counts: dict[bytes, LoopCount] = {}
        """This upstream's ``aftershock_proxy_http_requests_total`` counts by status (their shared
        :class:`LoopCount`, looked up once per status instead of once per request)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.client.piping:
            self.client.pipe(data, to_upstream=False)
            return
        if self.phase == "idle":
            self.buffer += data
            return
        self._feed(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        client = self.client
        if client.piping:
            if client.transport.can_write_eof():
                client.transport.write_eof()
            if client.eof:
                client.close()
            return True
        return None  # HTTP: the connection ends; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.fast:
            return
        self.fast = False
        client = self.client
        if not client.fast:
            return
        if client.piping:
            if isinstance(exc, ConnectionResetError):
                reset_transport(client.transport)
            else:
                client.transport.close()
            client.close()
            return
        client.upstream_lost(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.client.pause("upstream-full")

    def resume_writing(self) -> None:
        self.write_paused = False
        self.client.resume("upstream-full")

    # -- HTTP responses ------------------------------------------------------------------------------

    def expect(self, method: bytes) -> None:
        """The request is on its way: read its response (bytes already received come first)."""
        self.method = method
        self.phase = "head"
        if self.buffer:
            data, self.buffer = self.buffer, b""
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Read (and forward) response bytes; a malformed response is answered by the client side."""
        try:
            self._response(data)
        except MalformedMessage as exc:
            self.client.upstream_failed(self, f"aftershock proxy: upstream {self.upstream.name}: {exc}\n")

    def _response(self, data: bytes) -> None:
        """Forward what ``data`` holds of the current response; ends it at its last byte.

        What is forwarded is always a prefix of ``data`` (after what an unfinished head or chunk line
        left in :attr:`buffer`): it is written in one piece, up to ``pos``."""
        if self.buffer:
            data, self.buffer = self.buffer + data, b""
        size = len(data)
        pos = 0
        phase = self.phase
        while pos < size:
            if phase == "head":
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._hold(data, pos)
                    break
                end += 4
                phase = self._head(data[pos:end] if pos or end < size else data)
                pos = end
                if phase == "idle":
                    break
            elif phase == "length" or phase == "chunk-data":
                left = self.left
                if size - pos < left:
                    self.left = left - (size - pos)
                    pos = size
                    break
                pos += left
                self.left = 0
                if phase == "length":
                    phase = self.phase = "idle"
                    break
                phase = self.phase = "chunk-end"
            elif phase == "close":
                pos = size
                break
            else:  # chunk-size, chunk-end (the CRLF after chunk data) or trailers: one line
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._hold(data, pos)
                    break
                end += 2
                if phase == "chunk-size":
                    chunk = chunk_size(data[pos:end])
                    if chunk == 0:
                        phase = self.phase = "trailers"
                    else:
                        phase, self.phase, self.left = "chunk-data", "chunk-data", chunk
                elif phase == "chunk-end":
                    if end - pos != 2:
                        raise MalformedMessage("chunk data not followed by CRLF")
                    phase = self.phase = "chunk-size"
                elif end - pos == 2:  # the blank line after the trailers
                    phase = self.phase = "idle"
                    pos = end
                    break
                pos = end
        client = self.client
        if pos:
            payload = data if pos == size else data[:pos]
            client.bytes_from.value += len(payload)
            client.transport.write(payload)
        if phase == "idle":
            if pos < size:
                self.buffer = data[pos:]
            client.response_done(self, self.closes)

    def _hold(self, data: bytes, pos: int) -> None:
        """Keep an unfinished head or chunk line for the next read."""
        if len(data) - pos > STREAM_LIMIT:
            raise MalformedMessage("message head or chunk line too large")
        self.buffer = data[pos:] if pos else data

    def _head(self, raw: bytes) -> str:
        """Read a response head; sets and returns the phase that follows it."""
        status, kind, length, closes = fast_response(raw, self.method)
        if status[:1] == b"1":
            if status == b"101":
                raise MalformedMessage("101 Switching Protocols to a request without Upgrade")
            return "head"  # an interim response: forwarded; the final head follows
        count = self.counts.get(status)
        if count is None:
            count = self.counts[status] = self.client.ctx.metrics.request_count(self.upstream.name,
                                                                                status.decode("latin-1"))
        count.value += 1
        self.closes = closes or kind == "close"
        if kind == "length" and length:
            self.phase, self.left = "length", length
        elif kind == "chunked":
            self.phase = "chunk-size"
        elif kind == "close":
            self.phase = "close"
        else:
            self.phase = "idle"
        return self.phase

    def finish_on_close(self) -> bool:
        """At the upstream's end: whether that completes the current response (close-delimited)."""
        return self.phase == "close"


class ClientSide(_Side):
    """One accepted client connection on the fast path (see the module docstring)."""

    def __init__(self, ctx: ProxyContext, http: bool, spawn: Spawn, live: set[ClientSide],
                 connect: Callable[[Callable[[], UpstreamSide], Upstream],
                                   Coroutine[Any, Any, tuple[asyncio.BaseTransport, UpstreamSide]]]) -> None:
        super().__init__()
        self.ctx = ctx
        self.http = http
        self.spawn = spawn
        self.live = live
        self.connect = connect
        self.piping = False
        self.pipe_to: UpstreamSide | None = None
        # HTTP state
        self.buffer = b""
        self.busy = False
        self.body_to: UpstreamSide | None = None
        self.body_left = 0
        self.close_after = False
        self.upstreams: dict[str, UpstreamSide] = {}
        self.heads = RequestHeads() if http else None
        self.bytes_to = ctx.metrics.bytes_to
        self.bytes_from = ctx.metrics.bytes_from

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.live.add(self)
        if not self.http:
            self.pause("connect")
            self.spawn(self._open_tcp())

    def close(self) -> None:
        """End the connection on the fast path: client and upstream transports closed (pending bytes sent)."""
        self.fast = False
        self.live.discard(self)
        self.transport.close()
        if self.pipe_to is not None:
            self.pipe_to.fast = False
            self.pipe_to.transport.close()
        for side in self.upstreams.values():
            side.fast = False
            side.transport.close()
        self.upstreams.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.fast:
            self.close()

    def _upstream_sides(self) -> list[UpstreamSide]:
        return [self.pipe_to, *self.upstreams.values()] if self.pipe_to is not None else list(self.upstreams.values())

    def pause_writing(self) -> None:
        self.write_paused = True
        for side in self._upstream_sides():
            side.pause("client-full")

    def resume_writing(self) -> None:
        self.write_paused = False
        for side in self._upstream_sides():
            side.resume("client-full")

    def data_received(self, data: bytes) -> None:
        if self.piping:
            self.pipe(data, to_upstream=True)
            return
        if not self.http:  # still connecting (uvloop starts reading right after connection_made)
            self.buffer += data
            self.transport.pause_reading()
            return
        if self.body_left:
            left = self.body_left
            self._forward_body(data[:left] if len(data) > left else data)
            data = data[left:] if len(data) > left else b""
            if not data:
                return
        self.buffer = self.buffer + data if self.buffer else data
        if self.busy:
            if len(self.buffer) > STREAM_LIMIT:
                self.pause("pipelined")
            return
        self._next_request()

    def eof_received(self) -> bool | None:
        self.eof = True
        if self.piping:
            up = self.pipe_to
            assert up is not None
            if up.transport.can_write_eof():
                up.transport.write_eof()
            if up.eof:
                self.close()
            return True
        if not self.http:
            return True  # still connecting: the upstream gets the FIN once connected
        if not self.busy:
            self._next_request()
        return True

    # -- TCP -----------------------------------------------------------------------------------------

    async def _open_tcp(self) -> None:
        ctx = self.ctx
        if len(ctx.table):
            self.fast = False
            self.live.discard(self)
            buffered, self.buffer = self.buffer, b""
            reader, writer = self.leave(buffered)
            await _guarded(run_tcp(ctx, reader, writer), writer)
            return
        upstream = ctx.router.choose(ctx.rng)
        if upstream is None:
            self.fast = False
            self.live.discard(self)
            reset_transport(self.transport)
            return
        ctx.metrics.connections.labels(upstream.name).inc()
        try:
            async with asyncio.timeout(ctx.connect_timeout):
                _, side = await self.connect(lambda: UpstreamSide(self, upstream), upstream)
        except (OSError, TimeoutError):
            self.fast = False
            self.live.discard(self)
            reset_transport(self.transport)
            return
        if not self.fast:  # the client went away or the proxy closed meanwhile
            side.transport.close()
            return
        self.pipe_to = side
        self.piping = True
        if self.write_paused:
            side.pause("client-full")
        buffered, self.buffer = self.buffer, b""
        if buffered:
            if ctx.table.applicable(upstream.name) is not NOTHING:
                self.tcp_leave(client_data=buffered)
                return
            ctx.metrics.bytes_to.inc(len(buffered))
            side.transport.write(buffered)
        if self.eof:
            if side.transport.can_write_eof():
                side.transport.write_eof()
        else:
            self.pauses.discard("connect")
            self.transport.resume_reading()

    def pipe(self, data: bytes, to_upstream: bool) -> None:
        """TCP mode: forward one chunk of either direction, or — when a fault applies now — hand the
        connection to the fault path with that chunk."""
        up = self.pipe_to
        assert up is not None
        table = self.ctx.table
        if table.size and table.applicable(up.upstream.name) is not NOTHING:
            if to_upstream:
                self.tcp_leave(client_data=data)
            else:
                self.tcp_leave(upstream_data=data)
            return
        if to_upstream:
            self.bytes_to.value += len(data)
            up.transport.write(data)
        else:
            self.bytes_from.value += len(data)
            self.transport.write(data)

    def tcp_leave(self, client_data: bytes = b"", upstream_data: bytes = b"") -> None:
        """A fault applies now: the rest of this pipe runs in :func:`sessions.pipe_both`."""
        up = self.pipe_to
        assert up is not None
        self.live.discard(self)
        self.piping = False
        creader, cwriter = self.leave(client_data)
        ureader, uwriter = up.leave(upstream_data)
        ctx = self.ctx
        to_lane = Lane(uwriter, "to", ctx.table, up.upstream.name, ctx.rng, ctx.metrics.bytes_to)
        from_lane = Lane(cwriter, "from", ctx.table, up.upstream.name, ctx.rng, ctx.metrics.bytes_from)
        self.spawn(_guarded(pipe_both(ctx, creader, ureader, to_lane, from_lane, cwriter), cwriter))

    # -- HTTP ----------------------------------------------------------------------------------------

    def _forward_body(self, data: bytes) -> None:
        self.body_left -= len(data)
        target = self.body_to
        if target is not None and target.fast:
            self.bytes_to.value += len(data)
            target.transport.write(data)

    def _next_request(self) -> None:
        """Start the next buffered request, or close at the client's end, or leave the fast path."""
        if not self.fast or self.busy:
            return
        buffered = self.buffer
        if not buffered:
            if self.eof:
                self.close()
            return
        end = buffered.find(b"\r\n\r\n")
        if end < 0:
            if len(buffered) > STREAM_LIMIT or self.eof:
                self._http_leave()  # the stream path answers 400 or reads the rest
            return
        ctx = self.ctx
        if ctx.table.size:
            self._http_leave()
            return
        end += 4
        head = buffered[:end]  # the same object when the buffer holds just this head
        assert self.heads is not None
        try:
            plain = self.heads.read(head)
        except MalformedMessage as exc:  # RFC 9112: 400 and the connection closed, nothing forwarded
            self.transport.write(simple_response(400, f"aftershock proxy: {exc}\n".encode(), close=True))
            self.close()
            return
        if plain is None:
            self._http_leave()
            return
        router = ctx.router
        upstream = router.single or router.choose(ctx.rng)
        if upstream is None:
            self._http_leave()
            return
        method, length, close = plain
        self.buffer = buffered[end:]
        self.busy = True
        self.close_after = close
        side = self.upstreams.get(upstream.name)
        if side is None or not side.fast or side.transport.is_closing():
            self.pause("connect")
            self.spawn(self._connect_then_send(upstream, head, method, length))
            return
        self._send(side, head, method, length)

    def _send(self, side: UpstreamSide, head: bytes, method: bytes, length: int) -> None:
        self.body_to = side
        payload = head
        if length:
            body = self.buffer[:length]
            self.buffer = self.buffer[len(body):]
            self.body_left = length - len(body)
            if body:
                payload = head + body
        else:
            self.body_left = 0
        self.bytes_to.value += len(payload)
        side.transport.write(payload)
        side.expect(method)

    async def _connect_then_send(self, upstream: Upstream, head: bytes, method: bytes, length: int) -> None:
        ctx = self.ctx
        try:
            async with asyncio.timeout(ctx.connect_timeout):
                _, side = await self.connect(lambda: UpstreamSide(self, upstream), upstream)
        except (OSError, TimeoutError):
            if not self.fast:
                return
            self.resume("connect")
            message = f"aftershock proxy: upstream {upstream.name} unreachable\n".encode()
            if len(self.buffer) < length:  # the body is not all here: answer and end the connection
                self.transport.write(simple_response(502, message, close=True))
                self.close()
                return
            self.buffer = self.buffer[length:]
            self.transport.write(simple_response(502, message, close=self.close_after))
            self._done(close=self.close_after)
            return
        if not self.fast:
            side.transport.close()
            return
        ctx.metrics.connections.labels(upstream.name).inc()
        old = self.upstreams.get(upstream.name)
        if old is not None:
            old.fast = False
            old.transport.close()
        self.upstreams[upstream.name] = side
        if self.write_paused:
            side.pause("client-full")
        self.resume("connect")
        self._send(side, head, method, length)

    def response_done(self, side: UpstreamSide, upstream_closes: bool) -> None:
        if upstream_closes:
            self.upstreams.pop(side.upstream.name, None)
            side.fast = False
            side.transport.close()
            self.close()
            return
        self.busy = False  # _done(close=self.close_after), with no call where there is nothing to do
        if self.close_after:
            self.close()
            return
        if self.pauses:
            self.resume("pipelined")
        if self.buffer or self.eof:
            self._next_request()

    def _done(self, close: bool) -> None:
        self.busy = False
        if close:
            self.close()
            return
        self.resume("pipelined")
        self._next_request()

    def upstream_failed(self, side: UpstreamSide, message: str) -> None:
        """A malformed response: 502 when nothing of it was forwarded yet, else cut the connection."""
        fresh = side.phase == "head"
        side.phase = "idle"
        if fresh:
            self.transport.write(simple_response(502, message.encode(), close=True))
        self.close()

    def upstream_lost(self, side: UpstreamSide) -> None:
        if self.upstreams.get(side.upstream.name) is side:
            del self.upstreams[side.upstream.name]
        if side.phase == "idle":
            return  # an idle keep-alive connection ended: the next request opens another
        if side.finish_on_close():
            side.phase = "idle"
            self.close()
            return
        self.upstream_failed(side, f"aftershock proxy: upstream {side.upstream.name} closed\n")

    def _http_leave(self) -> None:
        """At a request boundary: the rest of the connection runs in :func:`sessions.run_http`."""
        self.live.discard(self)
        buffered, self.buffer = self.buffer, b""
        creader, cwriter = self.leave(buffered)
        ctx = self.ctx
        kept: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter, Lane]] = {}
        for name, side in self.upstreams.items():
            if not side.fast or side.transport.is_closing():
                continue
            ureader, uwriter = side.leave(side.buffer)
            kept[name] = (ureader, uwriter, Lane(uwriter, "to", ctx.table, name, ctx.rng, ctx.metrics.bytes_to))
        self.upstreams = {}
        self.spawn(_guarded(run_http(ctx, creader, cwriter, kept), cwriter))
