"""Weighted choice among the fault proxy's upstreams (the circuit-break lever).

Non-backup upstreams get traffic in proportion to their weights (percent); backup upstreams share the
remainder ``100 - sum(non-backup weights)`` (floored at 0) equally. Weights change at run time via
:meth:`Router.set_weight`. A weight set for an ``owner`` (a run's circuit-break) is a *hold*: holds on
one upstream stack, and :meth:`Router.release` restores conditionally — the newest hold's release
puts its previous weight back; an older hold's release changes nothing now and hands its previous
weight to the hold above it. So overlapping circuit-breaks never restore each other's 0: the weight
comes back when the last of them ends, to what it was before the first. Used by :class:`chaos.clients.host.proxy.FaultProxy` once per TCP
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
        self._holds: dict[str, list[list[object]]] = {}
        """Upstream name → ``[owner, weight before that owner's first set]``, oldest first."""
        self._table: list[tuple[float, Upstream]] = []
        self.single: Upstream | None = None
        """The upstream that gets all traffic when only one has a share (no random draw needed)."""
        self._rebuild()

    @property
    def upstreams(self) -> list[Upstream]:
        return list(self._upstreams.values())

    def weights(self) -> dict[str, int]:
        return {u.name: u.weight for u in self._upstreams.values()}

    def set_weight(self, name: str, weight: int, owner: str = "") -> int:
        """Set ``name``'s weight (0-100); returns the previous weight. With ``owner``, the set is that
        owner's hold (its first set remembers the weight before it, for :meth:`release`)."""
        current = self._upstreams.get(name)
        if current is None:
            raise TargetError(f"no upstream {name!r}; known: {', '.join(self._upstreams)}")
        if not 0 <= weight <= 100:
            raise TargetError(f"weight must be within 0-100, got {weight}")
        if owner:
            holds = self._holds.setdefault(name, [])
            if not any(h[0] == owner for h in holds):
                holds.append([owner, current.weight])
        self._upstreams[name] = replace(current, weight=weight)
        self._rebuild()
        return current.weight

    def release(self, name: str, owner: str) -> int | None:
        """End ``owner``'s hold on ``name``: the newest hold puts back the weight before it; an older
        one hands that weight to the hold above it and changes nothing now. Returns the weight now, or
        None when ``owner`` holds nothing there (nothing is changed)."""
        holds = self._holds.get(name) or []
        index = next((i for i, h in enumerate(holds) if h[0] == owner), None)
        if index is None:
            return None
        _, previous = holds.pop(index)
        if index < len(holds):  # a newer hold sits above: it restores (to what was before ours) later
            holds[index][1] = previous
        else:
            self._upstreams[name] = replace(self._upstreams[name], weight=int(str(previous)))
            self._rebuild()
        if not holds:
            self._holds.pop(name, None)
        return self._upstreams[name].weight

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
