"""Dead-run recovery, one function for both callers: remove what runs that are no longer alive left.

:func:`recover_faults` walks the state store's write-ahead fault records, picks those of the selected
runs (by default: dead or unknown runs), removes each from its record alone and marks it
removed. The driver calls it before a run (on the kinds of its target); ``aftershock recover``
calls it for every kind (and also sweeps unknown iptables rules and undo plans). Removal
dispatches on the record's ``kind`` (host: proxy/iptables/tc; Kubernetes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.clients.registry import is_alive
from chaos.clients.state import FaultRow, StateStore
from chaos.errors import ChaosError

log = logging.getLogger("aftershock.recovery")
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


async def remove_recorded(realisation: Mapping[str, Any], state_dir: Path,
                          environ: Mapping[str, str] | None = None) -> str:
    """Remove one recorded fault of any kind from its record alone (idempotent)."""
    from chaos.targets import silences

    if realisation.get("kind") == silences.KIND:
        return await silences.expire(realisation, environ)
    if realisation.get("kind") == "kubernetes":
        from chaos.targets.kubernetes import remove_kube_realisation

        return await remove_kube_realisation(realisation)
    from chaos.targets.host import remove_realisation

    return await remove_realisation(realisation, state_dir, environ)


@dataclass
class Recovered:
    """What one :func:`recover_faults` pass did: ``(row, detail)`` removed, ``(row, error)`` failed."""

    removed: list[tuple[FaultRow, str]] = field(default_factory=list)
    failed: list[tuple[FaultRow, str]] = field(default_factory=list)
    found: list[FaultRow] = field(default_factory=list)


async def recover_faults(store: StateStore, *, select: Selector | None = None, kinds: Collection[str] | None = None,
                  environ: Mapping[str, str] | None = None, dry_run: bool = False,
                  on_result: Callable[[FaultRow, str, bool], None] | None = None) -> Recovered:
    """Remove every live recorded fault of the selected runs (of ``kinds``, default all).

    ``on_result(row, detail_or_error, ok)`` is called after each removal; with ``dry_run`` nothing
    is removed and only ``found`` is filled."""
    select = select or dead_runs(store)
    out = Recovered()
    for row in store.faults(live_only=True):
        if kinds is not None and row.kind not in kinds:
            continue
        if not select(row.run_id):
            continue
        out.found.append(row)
        if dry_run:
            continue
        try:
            detail = await remove_recorded(row.realisation, store.dir, environ)
        except ChaosError as exc:
            log.warning("could not recover %s/%s: %s", row.run_id, row.fault, exc)
            out.failed.append((row, str(exc)))
            if on_result is not None:
                on_result(row, str(exc), False)
            continue
        store.update_fault(row.run_id, row.fault, "removed")
        out.removed.append((row, detail))
        if on_result is not None:
            on_result(row, detail, True)
    return out
