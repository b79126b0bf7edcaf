"""Adapts the policy engine (``chaos.policy``: Decider, Ledger, final_reverts) to what the run
state machine (``chaos.engine.runs``) consumes: decisions with ids, failures fed back so the
decider escalates on the next tick, and the end-of-run reverts other than fault removal (the
run machine removes faults itself, first). Pure; used by ``chaos.engine.driver``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.model.experiment import Experiment
from chaos.policy.actions import Abort, Decision, Outcome, RemoveFaults, Revert, SetWeight
from chaos.policy.decisions import Decider
from chaos.policy.ledger import Ledger, final_reverts
from chaos.slo.verdicts import Tick

ACTION_NAMES = {"rollback": "rollback", "abort": "abort", "degrade": "degrade", "set-weight": "circuit-break",
                "shrink": "shrink", "notify": "notify"}


@dataclass(frozen=True)
class RunDecision:
    """A policy decision as the run machine sees it (``raw`` is the policy engine's own)."""

    raw: Decision

    @property
    def id(self) -> str:
        return self.raw.id

    @property
    def policy(self) -> str:
        return self.raw.policy

    @property
    def action(self) -> str:
        return ACTION_NAMES.get(self.raw.kind, self.raw.kind)

    @property
    def target(self) -> str:
        action = self.raw.action
        if isinstance(action, SetWeight):
            return action.target.service
        targets = self.raw.targets
        return ", ".join(t.split(":", 1)[-1] for t in targets)

    @property
    def faults(self) -> tuple[str, ...]:
        action = self.raw.action
        return tuple(action.faults) if isinstance(action, RemoveFaults | Abort) else ()

    @property
    def evidence(self) -> dict[str, Any]:
        out = self.raw.evidence.as_dict()
        out["summary"] = self.raw.action.summary()
        out["cause"] = self.raw.cause
        return out


@dataclass(frozen=True)
class RunRevert:
    raw: Revert

    @property
    def decision_id(self) -> str:
        return self.raw.id

    @property
    def action(self) -> str:
        return self.raw.kind

    @property
    def keep(self) -> bool:
        return self.raw.keep

    @property
    def description(self) -> str:
        return self.raw.summary()


class PolicyBridge:
    """One per run: the decider, the ledger of applied actions, and outcomes waiting for the next tick."""

    def __init__(self, experiment: Experiment) -> None:
        self.decider = Decider.from_experiment(experiment)
        self.ledger = Ledger()
        self._outcomes: list[Outcome] = []

    def injected(self, fault: str, at: float) -> None:
        self.ledger.record_injection(fault, at)

    def observe(self, tick: Tick, now: float) -> list[RunDecision]:
        step = self.decider.on_tick(tick, self._outcomes, now=now)
        self._outcomes = []
        return [RunDecision(d) for d in step.decisions]

    def failed(self, decision_id: str, now: float) -> list[RunDecision]:
        self._outcomes.append(Outcome(decision_id, ok=False, error="action failed"))
        return []  # the decider escalates on the next tick

    def applied(self, decision_id: str, now: float) -> None:
        decision = self.decider.issued(decision_id)
        if decision is not None and isinstance(decision.action, RemoveFaults | Abort) \
                and not self.ledger.attempted(decision_id):
            self.ledger.record_applied(decision, at=now)

    def final_reverts(self) -> list[RunRevert]:
        return [RunRevert(r) for r in final_reverts(self.ledger) if r.kind != "remove-fault"]
