"""One proxied client connection: TCP piping or HTTP/1.1 request-by-request, with faults applied.

Called by :class:`chaos.clients.host.proxy.FaultProxy` for each accepted connection. Connection-level
faults (partition, reset, loss) are decided when the connection (TCP) or request (HTTP) starts
and again on each client chunk, so faults added later reach long-lived connections too; latency and
bandwidth live in :class:`~chaos.clients.host.lanes.Lane`.

Connections start on the Protocol fast path of :mod:`chaos.clients.host.fastpath` and are handed to
this module (by its ``adopt``) when a fault applies. Here, a small response (by ``Content-Length``)
goes to the client in one write with its head.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

from chaos.clients.host.faulttable import ActiveFault, Applicable, FaultTable
from chaos.clients.host.httpframe import (
    Discard,
    MalformedMessage,
    RequestCheck,
    copy_body,
    read_head,
    request_framing,
    response_framing,
    simple_response,
)
from chaos.clients.host.lanes import CHUNK, Lane, send_rst
from chaos.clients.host.metrics import ProxyMetrics
from chaos.clients.host.routing import Router
from chaos.clients.host.specs import Upstream

STREAM_LIMIT = 1024 * 1024
SMALL_BODY = 64 * 1024
"""Response bodies up to this size (by Content-Length) go out with their head in one write."""


@dataclass
class ProxyContext:
    """What every session of one proxy shares."""

    table: FaultTable
    router: Router
    metrics: ProxyMetrics
    rng: random.Random
    connect_timeout: float

    def count_request(self, upstream: str, status: str) -> None:
        self.metrics.request_count(upstream, status).inc()


class Interrupted(Exception):
    """A connection-level fault fired; ``action`` is refuse, reset or drop."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


def gate(ctx: ProxyContext, app: Applicable) -> None:
    """Raise :class:`Interrupted` when a connection-level fault fires now."""
    if not app.gates:
        return
    decided: tuple[str, ActiveFault] | None = None
    if app.partition:
        decided = ("refuse", app.partition[0])
    else:
        for action, faults in (("reset", app.reset), ("drop", app.loss)):
            hit = next((f for f in faults if f.hits(ctx.rng)), None)
            if hit is not None:
                decided = (action, hit)
                break
    if decided is not None:
        action, fault = decided
        ctx.metrics.injected.labels(fault.spec.kind).inc()
        raise Interrupted(action)


def interrupt(client_writer: asyncio.StreamWriter, stop: Interrupted) -> None:
    """Carry out a connection-level fault on the client side: a refused or reset connection gets a
    TCP RST, a dropped one is closed."""
    if stop.action in ("refuse", "reset"):
        send_rst(client_writer)
        return
    client_writer.close()


async def _connect(ctx: ProxyContext, upstream: Upstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(ctx.connect_timeout):
        if upstream.ssl is None:
            return await asyncio.open_connection(upstream.host, upstream.port, limit=STREAM_LIMIT)
        return await asyncio.open_connection(upstream.host, upstream.port, limit=STREAM_LIMIT, ssl=upstream.ssl,
                                             server_hostname=upstream.server_hostname or upstream.host)


async def run_tcp(ctx: ProxyContext, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
    upstream = ctx.router.choose(ctx.rng)
    if upstream is None:
        send_rst(cwriter)
        return
    ctx.metrics.connections.labels(upstream.name).inc()
    try:
        gate(ctx, ctx.table.applicable(upstream.name))
        ureader, uwriter = await _connect(ctx, upstream)
    except Interrupted as stop:
        interrupt(cwriter, stop)
        return
    except (OSError, TimeoutError):
        send_rst(cwriter)
        return
    to_lane = Lane(uwriter, "to", ctx.table, upstream.name, ctx.rng, ctx.metrics.bytes_to)
    from_lane = Lane(cwriter, "from", ctx.table, upstream.name, ctx.rng, ctx.metrics.bytes_from)
    await pipe_both(ctx, creader, ureader, to_lane, from_lane, cwriter)


async def pipe_both(ctx: ProxyContext, creader: asyncio.StreamReader, ureader: asyncio.StreamReader,
                    to_lane: Lane, from_lane: Lane, cwriter: asyncio.StreamWriter) -> None:
    up = asyncio.ensure_future(_pump(ctx, creader, to_lane, gated=True))
    down = asyncio.ensure_future(_pump(ctx, ureader, from_lane, gated=False))
    try:
        pending: set[asyncio.Future[None]] = {up, down}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if isinstance(exc, Interrupted):
                    to_lane.close()
                    interrupt(cwriter, exc)
                    return
                if exc is not None:  # a side failed: tear both down
                    if isinstance(exc, ConnectionResetError):
                        from_lane.reset()
                    else:
                        from_lane.close()
                    to_lane.close()
                    return
    finally:
        up.cancel()
        down.cancel()
        to_lane.close()
        from_lane.close()


async def _pump(ctx: ProxyContext, reader: asyncio.StreamReader, lane: Lane, gated: bool) -> None:
    while data := await reader.read(CHUNK):
        if gated:
            gate(ctx, ctx.table.applicable(lane.upstream))
        await lane.send(data)
    await lane.flush()
    lane.write_eof()


async def run_http(ctx: ProxyContext, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter,
                   kept: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter, Lane]] | None = None) -> None:
    """Serve one keep-alive client connection request by request, routing each by weight.

    ``kept``: open upstream connections by upstream name (from :mod:`.fastpath`), reused like ours."""
    from_lane = Lane(cwriter, "from", ctx.table, "", ctx.rng, ctx.metrics.bytes_from)
    upstreams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter, Lane]] = kept if kept is not None else {}
    try:
        while True:
            try:
                keep = await _one_request(ctx, creader, cwriter, from_lane, upstreams)
            except Interrupted as stop:
                interrupt(cwriter, stop)
                return
            except MalformedMessage as exc:
                await _answer(cwriter, 400, f"aftershock proxy: {exc}\n", close=True)
                return
            if not keep:
                await from_lane.flush()
                return
    except (OSError, asyncio.IncompleteReadError):
        return
    finally:
        for _reader, _writer, lane in upstreams.values():
            lane.close()
        from_lane.close()


