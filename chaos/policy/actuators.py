"""Actuator Protocols (one per capability) and an in-memory recording implementation.

The policy engine never does I/O: :mod:`chaos.policy.executor` calls these Protocols, implemented by
``chaos.clients.http`` (HTTP degrade and notify), the host fault proxy and the Kubernetes adapters (other
packages; they depend on this module, never the reverse). :class:`RecordingActuators` implements all of
them in memory for tests (the policy tests and the TUI tests' engine).

Every effectful call carries the action id; an implementation must make a repeated id a no-op (the
ledger already prevents repeats within one run, this covers a restart).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from chaos.errors import ActuatorError
from chaos.policy.actions import Decision, Degrade, RevertHandle, WeightTarget, notification_payload


@runtime_checkable
class FaultRemover(Protocol):
    async def remove_faults(self, action_id: str, faults: Sequence[str]) -> None:
        """Remove these faults of the run (already removed ones are fine). Raises ActuatorError."""


@runtime_checkable
class FaultShrinker(Protocol):
    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        """Change a live fault's parameters (percent, latency, jitter, mode, value) in place."""


@runtime_checkable
class Degrader(Protocol):
    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        """Apply ``decision.action`` (a :class:`Degrade`) and return how to revert it."""

    async def revert_degrade(self, handle: RevertHandle) -> None:
        """Undo one applied degrade."""


@runtime_checkable
class WeightSetter(Protocol):
    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        """Set the backend's traffic weight; returns the weight it had before."""


@runtime_checkable
class Notifier(Protocol):
    async def notify(self, decision: Decision) -> None:
        """Deliver the evidence of ``decision`` (a notify) to its webhook."""


@runtime_checkable
class ActionRunner(Protocol):
    async def run_action(self, decision: Decision) -> str:
        """Run a plugin action (``decision.action`` is a :class:`~chaos.policy.actions.PluginAction`);
        returns a note. Raises a ChaosError when it fails."""


@dataclass
class Actuators:
    """The capabilities a run has; a missing one makes its actions fail (and escalate)."""

    remover: FaultRemover | None = None
    shrinker: FaultShrinker | None = None
    degrader: Degrader | None = None
    weights: WeightSetter | None = None
    notifier: Notifier | None = None
    runner: ActionRunner | None = None

    @classmethod
    def of(cls, *impls: object) -> Actuators:
        """Fill each capability from the first of ``impls`` that provides it."""
        def first(proto: type) -> Any:
            return next((i for i in impls if isinstance(i, proto)), None)
        return cls(first(FaultRemover), first(FaultShrinker), first(Degrader), first(WeightSetter),
                   first(Notifier), first(ActionRunner))


class RoutingDegrader:
    """Sends HTTP degrades to one degrader and Kubernetes patches to another."""

    def __init__(self, http: Degrader | None = None, kubernetes: Degrader | None = None) -> None:
        self._http = http
        self._kubernetes = kubernetes

    def _for(self, is_http: bool) -> Degrader:
        chosen = self._http if is_http else self._kubernetes
        if chosen is None:
            raise ActuatorError(f"no {'HTTP' if is_http else 'Kubernetes'} degrade actuator configured")
        return chosen

    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        action = decision.action
        if not isinstance(action, Degrade):
            raise ActuatorError(f"{decision.id} is not a degrade")
        return await self._for(action.http is not None).apply_degrade(decision)

    async def revert_degrade(self, handle: RevertHandle) -> None:
        await self._for(handle.backend != "kubernetes").revert_degrade(handle)


@dataclass(frozen=True)
class Call:
    """One effective actuator call recorded by :class:`RecordingActuators`."""

    op: str
    action_id: str
    args: dict[str, Any]


@dataclass
class RecordingActuators:
    """All capabilities in memory: a model of the world (faults, weights, degrades) plus a call log.

    ``fail_next(op, message)`` makes the next call of ``op`` (remove-faults, shrink, degrade,
    revert-degrade, circuit-break, notify) raise :class:`ActuatorError`.
    """

    faults: dict[str, dict[str, str | float]] = field(default_factory=dict)
    """Live faults and their current parameters."""
    weights: dict[str, int] = field(default_factory=dict)
    """Backend weights by :attr:`WeightTarget.key`; unknown backends start at ``default_weight``."""
    default_weight: int = 100
    degrades: dict[str, RevertHandle] = field(default_factory=dict)
    """Applied, not yet reverted degrades by decision id."""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)
    _seen: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def with_faults(cls, *names: str) -> RecordingActuators:
        return cls(faults={n: {} for n in names})

    def fail_next(self, op: str, message: str = "injected failure") -> None:
        self.failures.setdefault(op, []).append(message)

    def ids(self, op: str | None = None) -> list[str]:
        return [c.action_id for c in self.calls if op is None or c.op == op]

    def _call(self, op: str, action_id: str, **args: Any) -> bool:
        """True when the call must take effect (first time for this id, no queued failure)."""
        key = f"{op}:{action_id}"
        if key in self._seen:
            return False
        queued = self.failures.get(op)
        if queued:
            raise ActuatorError(f"{op} {action_id}: {queued.pop(0)}")
        self._seen[key] = True
        self.calls.append(Call(op, action_id, args))
        return True

    async def remove_faults(self, action_id: str, faults: Sequence[str]) -> None:
        if self._call("remove-faults", action_id, faults=list(faults)):
            for name in faults:
                self.faults.pop(name, None)

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        if fault not in self.faults and f"shrink:{action_id}" not in self._seen:
            raise ActuatorError(f"shrink {action_id}: fault {fault} is not live")
        if self._call("shrink", action_id, fault=fault, params=dict(params)):
            self.faults[fault].update(params)

    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        action = decision.action
        if not isinstance(action, Degrade):
            raise ActuatorError(f"{decision.id} is not a degrade")
        reversible = action.kubernetes is not None or action.revert is not None
        handle = RevertHandle(decision.id, action.targets[0], "memory",
                              payload=action if reversible else None, description=action.summary())
        if self._call("degrade", decision.id, target=handle.target):
            self.degrades[decision.id] = handle
        return self.degrades.get(decision.id, handle)

    async def revert_degrade(self, handle: RevertHandle) -> None:
        if self._call("revert-degrade", handle.decision_id, target=handle.target):
            self.degrades.pop(handle.decision_id, None)

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        previous = self.weights.get(target.key, self.default_weight)
        key = f"circuit-break:{action_id}"
        if key in self._seen:
            return int(self._seen[key])
        self._call("circuit-break", action_id, target=target.key, weight=weight)
        self._seen[key] = previous
        self.weights[target.key] = weight
        return previous

    async def notify(self, decision: Decision) -> None:
        if self._call("notify", decision.id):
            self.notifications.append(notification_payload(decision))
