"""Applies decisions and reverts through the actuator Protocols, idempotently, and reports outcomes.

Called by the run driver (``chaos.engine.driver``) for each decision of a tick (``apply``) and each
step of the end-of-run plan (``revert``); failed outcomes go back to the decider (through
``chaos.engine.policy_bridge``) so failed actions escalate on the next tick. Performs no I/O itself — only through the injected actuators — and reads no clock
(``at`` is the tick time, for the ledger).

Idempotency: an id the ledger has already applied or attempted is skipped (``ActionOutcome.skipped``), so
the same decision is never applied twice within a run. A crashed run is not replayed: ``aftershock
recover`` removes its faults and reverts its mitigations from the state store's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from chaos.errors import ActuatorError, ChaosError
from chaos.policy.actions import (
    Abort,
    ActionOutcome,
    CircuitBreak,
    Decision,
    Degrade,
    Notify,
    PluginAction,
    RemoveFaults,
    Revert,
    ShrinkFault,
)
from chaos.policy.actuators import Actuators
from chaos.policy.ledger import Ledger

T = TypeVar("T")


async def apply(decision: Decision, actuators: Actuators, ledger: Ledger, at: float = 0.0) -> ActionOutcome:
    """Apply one decision unless already done; failures become ``ActionOutcome(ok=False)`` (never raised)."""
    if ledger.attempted(decision.id):
        return ActionOutcome(decision.id, ok=True, skipped=True, note="already applied")
    try:
        note = await _apply(decision, actuators, ledger, at)
    except ChaosError as exc:
        ledger.record_failed(decision.id, str(exc))
        return ActionOutcome(decision.id, ok=False, error=str(exc))
    return ActionOutcome(decision.id, ok=True, skipped=note != "", note=note)


async def apply_all(decisions: Iterable[Decision], actuators: Actuators, ledger: Ledger,
                    at: float = 0.0) -> list[ActionOutcome]:
    """Apply in order; a failure does not stop the others (the decider escalates it next tick)."""
    return [await apply(d, actuators, ledger, at) for d in decisions]


async def _apply(decision: Decision, actuators: Actuators, ledger: Ledger, at: float) -> str:
    action = decision.action
    if isinstance(action, RemoveFaults | Abort):
        if action.faults:
            remover = _need(actuators.remover, "fault remover")
            await remover.remove_faults(decision.id, action.faults)
        ledger.record_applied(decision, at=at)
    elif isinstance(action, ShrinkFault):
        await _need(actuators.shrinker, "fault shrinker").shrink_fault(decision.id, action.fault,
                                                                        action.as_params)
        ledger.record_applied(decision, at=at)
    elif isinstance(action, Degrade):
        handle = await _need(actuators.degrader, "degrader").apply_degrade(decision)
        ledger.record_applied(decision, handle=handle, at=at)
    elif isinstance(action, CircuitBreak):
        weights = _need(actuators.weights, "weight setter")
        if action.weight is None:
            entry = ledger.open_weight(action.target)
            if entry is None or entry.original_weight is None:
                ledger.record_applied(decision, at=at)
                return "no weight to restore"
            await weights.set_weight(decision.id, action.target, entry.original_weight)
            ledger.record_applied(decision, at=at)
        else:
            previous = await weights.set_weight(decision.id, action.target, action.weight)
            ledger.record_applied(decision, previous_weight=previous, at=at)
    elif isinstance(action, PluginAction):
        note = await _need(actuators.runner, f"runner of {action.action} actions").run_action(decision)
        ledger.record_applied(decision, at=at)
        return note
    else:
        assert isinstance(action, Notify)
        await _need(actuators.notifier, "notifier").notify(decision)
        ledger.record_applied(decision, at=at)
    return ""


async def revert(step: Revert, actuators: Actuators, ledger: Ledger, at: float = 0.0) -> ActionOutcome:
    """Carry out one revert of the end-of-run plan (kept ones are skipped, loudly noted)."""
    if step.keep:
        return ActionOutcome(step.id, ok=True, skipped=True, note=f"KEPT {step.target}: {step.note}")
    if ledger.attempted(step.id):
        return ActionOutcome(step.id, ok=True, skipped=True, note="already reverted")
    try:
        if step.kind == "remove-fault":
            assert step.fault is not None
            await _need(actuators.remover, "fault remover").remove_faults(step.id, [step.fault])
        elif step.kind == "revert-degrade":
            assert step.handle is not None
            await _need(actuators.degrader, "degrader").revert_degrade(step.handle)
        else:
            assert step.weight_target is not None
            if step.weight is not None:
                await _need(actuators.weights, "weight setter").set_weight(step.id, step.weight_target,
                                                                             step.weight)
    except ChaosError as exc:
        ledger.record_failed(step.id, str(exc))
        return ActionOutcome(step.id, ok=False, error=str(exc))
    ledger.record_reverted(step, at=at)
    return ActionOutcome(step.id, ok=True)


async def revert_all(plan: Iterable[Revert], actuators: Actuators, ledger: Ledger,
                     at: float = 0.0) -> list[ActionOutcome]:
    """Every step is tried even when one fails (best effort cleanup); the outcomes say which failed."""
    return [await revert(step, actuators, ledger, at) for step in plan]


def _need(actuator: T | None, what: str) -> T:
    if actuator is None:
        raise ActuatorError(f"no {what} is configured for this target")
    return actuator
