"""A stopped probe loop ends, even when a probe kind's library swallows the cancel — as
``asyncio.wait_for`` does on Python 3.11 when the answer races the cancel (a CTK probe under load
kept a run waiting on its probe for ever) — and no product code uses ``asyncio.wait_for``."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from chaos.model.kinds import ProbeContext, ProbeResult
from chaos.model.slos import Slo
from chaos.slo import probing

REPO = Path(__file__).resolve().parents[2]


class SwallowsACancel:
    """A probe whose library loses the first cancel it is sent (then behaves)."""

    def __init__(self) -> None:
        self.observing = asyncio.Event()
        self.swallowed = 0
        self.closed = False

    async def observe(self) -> ProbeResult:
        self.observing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1
            return ProbeResult(ok=True, value=1.0)  # the answer that "raced" the cancel wins
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self.closed = True


async def test_a_probe_that_swallows_the_cancel_is_stopped_all_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = SwallowsACancel()
    monkeypatch.setattr(probing, "make_runner", lambda slo, ctx: runner)
    monkeypatch.setattr(probing, "STOP_RETRY_S", 0.05)
    slo = Slo.model_validate({"name": "p", "probe": {"http": {"url": "http://127.0.0.1:9/"}, "interval": "50ms"}})
    loop = probing.ProbeLoop(slo, ProbeContext(environ={}, timeout_s=1.0), 0.05, time.time)
    loop.start()
    await runner.observing.wait()
    runner.observing.clear()
    stopping = asyncio.create_task(loop.stop())
    done, _ = await asyncio.wait((stopping,), timeout=30)  # a bound for a hang, not a timing assertion
    assert done, "the probe loop ran on after stop()"
    assert runner.swallowed == 1 and runner.closed
    assert loop.task is None


def test_no_product_code_waits_with_asyncio_wait_for() -> None:
    """``asyncio.wait_for`` on 3.11 returns a result that completed while its caller was being
    cancelled, so the cancel is lost; ``asyncio.timeout`` (or ``chaos.timers.timeout``) does not."""
    found = [f"{path.relative_to(REPO)}:{n}" for package in ("chaos", "tui") for path in (REPO / package).rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"\basyncio\.wait_for\(|\bfrom asyncio import .*\bwait_for\b", line)]
    assert found == []
