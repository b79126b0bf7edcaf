"""``chaos.timers``: the probes' waits and timeouts on one loop timer behave as asyncio's own do."""

from __future__ import annotations

import asyncio

import pytest

from chaos import timers


async def test_timeout_raises_timeout_error_and_leaves_the_task_uncancelled() -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        async with timers.timeout(0.05):
            await asyncio.Event().wait()
    assert asyncio.get_running_loop().time() - started >= 0.05
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending on the task


async def test_an_answer_in_time_cancels_the_entry() -> None:
    timer = timers.shared_timer()
    before = len(timer)
    async with timers.timeout(10):
        await asyncio.sleep(0)
        assert len(timer) == before + 1
    assert len(timer) == before


async def test_a_cancel_from_outside_is_not_turned_into_a_timeout() -> None:
    entered = asyncio.Event()

    async def waits() -> None:
        async with timers.timeout(10):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(waits())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancel_racing_the_timeout_still_cancels() -> None:
    """As asyncio.timeout: when the task was also cancelled by someone else, CancelledError wins."""

    async def waits() -> None:
        async with timers.timeout(0.01):
            try:
                await asyncio.Event().wait()
            finally:
                asyncio.current_task().cancel()  # type: ignore[union-attr]
                await asyncio.sleep(0.05)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(waits())


async def test_sleep_until_wakes_in_order() -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    woke: list[int] = []

    async def sleeper(i: int, at: float) -> None:
        await timers.sleep_until(at)
        assert loop.time() >= at
        woke.append(i)

    await asyncio.gather(*(sleeper(i, now + 0.01 * (5 - i)) for i in range(5)))
    assert woke == [4, 3, 2, 1, 0]


async def test_many_answered_timeouts_do_not_pile_up() -> None:
    timer = timers.shared_timer()
    for _ in range(1000):
        async with timers.timeout(60):
            pass
    assert len(timer) == 0 and len(timer._heap) <= 2 * 64 + 1


def test_the_timers_of_closed_loops_are_dropped() -> None:
    async def use() -> int:
        async with timers.timeout(1):
            pass
        return id(timers.shared_timer())

    for _ in range(5):
        asyncio.run(use())
    assert len(timers._BY_LOOP) <= 2  # the last one, and a loop still open elsewhere at most
