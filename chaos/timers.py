"""Many timers on one event-loop timer: the waits and timeouts of the probes.

Callers: :mod:`chaos.slo.probing` (each probe loop waits for its next instant) and
:mod:`chaos.clients.http_probe` (each request's timeout). At 1,000 probes a second, asyncio's own
timers cost more than the rest of the scheduling: every ``asyncio.sleep`` and ``asyncio.timeout`` is
a :class:`asyncio.TimerHandle` pushed on the loop's heap (ordered by a Python ``__lt__``), and a
timeout cancelled by the answer stays in that heap until its instant, so the heap holds about a
second's worth of dead handles that every push and pop walks past (``docs/benchmarks.md``, "Probes").
Here each running loop has one :class:`SharedTimer`: its entries are ``[when, seq, callback]`` lists
in a heap of its own (compared in C), and the loop holds one handle, for the earliest entry.
:func:`timeout` behaves as :func:`asyncio.timeout` does (same cancel / uncancel protocol, the same
``TimeoutError``); :func:`sleep_until` as ``asyncio.sleep`` until an instant of ``loop.time()``.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any

_BY_LOOP: dict[asyncio.AbstractEventLoop, SharedTimer] = {}
"""Each loop's timer (a timer holds its loop: those of closed loops are dropped when the next is made)."""
Entry = list[Any]
"""``[when, seq, callback]``; the callback is None once cancelled."""


class SharedTimer:
    """The entries of one event loop, fired in order by one handle on that loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = math.inf

    def __len__(self) -> int:
        """Live entries (not cancelled, not fired)."""
        return len(self._heap) - self._cancelled

    def call_at(self, when: float, callback: Callable[[], object]) -> Entry:
        """Call ``callback`` at ``when`` (``loop.time()``) → the entry, for :meth:`cancel`."""
        entry: Entry = [when, next(self._seq), callback]
        heapq.heappush(self._heap, entry)
        if when < self._handle_at:
            if self._handle is not None:
                self._handle.cancel()
            self._handle, self._handle_at = self.loop.call_at(when, self._fire), when
        return entry

    def cancel(self, entry: Entry) -> None:
        if entry[2] is None:
            return
        entry[2] = None
        self._cancelled += 1
        heap = self._heap
        if self._cancelled > 64 and self._cancelled * 2 > len(heap):  # as asyncio does: drop the dead ones
            self._heap = [e for e in heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _fire(self) -> None:
        heap, due = self._heap, max(self._handle_at, self.loop.time())
        self._handle, self._handle_at = None, -math.inf  # entries added meanwhile: scheduled below
        while heap and heap[0][0] <= due:
            callback = heapq.heappop(heap)[2]
            if callback is None:
                self._cancelled -= 1
                continue
            callback()
            heap = self._heap  # a callback may have cancelled entries (and rebuilt the heap)
        self._handle_at = math.inf
        if heap:
            self._handle_at = heap[0][0]
            self._handle = self.loop.call_at(self._handle_at, self._fire)


def shared_timer() -> SharedTimer:
    """The running loop's :class:`SharedTimer` (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        for closed in [other for other in _BY_LOOP if other.is_closed()]:
            del _BY_LOOP[closed]
        found = _BY_LOOP[loop] = SharedTimer(loop)
    return found


def sleep_until(when: float) -> asyncio.Future[None]:
    """Resolved at ``when`` (the running loop's ``time()``); await it as ``asyncio.sleep``."""
    timer = shared_timer()
    waiter: asyncio.Future[None] = timer.loop.create_future()
    timer.call_at(when, functools.partial(_wake, waiter))
    return waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # cancelled: its task was stopped
        waiter.set_result(None)


class Timeout:
    """``async with timeout(seconds):`` — :func:`asyncio.timeout` on the shared timer."""

    __slots__ = ("_cancelling", "_entry", "_expired", "_task", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._expired = False

    async def __aenter__(self) -> Timeout:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("timeout() should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        timer = self._timer = shared_timer()
        self._entry = timer.call_at(timer.loop.time() + self.seconds, self._on_timeout)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if not self._expired:
            self._timer.cancel(self._entry)
            return None
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc  # no other cancel request came: the timeout is ours to report
        return None

    def _on_timeout(self) -> None:
        self._expired = True
        self._task.cancel()


def timeout(seconds: float) -> Timeout:
    return Timeout(seconds)
