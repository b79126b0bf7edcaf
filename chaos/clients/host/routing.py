"""Weighted choice among the fault proxy's upstreams (the circuit-break lever).

Non-backup upstreams get traffic in proportion to their weights (percent); backup upstreams share the
remainder ``100 - sum(non-backup weights)`` (floored at 0) equally. Weights change at run time via
:meth:`Router.set_weight`. Used by :class:`chaos.clients.host.proxy.FaultProxy` once per TCP
connection, or once per request in HTTP mode.
"""

from __future__ import annotations

import random
from dataclasses import replace

from chaos.clients.host.specs import Upstream
from chaos.errors import TargetError


class Router:
    def __init__(self, upstreams: list[Upstream]) -> None:
        if not upstreams:
            raise TargetError("the fault proxy needs at least one upstream")
        names = [u.name for u in upstreams]
        if len(set(names)) != len(names):
            raise TargetError(f"upstream names must be unique, got {names}")
        self._upstreams = {u.name: u for u in upstreams}
        self._table: list[tuple[float, Upstream]] = []
        self.single: Upstream | None = None
        """The upstream that gets all traffic when only one has a share (no random draw needed)."""
        self._rebuild()

    @property
    def upstreams(self) -> list[Upstream]:
        return list(self._upstreams.values())

    def weights(self) -> dict[str, int]:
        return {u.name: u.weight for u in self._upstreams.values()}

    def set_weight(self, name: str, weight: int) -> int:
        """Set ``name``'s weight (0-100); returns the previous weight."""
        current = self._upstreams.get(name)
        if current is None:
            raise TargetError(f"no upstream {name!r}; known: {', '.join(self._upstreams)}")
        if not 0 <= weight <= 100:
            raise TargetError(f"weight must be within 0-100, got {weight}")
        self._upstreams[name] = replace(current, weight=weight)
        self._rebuild()
        return current.weight

    def choose(self, rng: random.Random) -> Upstream | None:
        """An upstream by weight, or None when every share is 0."""
        if not self._table:
            return None
        if len(self._table) == 1:
            return self._table[0][1]
        point = rng.random() * self._table[-1][0]
        for bound, upstream in self._table:
            if point < bound:
                return upstream
        return self._table[-1][1]

    def _rebuild(self) -> None:
        primaries = [u for u in self._upstreams.values() if not u.backup]
        backups = [u for u in self._upstreams.values() if u.backup]
        remainder = max(0, 100 - sum(u.weight for u in primaries))
        entries = [(float(u.weight), u) for u in primaries]
        entries += [(remainder / len(backups), u) for u in backups] if backups else []
        table: list[tuple[float, Upstream]] = []
        total = 0.0
        for weight, upstream in entries:
            if weight > 0:
                total += weight
                table.append((total, upstream))
        self._table = table
        self.single = table[0][1] if len(table) == 1 else None
