"""Value types of the policy engine: actions, decisions, their evidence, outcomes and reverts.

Produced by :mod:`chaos.policy.decisions` (decisions), :mod:`chaos.policy.executor` (outcomes) and
:mod:`chaos.policy.ledger` (reverts); consumed by the run engine, the journal, the TUI and the actuators
in ``chaos.clients``. Frozen dataclasses, no I/O.

Every action names the *targets* it touches (``fault:<name>``, ``service:<ns>/<name>``,
``degrade:<endpoint>``, ``run``); two decisions of one tick never share a target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from chaos.model.policies import HttpCall, KubePatch
from chaos.secrets import Secret
from chaos.slo.verdicts import SeriesValue, Status, Verdict

Cause = Literal["fire", "escalation", "failure", "breaker"]
"""Why a decision was made: the policy fired (once per episode), it escalated after ``escalate.after``,
an earlier action failed (the default ladder), or the circuit breaker changed state on its own."""

BreakerPhase = Literal["open", "half-open", "closed"]


@dataclass(frozen=True)
class Evidence:
    """What triggered a decision: the SLO's verdict at the tick, and a human reason."""

    slo: str
    status: Status | None
    """The SLO's status at the tick (None when the tick had no verdict for it)."""
    value: float | None
    objective: str
    tick_time: float
    reason: str
    series: tuple[SeriesValue, ...] = ()
    """The breaching series (labels and values) of the verdict."""

    @classmethod
    def of(cls, slo: str, verdict: Verdict | None, tick_time: float, reason: str) -> Evidence:
        if verdict is None:
            return cls(slo=slo, status=None, value=None, objective="", tick_time=tick_time, reason=reason)
        return cls(slo=slo, status=verdict.status, value=verdict.value, objective=verdict.objective,
                   tick_time=tick_time, reason=reason, series=verdict.breaching_series)

    def as_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo, "status": self.status, "value": self.value, "objective": self.objective,
            "tick_time": self.tick_time, "reason": self.reason,
            "series": [{"labels": dict(s.labels), "value": s.value} for s in self.series],
        }

    def describe(self) -> str:
        value = "no value" if self.value is None else f"value {self.value:g}"
        objective = f", objective {self.objective}" if self.objective else ""
        return f"{self.slo} {self.status or 'no verdict'} ({value}{objective}): {self.reason}"


# --------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class RemoveFaults:
    """``rollback``: remove these faults of the run (never re-injected)."""

    faults: tuple[str, ...]
    kind: ClassVar[str] = "rollback"

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(f"fault:{f}" for f in self.faults)

    def summary(self) -> str:
        return "remove faults " + ", ".join(self.faults) if self.faults else "remove no fault"


@dataclass(frozen=True)
class Abort:
    """``abort``: stop the whole run now: remove every live fault; the run's verdict is ``aborted``."""

    faults: tuple[str, ...]
    kind: ClassVar[str] = "abort"

    @property
    def targets(self) -> tuple[str, ...]:
        return ("run", *(f"fault:{f}" for f in self.faults))

    def summary(self) -> str:
        return "abort the run" + (" (remove " + ", ".join(self.faults) + ")" if self.faults else "")


@dataclass(frozen=True)
class Degrade:
    """``degrade``: switch to a fallback (an HTTP call, or a Kubernetes patch) and remember its revert."""

    http: HttpCall | None = None
    kubernetes: KubePatch | None = None
    revert: HttpCall | None = None
    """How to undo an HTTP degrade (Kubernetes patches compute their inverse from the prior state)."""
    kind: ClassVar[str] = "degrade"

    @property
    def endpoint(self) -> str:
        if self.http is not None:
            return f"{self.http.method} {self.http.url}"
        assert self.kubernetes is not None
        patch = self.kubernetes
        return f"kubernetes:{patch.kind}/{patch.namespace or '-'}/{patch.name}"

    @property
    def targets(self) -> tuple[str, ...]:
        return (f"degrade:{self.endpoint}",)

    def summary(self) -> str:
        return f"degrade via {self.endpoint}"


