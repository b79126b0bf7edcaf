"""One direction of a proxied connection: writes chunks, delayed and throttled when faults say so.

Used by :mod:`chaos.clients.host.sessions`. Without latency or bandwidth faults a chunk is written
straight to the socket (no per-byte work). With them, chunks queue with a due time
(``arrival + delay``, never earlier than the previous chunk's, so order is kept like netem) and a
writer task sends them, throttled by a per-lane token clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from typing import cast

from chaos.clients.host.faulttable import FaultTable
from chaos.clients.host.metrics import LoopCount

CHUNK = 256 * 1024
"""Read size of the data path."""
_MAX_PENDING = 4 * 1024 * 1024
"""Bytes queued behind a delay before the reader waits (back-pressure)."""


class Lane:
    """Writes to ``writer``; ``direction`` is ``to`` (towards upstream) or ``from`` (towards client)."""

    def __init__(self, writer: asyncio.StreamWriter, direction: str, table: FaultTable, upstream: str,
                 rng: random.Random, counter: LoopCount) -> None:
        self.writer = writer
        self.upstream = upstream
        self._to = direction == "to"
        self._table = table
        self._rng = rng
        self._counter = counter
        self._loop = asyncio.get_running_loop()
        self._pending: deque[tuple[float, bytes, int]] = deque()
        self._pending_bytes = 0
        self._last_due = 0.0
        self._rate_clock = 0.0
        self._task: asyncio.Task[None] | None = None
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._error: BaseException | None = None

    async def send(self, data: bytes) -> None:
        if self._error is not None:
            raise ConnectionResetError("lane closed") from self._error
        self._counter.inc(len(data))
        app = self._table.applicable(self.upstream)
        latency = app.latency_to if self._to else app.latency_from
        rate = app.rate_to if self._to else app.rate_from
        if not latency and not rate and not self._pending:
            self.writer.write(data)
            await self.writer.drain()
            return
        delay = sum(f.delay_s(self._rng) for f in latency)
        if delay <= 0 and not rate and not self._pending:  # e.g. a shrunk 0 ms fault: no queue
            self.writer.write(data)
            await self.writer.drain()
            return
        due = max(self._loop.time() + delay, self._last_due)
        self._last_due = due
        self._pending.append((due, data, rate))
        self._pending_bytes += len(data)
        self._idle.clear()
        if self._task is None:
            self._task = self._loop.create_task(self._drain_pending())
        if self._pending_bytes > _MAX_PENDING:
            self._room.clear()
            await self._room.wait()

    async def flush(self) -> None:
        """Wait until every queued chunk is written."""
        await self._idle.wait()
        if self._error is not None:
            raise ConnectionResetError("lane closed") from self._error

    def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            with contextlib.suppress(OSError):
                self.writer.write_eof()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.writer.close()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0)."""
        if self._task is not None:
            self._task.cancel()
        send_rst(self.writer)

    async def _drain_pending(self) -> None:
        try:
            while self._pending:
                due, data, rate = self._pending[0]
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # the injected latency itself
                self._pending.popleft()
                self._pending_bytes -= len(data)
                if self._pending_bytes <= _MAX_PENDING:
                    self._room.set()
                if rate:
                    await self._throttled(data, rate)
                else:
                    self.writer.write(data)
                    await self.writer.drain()
        except (OSError, asyncio.CancelledError) as exc:
            self._error = exc
            self._pending.clear()
            self._room.set()
        finally:
            self._task = None
            self._idle.set()

    async def _throttled(self, data: bytes, rate: int) -> None:
        view = memoryview(data)
        step = max(1, rate // 20)
        for offset in range(0, len(view), step):
            piece = view[offset:offset + step]
            now = self._loop.time()
            start = max(now, self._rate_clock)
            if start > now:
                await asyncio.sleep(start - now)  # the injected throttle itself
            self.writer.write(piece)
            self._rate_clock = start + len(piece) / rate
            await self.writer.drain()


def send_rst(writer: asyncio.StreamWriter) -> None:
    """Abort the connection so that the peer sees a RST, not a FIN."""
    reset_transport(writer.transport)


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Abort ``transport`` with a RST (SO_LINGER 0)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):  # ValueError: uvloop's socket of a closed transport
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cast(asyncio.WriteTransport, transport).abort()
