"""Helpers of the game-day tests: GameDay files written next to a host experiment, a virtual clock,
and a launcher whose game days end when the test says so (the scheduler's semantics are tested
with it; the real engine runs game days in test_runner.py and the e2e test)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.experiments import proxy_delay_experiment, slo

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore
from chaos.gameday.loading import LoadedGameDay, load_gameday
from chaos.gameday.service import Finished, Handle, Scheduler

GAMEDAY = """
apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {name: %(name)s}
spec:
  schedule: %(schedule)s
  experiments:
    - file: %(exp)s.yaml
%(extra)s
"""


def utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


def write_experiment(directory: Path, name: str = "delay", port: int = 18999,
                     url: str = "http://127.0.0.1:9") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(proxy_delay_experiment(name, url, [slo("latency", "vector(0.1)", "<", 0.5)], port=port,
                                           duration="1s", description="a small delay", steadyState=["latency"]))
    return path


def write_gameday(directory: Path, schedule: str, *, name: str = "drill", exp: str = "delay", extra: str = "",
                  port: int = 18999, url: str = "http://127.0.0.1:9") -> LoadedGameDay:
    write_experiment(directory, exp, port, url)
    path = directory / f"{name}.gameday.yaml"
    path.write_text(GAMEDAY % {"name": name, "schedule": schedule, "exp": exp, "extra": extra})
    return load_gameday(path)


class FakeClock:
    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep_until(self, at: float, wake: asyncio.Event) -> None:
        self.t = max(self.t, at)


@dataclass
class Launches:
    """Records launches; each game day ends when ``finish(gid, verdict)`` is called (or at once with
    ``auto``); honours aborts like the real runner (verdict aborted)."""

    auto: str | None = None
    started: list[Handle] = field(default_factory=list)
    _done: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    async def __call__(self, lgd: LoadedGameDay, handle: Handle, trigger: str) -> Finished:
        self.started.append(handle)
        if self.auto is not None:
            return Finished(self.auto, score=100)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._done[handle.gameday_id] = fut
        abort = asyncio.create_task(handle.abort.wait())
        done, _ = await asyncio.wait({fut, abort}, return_when=asyncio.FIRST_COMPLETED)
        abort.cancel()
        return Finished("aborted" if abort in done else fut.result(), score=50)

    def finish(self, gid: str, verdict: str = "passed") -> None:
        self._done[gid].set_result(verdict)


async def settle(s: Scheduler) -> None:
    """Let launched game days run until they wait on the test (or finish)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def drain(s: Scheduler) -> None:
    tasks = [live.task for live in s._live.values()]
    if tasks:
        await asyncio.gather(*tasks)


def make(stores: tuple[ScheduleStore, StateStore], start: float, launches: Launches, **kw: Any
         ) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(start)
    return Scheduler(stores[0], stores[1], clock, launches, **kw), clock