@dataclass(frozen=True)
class WeightTarget:
    """A backend whose traffic weight a circuit breaker sets."""

    service: str
    namespace: str | None = None
    admin: str | None = None
    """Host target: admin URL of the proxy that owns the upstream."""
    token_env: str | None = None
    token_file: str | None = None

    @property
    def key(self) -> str:
        return f"service:{self.namespace or '-'}/{self.service}"


@dataclass(frozen=True)
class CircuitBreak:
    """``circuit-break``: set a backend's weight; ``weight=None`` restores the weight it had before."""

    target: WeightTarget
    weight: int | None
    phase: BreakerPhase
    kind: ClassVar[str] = "circuit-break"

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.target.key,)

    def summary(self) -> str:
        weight = "original weight" if self.weight is None else f"weight {self.weight}"
        return f"circuit {self.phase}: {self.target.service} → {weight}"


@dataclass(frozen=True)
class ShrinkFault:
    """``shrink``: reduce a live fault's blast radius (percent, latency, jitter, mode/value)."""

    fault: str
    params: tuple[tuple[str, str | float], ...]
    kind: ClassVar[str] = "shrink"

    @property
    def targets(self) -> tuple[str, ...]:
        return (f"fault:{self.fault}",)

    @property
    def as_params(self) -> dict[str, str | float]:
        return dict(self.params)

    def summary(self) -> str:
        return f"shrink {self.fault} to " + ", ".join(f"{k}={v}" for k, v in self.params)


@dataclass(frozen=True)
class Notify:
    """``notify``: post the evidence to a webhook (Slack-compatible body). Touches nothing."""

    url: str
    headers: tuple[tuple[str, str | Secret], ...] = ()
    timeout: str = "5s"
    experiment: str = ""
    also: tuple[str, ...] = ()
    """Summaries of the other decisions of the same tick (e.g. the rollback that dominated)."""
    kind: ClassVar[str] = "notify"

    @property
    def targets(self) -> tuple[str, ...]:
        return ()

    def summary(self) -> str:
        return f"notify {self.url}"


@dataclass(frozen=True)
class PluginAction:
    """The action of a plugin's action kind (its ``ActionKind.apply``): run once when its policy fires,
    through the run's :class:`~chaos.policy.actuators.ActionRunner`; nothing of it is undone at the end."""

    action: str
    """The action's registered name."""
    with_: Any = None
    """The policy's ``with`` block (the plugin's own model)."""

    @property
    def kind(self) -> str:
        return self.action

    @property
    def targets(self) -> tuple[str, ...]:
        return (f"action:{self.action}",)

    def summary(self) -> str:
        from chaos import registry

        kind = registry.actions.get(self.action)
        return kind.words if kind is not None else self.action


Action = RemoveFaults | Abort | Degrade | CircuitBreak | ShrinkFault | Notify | PluginAction
REVERSIBLE_KINDS: frozenset[str] = frozenset({"degrade", "circuit-break", "shrink"})
"""Kinds whose effect is undone at the end of a run (a shrink is undone by removing its fault)."""


@dataclass(frozen=True)
class Decision:
    """One action the policy engine wants taken at one tick; ``id`` makes applying it idempotent."""

    id: str
    """Deterministic and unique within a run, e.g. ``fast-rollback#2`` (policy, episode)."""
    policy: str
    action: Action
    evidence: Evidence
    cause: Cause = "fire"
    episode: int = 0
    keep: bool = False
    """Leave the effect in place at the end of the run (``keep: true``)."""

    @property
    def kind(self) -> str:
        return self.action.kind

    @property
    def targets(self) -> tuple[str, ...]:
        return self.action.targets

    def summary(self) -> str:
        return f"{self.id}: {self.action.summary()}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "policy": self.policy, "kind": self.kind, "cause": self.cause,
                "episode": self.episode, "keep": self.keep, "targets": list(self.targets),
                "summary": self.action.summary(), "evidence": self.evidence.as_dict()}


