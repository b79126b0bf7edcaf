"""The ledger: what a run applied, which ids are done, and how to undo it all at the end (pure).

Written by :mod:`chaos.policy.executor` (and by the run engine for fault injections, via
:meth:`Ledger.record_injection`); read by the executor for idempotency (an id already applied or
attempted is never applied again) and by :func:`final_reverts` for the end-of-run plan. In-memory, no
I/O; the engine journals it (:meth:`Ledger.as_dict`) so a restarted run knows what was done.

One *entry* per thing to undo: a live fault (its shrinks ride along — removing the fault undoes them),
one applied degrade, one backend weight (every circuit-breaker weight change on that backend until it is
restored). Each entry is undone exactly once: during the run (a rollback removes its fault, a closing
breaker restores the weight) or by :func:`final_reverts` — unless it is kept (``keep: true``, or an HTTP
degrade without ``with.revert``), which the plan flags loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chaos.policy.actions import (
    Abort,
    CircuitBreak,
    Decision,
    Degrade,
    Notify,
    PluginAction,
    RemoveFaults,
    Revert,
    RevertHandle,
    ShrinkFault,
    WeightTarget,
)

EntryKind = Literal["fault", "degrade", "weight"]


@dataclass
class Entry:
    """One applied action (or injection) in the ledger."""

    id: str
    """``inject:<fault>`` for an injection, else the id of the decision that created it."""
    kind: EntryKind
    target: str
    seq: int
    covers: list[str] = field(default_factory=list)
    """Ids this entry's undo reverses (the injection and shrinks, or the weight/degrade decisions)."""
    policy: str = ""
    keep: bool = False
    note: str = ""
    reverted_by: str | None = None
    fault: str | None = None
    handle: RevertHandle | None = None
    weight_target: WeightTarget | None = None
    original_weight: int | None = None
    at: float = 0.0

    @property
    def open(self) -> bool:
        return self.reverted_by is None


class Ledger:
    """Applied ids and undo entries of one run, in application order."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._applied: dict[str, float] = {}
        self._failed: dict[str, str] = {}

    # ------------------------------------------------------------------------------ reading

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def applied_ids(self) -> frozenset[str]:
        return frozenset(self._applied)

    def attempted(self, action_id: str) -> bool:
        """Applied, or tried and failed: either way it must not be done again."""
        return action_id in self._applied or action_id in self._failed

    def failure(self, action_id: str) -> str | None:
        return self._failed.get(action_id)

    def live_faults(self) -> tuple[str, ...]:
        return tuple(e.fault for e in self._entries if e.kind == "fault" and e.open and e.fault)

    def open_weight(self, target: WeightTarget) -> Entry | None:
        return next((e for e in self._entries if e.kind == "weight" and e.open and e.target == target.key), None)

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self._entries if e.id == entry_id), None)

    # ------------------------------------------------------------------------------ writing

    def record_injection(self, fault: str, at: float = 0.0) -> str:
        """The engine injected ``fault``; it will be removed at the end. Returns the injection id."""
        injection = f"inject:{fault}"
        if self._open_fault(fault) is None:
            self._add(Entry(id=injection, kind="fault", target=f"fault:{fault}", seq=0, covers=[injection],
                            fault=fault, at=at))
        self._applied.setdefault(injection, at)
        return injection

    def record_applied(self, decision: Decision, *, handle: RevertHandle | None = None,
                       previous_weight: int | None = None, at: float = 0.0) -> None:
        """``decision`` took effect; remember its id and how to undo it."""
        if decision.id in self._applied:
            return
        self._applied[decision.id] = at
        action = decision.action
        if isinstance(action, RemoveFaults | Abort):
            for fault in action.faults:
                entry = self._open_fault(fault)
                if entry is not None:
                    entry.reverted_by = decision.id
        elif isinstance(action, ShrinkFault):
            entry = self._open_fault(action.fault)
            if entry is None:  # injected outside the ledger's knowledge: still removed at the end
                entry = self._add(Entry(id=decision.id, kind="fault", target=f"fault:{action.fault}", seq=0,
                                        fault=action.fault, policy=decision.policy, at=at))
            entry.covers.append(decision.id)
        elif isinstance(action, Degrade):
            keep, note = decision.keep, "keep: true" if decision.keep else ""
            if handle is None or not handle.reversible:
                keep, note = True, "no way to revert it (degrade has no with.revert): left degraded"
            self._add(Entry(id=decision.id, kind="degrade", target=action.targets[0], seq=0,
                            covers=[decision.id], policy=decision.policy, keep=keep, note=note,
                            handle=handle, at=at))
        elif isinstance(action, CircuitBreak):
            entry = self.open_weight(action.target)
            if action.weight is None:
                if entry is not None:
                    entry.covers.append(decision.id)
                    entry.reverted_by = decision.id
            elif entry is None:
                self._add(Entry(id=decision.id, kind="weight", target=action.target.key, seq=0,
                                covers=[decision.id], policy=decision.policy, keep=decision.keep,
                                note="keep: true" if decision.keep else "", weight_target=action.target,
                                original_weight=previous_weight, at=at))
            else:
                entry.covers.append(decision.id)
        else:
            assert isinstance(action, Notify | PluginAction)  # nothing to undo

    def record_failed(self, action_id: str, error: str) -> None:
        self._failed.setdefault(action_id, error)

    def record_reverted(self, revert: Revert, at: float = 0.0) -> None:
        entry = self.entry(revert.id.removeprefix("revert:"))
        if entry is not None and entry.open:
            entry.reverted_by = revert.id
        self._applied.setdefault(revert.id, at)

    def as_dict(self) -> dict[str, Any]:
        """Journal form (what was applied, failed, and is still open)."""
        return {
            "applied": dict(self._applied),
            "failed": dict(self._failed),
            "entries": [{"id": e.id, "kind": e.kind, "target": e.target, "covers": list(e.covers),
                         "policy": e.policy, "keep": e.keep, "note": e.note, "reverted_by": e.reverted_by,
                         "original_weight": e.original_weight} for e in self._entries],
        }

    def _open_fault(self, fault: str) -> Entry | None:
        return next((e for e in self._entries if e.kind == "fault" and e.open and e.fault == fault), None)

    def _add(self, entry: Entry) -> Entry:
        entry.seq = len(self._entries)
        self._entries.append(entry)
        return entry


def final_reverts(ledger: Ledger) -> list[Revert]:
    """The end-of-run plan: every open entry undone, kept ones listed with ``keep=True``.

    Order: live faults first (stop the harm; newest first), then degrades and weights in reverse order
    of application (the newest mitigation is undone first, so stacked patches unwind correctly).
    """
    open_entries = [e for e in reversed(ledger.entries) if e.open]
    faults = [e for e in open_entries if e.kind == "fault"]
    others = [e for e in open_entries if e.kind != "fault"]
    plan: list[Revert] = []
    for e in faults:
        plan.append(Revert(id=f"revert:{e.id}", kind="remove-fault", target=e.target, covers=tuple(e.covers),
                           fault=e.fault))
    for e in others:
        note = e.note
        if e.keep and e.policy:
            note = f"policy {e.policy}: {note}"
        if e.kind == "degrade":
            plan.append(Revert(id=f"revert:{e.id}", kind="revert-degrade", target=e.target,
                               covers=tuple(e.covers), handle=e.handle, keep=e.keep, note=note))
        else:
            plan.append(Revert(id=f"revert:{e.id}", kind="restore-weight", target=e.target,
                               covers=tuple(e.covers), weight_target=e.weight_target,
                               weight=e.original_weight, keep=e.keep, note=note))
    return plan