async def _answer(cwriter: asyncio.StreamWriter, code: int, text: str, close: bool, retry_after_s: int = 0) -> None:
    with contextlib.suppress(OSError):
        cwriter.write(simple_response(code, text.encode(), close=close, retry_after_s=retry_after_s))
        await cwriter.drain()


async def _one_request(ctx: ProxyContext, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter,
                       from_lane: Lane,
                       upstreams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter, Lane]]) -> bool:
    """Proxy one request; False when the connection must end afterwards."""
    head = await read_head(creader)
    if head is None:
        return False
    check = RequestCheck(head.raw)  # llhttp reads the head (and below, the body) before it is forwarded
    method, path = head.first[0], head.first[1]
    framing = request_framing(head)
    upstream = ctx.router.choose(ctx.rng)
    if upstream is None:
        await copy_body(creader, framing, Discard(), check)
        await _answer(cwriter, 503, "aftershock proxy: every upstream has weight 0\n", close=head.wants_close)
        return not head.wants_close
    app = ctx.table.applicable(upstream.name)
    gate(ctx, app)
    for fault in app.http_abort:
        if _matches(fault, method, path) and fault.hits(ctx.rng):
            ctx.metrics.injected.labels("http-abort").inc()
            ctx.count_request(upstream.name, str(fault.spec.code))
            await copy_body(creader, framing, Discard(), check)
            await from_lane.flush()
            await _answer(cwriter, fault.spec.code, "aftershock: injected abort\n", close=head.wants_close,
                          retry_after_s=fault.spec.retry_after_s)
            return not head.wants_close
    delay = 0.0
    for fault in app.http_delay:
        if _matches(fault, method, path) and fault.hits(ctx.rng):
            ctx.metrics.injected.labels("http-delay").inc()
            delay += fault.spec.delay_ms / 1000.0
    if delay:
        await asyncio.sleep(delay)  # the injected delay itself
    connection = upstreams.get(upstream.name)
    if connection is None or connection[1].is_closing():
        try:
            ureader, uwriter = await _connect(ctx, upstream)
        except (OSError, TimeoutError):
            await copy_body(creader, framing, Discard(), check)
            await _answer(cwriter, 502, f"aftershock proxy: upstream {upstream.name} unreachable\n",
                          close=head.wants_close)
            return not head.wants_close
        ctx.metrics.connections.labels(upstream.name).inc()
        lane = Lane(uwriter, "to", ctx.table, upstream.name, ctx.rng, ctx.metrics.bytes_to)
        connection = upstreams[upstream.name] = (ureader, uwriter, lane)
    ureader, uwriter, to_lane = connection
    await to_lane.send(head.raw)
    await copy_body(creader, framing, to_lane, check)
    from_lane.upstream = upstream.name
    while True:
        try:
            response = await read_head(ureader)
        except MalformedMessage:
            response = None
        if response is None:
            upstreams.pop(upstream.name, None)
            to_lane.close()
            await from_lane.flush()
            await _answer(cwriter, 502, f"aftershock proxy: upstream {upstream.name} closed\n", close=True)
            return False
        status = response.first[1]
        if not status.startswith("1"):
            break
        await from_lane.send(response.raw)  # an interim (1xx) response
        if status == "101":
            await pipe_both(ctx, creader, ureader, to_lane, from_lane, cwriter)
            return False
    ctx.count_request(upstream.name, status)
    body = response_framing(response, method)
    if body[0] == "length" and body[1] <= SMALL_BODY:  # head and body in one write
        try:
            payload = await ureader.readexactly(body[1])
        except asyncio.IncompleteReadError as exc:
            raise MalformedMessage("connection closed inside a message body") from exc
        await from_lane.send(response.raw + payload)
    else:
        await from_lane.send(response.raw)
        await copy_body(ureader, body, from_lane)
    if body[0] == "close" or response.wants_close:
        upstreams.pop(upstream.name, None)
        await to_lane.flush()
        to_lane.close()
        return False
    return not head.wants_close


def _matches(fault: ActiveFault, method: str, path: str) -> bool:
    spec = fault.spec
    return (not spec.method or spec.method.upper() == method.upper()) and path.startswith(spec.path_prefix)
