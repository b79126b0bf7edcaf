"""The fault proxy's live fault set: add / change / remove, expiry at the deadline, matching.

Owned by :class:`chaos.clients.host.proxy.FaultProxy`; connections ask it which faults apply to them
(cached by :attr:`FaultTable.version`, so a connection without faults does no per-chunk work beyond
one integer comparison). Each fault's deadline is enforced by a loop timer here, not by the caller.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.clients.host.specs import ProxyFault
from chaos.errors import TargetError


@dataclass
class ActiveFault:
    """A fault plus its run-time state (jitter memory, end event, expiry timer)."""

    spec: ProxyFault
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None
    _last_jitter: float = 0.0

    def delay_s(self, rng: random.Random) -> float:
        """Latency of the next chunk: ``latency + jitter`` with netem-like correlation."""
        spec = self.spec
        if spec.jitter_ms <= 0:
            return spec.latency_ms / 1000.0
        corr = spec.correlation / 100.0
        fresh = rng.uniform(-spec.jitter_ms, spec.jitter_ms)
        self._last_jitter = corr * self._last_jitter + (1.0 - corr) * fresh
        return max(0.0, spec.latency_ms + self._last_jitter) / 1000.0

    def hits(self, rng: random.Random) -> bool:
        """Whether a percent-based fault fires this time."""
        pct = self.spec.percent
        return pct >= 100 or (pct > 0 and rng.random() * 100.0 < pct)


RemovalListener = Callable[[ProxyFault, str], None]


class FaultTable:
    """Faults by id with deadline timers. All methods run on the proxy's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._faults: dict[str, ActiveFault] = {}
        self.version = 0
        self.size = 0
        """How many faults the table holds (``len(table)`` without a call, for the data path)."""
        self._listeners: list[RemovalListener] = []
        self._change_listeners: list[Callable[[], None]] = []
        self._cache: dict[str, Applicable] = {}

    def __len__(self) -> int:
        return len(self._faults)

    def on_removed(self, listener: RemovalListener) -> None:
        """``listener(spec, reason)`` is called on removal; reason is ``removed`` or ``expired``."""
        self._listeners.append(listener)

    def snapshot(self) -> list[ActiveFault]:
        return list(self._faults.values())

    def specs(self) -> list[ProxyFault]:
        return [f.spec for f in self._faults.values()]

    def get(self, fault_id: str) -> ProxyFault | None:
        active = self._faults.get(fault_id)
        return active.spec if active else None

    def add(self, spec: ProxyFault) -> None:
        if spec.id in self._faults:
            raise TargetError(f"fault {spec.id!r} already exists in the proxy; update or remove it first")
        self._check_deadline(spec)
        active = ActiveFault(spec)
        self._faults[spec.id] = active
        self._arm(active)
        self._bump()

    def update(self, spec: ProxyFault) -> ProxyFault:
        """Replace a fault's parameters (same id) in place; returns the previous spec."""
        active = self._faults.get(spec.id)
        if active is None:
            raise TargetError(f"no fault {spec.id!r} in the proxy")
        if spec.kind != active.spec.kind:
            raise TargetError(f"fault {spec.id!r} is {active.spec.kind!r}; its kind cannot change")
        self._check_deadline(spec)
        previous = active.spec
        active.spec = spec
        if active.timer is not None:
            active.timer.cancel()
        self._arm(active)
        self._bump()
        return previous

    def remove(self, fault_id: str, reason: str = "removed") -> ProxyFault | None:
        active = self._faults.pop(fault_id, None)
        if active is None:
            return None
        if active.timer is not None:
            active.timer.cancel()
        active.ended.set()
        self._bump()
        for listener in self._listeners:
            listener(active.spec, reason)
        return active.spec

    def remove_run(self, run_id: str) -> list[ProxyFault]:
        ids = [f.spec.id for f in self._faults.values() if f.spec.run_id == run_id]
        return [spec for spec in (self.remove(i) for i in ids) if spec is not None]

    def clear(self) -> None:
        for fault_id in list(self._faults):
            self.remove(fault_id)

    async def wait_gone(self, fault_id: str) -> None:
        """Return once ``fault_id`` is not in the table (removed or expired)."""
        active = self._faults.get(fault_id)
        if active is not None:
            await active.ended.wait()

    def _check_deadline(self, spec: ProxyFault) -> None:
        if spec.deadline <= time.time():
            raise TargetError(f"fault {spec.id!r} has a deadline in the past; refusing to inject it")

    def _arm(self, active: ActiveFault) -> None:
        delay = max(0.0, active.spec.deadline - time.time())
        active.timer = self._loop.call_later(delay, self.remove, active.spec.id, "expired")

    def applicable(self, upstream: str) -> Applicable:
        """Faults applying to ``upstream``; cached until the next change (one dict lookup per chunk)."""
        if not self._faults:
            return NOTHING
        cached = self._cache.get(upstream)
        if cached is None:
            cached = self._cache[upstream] = Applicable.build(list(self._faults.values()), upstream)
        return cached

    def _bump(self) -> None:
        self.version += 1
        self.size = len(self._faults)
        self._cache.clear()
        for listener in self._change_listeners:
            listener()

    def on_changed(self, listener: Callable[[], None]) -> None:
        self._change_listeners.append(listener)


@dataclass(frozen=True)
class Applicable:
    """The faults that apply to traffic of one upstream, grouped for the data path."""

    latency_to: tuple[ActiveFault, ...] = ()
    latency_from: tuple[ActiveFault, ...] = ()
    rate_to: int = 0
    rate_from: int = 0
    partition: tuple[ActiveFault, ...] = ()
    reset: tuple[ActiveFault, ...] = ()
    loss: tuple[ActiveFault, ...] = ()
    http_abort: tuple[ActiveFault, ...] = ()
    http_delay: tuple[ActiveFault, ...] = ()

    @property
    def gates(self) -> bool:
        """Whether any connection-level fault (partition, reset, loss) applies."""
        return bool(self.partition or self.reset or self.loss)

    @classmethod
    def build(cls, faults: list[ActiveFault], upstream: str) -> Applicable:
        mine = [f for f in faults if f.spec.upstream in ("", upstream)]

        def of(kind: str) -> tuple[ActiveFault, ...]:
            return tuple(f for f in mine if f.spec.kind == kind)

        def rate(direction: str) -> int:
            rates = [f.spec.rate_bytes_per_s for f in of("bandwidth") if f.spec.direction in (direction, "both")]
            return min(rates) if rates else 0

        latency = of("latency")
        return cls(
            latency_to=tuple(f for f in latency if f.spec.direction in ("to", "both")),
            latency_from=tuple(f for f in latency if f.spec.direction in ("from", "both")),
            rate_to=rate("to"), rate_from=rate("from"),
            partition=of("partition"), reset=of("reset"), loss=of("loss"),
            http_abort=of("http-abort"), http_delay=of("http-delay"),
        )


NOTHING = Applicable()
