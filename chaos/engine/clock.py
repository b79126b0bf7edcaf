"""The driver's clock: epoch seconds for what is persisted or shown, the loop's monotonic clock for waits.

Modelled on kopf's ``aiotime``: a wait is measured on ``loop.time()`` (immune to wall-clock
jumps), while deadlines that outlive the process (the state store, the fault proxy, the watchdog,
Chaos Mesh) and event times stay epoch seconds. :class:`LoopClock` is the default of
``chaos.engine.driver.Engine``; tests inject a virtual clock with the same three methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Epoch seconds: event times and persisted deadlines."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps: intervals and timeouts."""
        ...

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait until ``event`` is set (True) or ``timeout`` seconds passed (False)."""
        ...


class LoopClock:
    """The real clock: ``time.time()`` and the running loop's ``time()``."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        if timeout <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        return event.is_set()
