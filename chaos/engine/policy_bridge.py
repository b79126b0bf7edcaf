"""The policy engine (``chaos.policy``: Decider, Ledger, final_reverts) as the run state machine
(``chaos.engine.runs``) consumes it: the policy's own :class:`~chaos.policy.actions.Decision`
values, failures fed back so the decider escalates on the next tick, and the end-of-run reverts
other than fault removal (the run machine removes faults itself, first). The functions name a
decision the way events show it. Pure; used by ``chaos.engine.runs`` and ``chaos.engine.driver``.

The decider and the ledger (``chaos.policy.decisions``, ``chaos.policy.ledger``) are imported and
built when the run first needs them — the first fault injected — so the policy engine is no part of
a run's way to its first injection (``docs/benchmarks.md``, start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.policy.actions import Abort, ActionOutcome, CircuitBreak, Decision, RemoveFaults, Revert
from chaos.slo.verdicts import Tick

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment
    from chaos.policy.decisions import Decider
    from chaos.policy.ledger import Ledger

ACTION_NAMES = {"rollback": "rollback", "abort": "abort", "degrade": "degrade", "circuit-break": "circuit-break",
                "shrink": "shrink", "notify": "notify"}


def action_name(decision: Decision) -> str:
    """The policy action as experiments name it (``circuit-break`` for a weight change)."""
    return ACTION_NAMES.get(decision.kind, decision.kind)


def decision_target(decision: Decision) -> str:
    action = decision.action
    if isinstance(action, CircuitBreak):
        return action.target.service
    return ", ".join(t.split(":", 1)[-1] for t in decision.targets)


def decision_faults(decision: Decision) -> tuple[str, ...]:
    """Faults the decision removes (rollback/abort); empty for other actions."""
    action = decision.action
    return tuple(action.faults) if isinstance(action, RemoveFaults | Abort) else ()


def decision_evidence(decision: Decision) -> dict[str, Any]:
    out = decision.evidence.as_dict()
    out["summary"] = decision.action.summary()
    out["cause"] = decision.cause
    return out


class PolicyBridge:
    """One per run: the decider, the ledger of applied actions, and outcomes waiting for the next tick."""

    def __init__(self, experiment: Experiment) -> None:
        self._experiment = experiment
        self._decider: Decider | None = None
        self._ledger: Ledger | None = None
        self._outcomes: list[ActionOutcome] = []

    @property
    def decider(self) -> Decider:
        if self._decider is None:
            from chaos.policy.decisions import Decider

            self._decider = Decider.from_experiment(self._experiment)  # its policies were checked when loaded
        return self._decider

    def _build_decider(self) -> None:
        self._decider = self.decider

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from chaos.policy.ledger import Ledger

            self._ledger = Ledger()
        return self._ledger

    def injected(self, fault: str, at: float) -> None:
        self.ledger.record_injection(fault, at)
        self._build_decider()  # now, between the injection and the first tick, not on that tick

    def observe(self, tick: Tick, now: float) -> list[Decision]:
        step = self.decider.on_tick(tick, self._outcomes, now=now)
        self._outcomes = []
        return list(step.decisions)

    def failed(self, decision_id: str, now: float) -> None:
        """The decider escalates on the next tick."""
        self._outcomes.append(ActionOutcome(decision_id, ok=False, error="action failed"))

    def applied(self, decision_id: str, now: float) -> None:
        decision = self.decider.issued(decision_id)
        if decision is not None and isinstance(decision.action, RemoveFaults | Abort) \
                and not self.ledger.attempted(decision_id):
            self.ledger.record_applied(decision, at=now)

    def final_reverts(self) -> list[Revert]:
        if self._ledger is None:  # nothing was injected, so nothing applied
            return []
        from chaos.policy.ledger import final_reverts

        return [r for r in final_reverts(self._ledger) if r.kind != "remove-fault"]