@dataclass(frozen=True)
class Suppressed:
    """A decision that was made but dropped by conflict resolution (e.g. rollback dominates)."""

    decision: Decision
    reason: str


@dataclass(frozen=True)
class ActionOutcome:
    """What happened when an action (or revert) was applied; fed back to the decider."""

    id: str
    """The decision id (or revert id)."""
    ok: bool
    error: str = ""
    skipped: bool = False
    """Nothing was done: already applied (idempotency), kept, or nothing to do."""
    note: str = ""


@dataclass(frozen=True)
class RevertHandle:
    """How to undo one applied degrade; returned by :meth:`Degrader.apply_degrade`.

    ``payload`` is the actuator's own data: the revert :class:`HttpCall` (or None) for HTTP, the inverse
    patch for Kubernetes.
    """

    decision_id: str
    target: str
    backend: Literal["http", "kubernetes", "memory"]
    payload: Any = None
    description: str = ""

    @property
    def reversible(self) -> bool:
        return self.payload is not None


@dataclass(frozen=True)
class Revert:
    """One undo step of the end-of-run plan (from :func:`chaos.policy.ledger.final_reverts`)."""

    id: str
    kind: Literal["remove-fault", "revert-degrade", "restore-weight"]
    target: str
    covers: tuple[str, ...]
    """Ids of what this undoes: the fault injection and shrinks, or the decisions of one degrade/weight."""
    fault: str | None = None
    handle: RevertHandle | None = None
    weight_target: WeightTarget | None = None
    weight: int | None = None
    """restore-weight: the weight to restore (what the backend had before the breaker opened)."""
    keep: bool = False
    """Left in place on purpose — the journal prints these loudly."""
    note: str = ""

    def summary(self) -> str:
        if self.keep:
            return f"KEPT {self.target}: {self.note}"
        match self.kind:
            case "remove-fault":
                return f"remove fault {self.fault}"
            case "revert-degrade":
                return f"revert degrade {self.target}"
            case "restore-weight":
                kind, _, rest = self.target.partition(":")
                namespace, _, service = rest.rpartition("/")
                shown = (f"{service} (namespace {namespace})" if namespace not in ("", "-") else service) \
                    if kind == "service" and service else self.target
                return f"restore {shown} to weight {self.weight}"
        raise AssertionError(self.kind)  # pragma: no cover


# ------------------------------------------------------------------------------------------ notifying


def notification_payload(decision: Decision, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """JSON body of a notify: Slack-compatible ``text`` plus our structured fields (the evidence)."""
    ev = decision.evidence
    action = decision.action
    experiment = action.experiment if isinstance(action, Notify) else ""
    also = action.also if isinstance(action, Notify) else ()
    when = datetime.fromtimestamp(ev.tick_time, tz=UTC).isoformat(timespec="seconds")
    text = f"[aftershock] {experiment or 'experiment'}: policy {decision.policy} — {ev.describe()} at {when}"
    if also:
        text += "; also: " + "; ".join(also)
    body: dict[str, Any] = {
        "text": text,
        "experiment": experiment,
        "decision": decision.id,
        "policy": decision.policy,
        "cause": decision.cause,
        "evidence": ev.as_dict(),
        "related": list(also),
    }
    if extra:
        body.update(extra)
    return body


__all__ = [
    "REVERSIBLE_KINDS",
    "Abort",
    "Action",
    "ActionOutcome",
    "BreakerPhase",
    "Cause",
    "CircuitBreak",
    "Decision",
    "Degrade",
    "Evidence",
    "Notify",
    "PluginAction",
    "RemoveFaults",
    "Revert",
    "RevertHandle",
    "ShrinkFault",
    "Suppressed",
    "WeightTarget",
    "notification_payload",
]
