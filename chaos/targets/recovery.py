"""Dead-run recovery, one function for both callers: remove what runs that are no longer alive left.

:func:`recover_faults` walks the state store's write-ahead fault records, picks those of the selected
runs (by default: dead or unknown runs), removes each from its record alone and marks it
removed. The driver calls it before a run (on the kinds of its target); ``aftershock recover``
calls it for every kind (and also sweeps unknown iptables rules and undo plans). Removal goes
through the one fault lifecycle (:mod:`chaos.targets.lifecycle`: the retry policy, typed results)
and dispatches on the record's ``kind`` (host: proxy/iptables/tc; Kubernetes).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from chaos.clients.registry import is_alive
from chaos.clients.state import Damaged, FaultRow, StateStore
from chaos.errors import ChaosError
from chaos.targets.lifecycle import RemovalPass, remove_fault, remove_recorded

log = logging.getLogger("aftershock.recovery")
CONCURRENCY = 16
"""Records removed at once: each removal mostly waits (a proxy's admin endpoint, the API server and
Chaos Mesh's finalizer, an iptables lock), so 100 leftovers take about the time of a few."""
Selector = Callable[[str], bool]
"""Whether recovery handles what run ``run_id`` left."""


def dead_runs(store: StateStore) -> Selector:
    """The default selection: runs that are no longer alive (unknown runs count as dead). Liveness is
    the owner's: a run that holds its host-wide lock (:mod:`chaos.clients.registry`) is alive whatever
    state dir it uses, so a store that does not know it never makes it look dead."""

    def selected(run_id: str) -> bool:
        if is_alive(run_id):
            return False
        owner = store.run(run_id)
        return owner is None or not owner.alive

    return selected


@dataclass
class Recovered:
    """What one :func:`recover_faults` pass did: ``(row, detail)`` removed, ``(row, error)`` failed."""

    removed: list[tuple[FaultRow, str]] = field(default_factory=list)
    failed: list[tuple[FaultRow, str]] = field(default_factory=list)
    found: list[FaultRow] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    """Rows of the selected runs that cannot be read (corrupt, newer): skipped, the others still recovered."""


async def recover_faults(store: StateStore, *, select: Selector | None = None, kinds: Collection[str] | None = None,
                  environ: Mapping[str, str] | None = None, dry_run: bool = False,
                  on_result: Callable[[FaultRow, str, bool], None] | None = None) -> Recovered:
    """Remove every live recorded fault of the selected runs (of ``kinds``, default all), up to
    :data:`CONCURRENCY` at a time.

    ``on_result(row, detail_or_error, ok)`` is called after each removal (as they finish); with ``dry_run`` nothing
    is removed and only ``found`` is filled. A row that cannot be read is skipped and listed in
    ``damaged``; one that cannot be removed in ``failed``: every other row is still recovered."""
    select = select or dead_runs(store)
    out = Recovered(damaged=[d for d in store.damaged_faults() if select(d.run_id)])
    out.found = [row for row in store.faults(live_only=True)
                 if (kinds is None or row.kind in kinds) and select(row.run_id)]
    if dry_run:
        return out
    gate = asyncio.Semaphore(CONCURRENCY)
    shared = RemovalPass()  # a proxy's admin endpoint checked once, one client per cluster
    results: dict[int, tuple[FaultRow, str, bool]] = {}

    async def remove(index: int, row: FaultRow) -> None:
        async with gate:
            try:
                detail: str = await remove_fault(store, row.run_id, row.fault, functools.partial(
                    remove_recorded, row.realisation, store.dir, environ, shared))
            except Exception as exc:  # one bad record never stops the recovery of the others
                error = str(exc) if isinstance(exc, ChaosError) else f"unusable record ({type(exc).__name__}: {exc})"
                log.warning("could not recover %s/%s: %s", row.run_id, row.fault, error)
                results[index] = (row, error, False)
            else:
                results[index] = (row, detail, True)
        if on_result is not None:
            on_result(*results[index])

    try:
        await asyncio.gather(*(remove(i, row) for i, row in enumerate(out.found)))
    finally:
        await shared.close()
    for index in sorted(results):  # in the store's order, whatever order they finished in
        row, detail, ok = results[index]
        (out.removed if ok else out.failed).append((row, detail))
    return out
