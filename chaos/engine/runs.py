"""The life of one run as an I/O-free state machine (the shape of httpx's ``auth_flow``).

:func:`lifecycle` is a generator: it *yields* steps (pre-flight, check steady state, record a
fault, inject it, wait for the next monitor tick, apply a policy decision, remove faults,
revert, wait for recovery, publish an event) and *receives* their outcomes. It decides
everything — order, verdict, exit code, timings — and does no I/O and reads no clock: every
time comes in with an outcome (one outcome type per step). ``chaos.engine.driver`` performs the
steps; the tests answer them from scripts (``tests/engine/scripted.py``). The steps of a run:

1. pre-flight → 2. steady state before → 3. write-ahead record, inject → 4. monitor + policy
loop until the fault window ends, a rollback/abort, or the user aborts → 5. remove faults,
revert (reverse order) → 6. wait for steady state (bounded) → 7. verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from chaos.engine import events as ev
from chaos.engine.policy_bridge import action_name, decision_evidence, decision_faults, decision_target
from chaos.engine.wording import describe_fault
from chaos.model.experiment import Experiment
from chaos.model.policies import NotifyWith
from chaos.policy import actions as pa
from chaos.policy.actions import Decision
from chaos.slo.budget import closed, gate_queries, judge, opened, unreadable
from chaos.slo.verdicts import Tick, Verdict

EXIT_CODES: dict[ev.RunVerdict, int] = {"passed": 0, "deviated": 1, "failed": 1, "unsteady": 1, "aborted": 130,
                                        "invalid": 2, "error": 3}


# ------------------------------------------------------------------ the policy engine, as the run sees it


class DeciderLike(Protocol):
    """What the run machine needs of the policy engine (``chaos.engine.policy_bridge.PolicyBridge``)."""

    def injected(self, fault: str, at: float) -> None: ...
    def observe(self, tick: Tick, now: float) -> Sequence[Decision]: ...
    def failed(self, decision_id: str, now: float) -> None:
        """An action failed: the decider escalates on the next tick."""
        ...
    def applied(self, decision_id: str, now: float) -> None: ...
    def final_reverts(self) -> Sequence[pa.Revert]:
        """The end-of-run undo plan other than fault removal (degrades, weights; newest first)."""
        ...


# ------------------------------------------------------------------ steps (requests to the driver)


@dataclass(frozen=True)
class Publish:
    """Step: publish an event (the driver records and fans it out)."""

    event: ev.Event


@dataclass(frozen=True)
class Preflight:
    """Step: run the target's pre-flight checks."""


@dataclass(frozen=True)
class MeasureGate:
    """Run the error-budget gate's queries once (window → PromQL); the lifecycle judges the answers."""

    queries: Mapping[str, str]


@dataclass(frozen=True)
class CheckSteady:
    """Step: judge the steady-state SLOs once."""

    phase: ev.SteadyPhase
    slos: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    """Step: write the fault to the state dir before it is injected (write-ahead)."""

    fault: str


@dataclass(frozen=True)
class Inject:
    """Step: inject a recorded fault."""

    fault: str


@dataclass(frozen=True)
class NextTick:
    """Step: wait for the next monitor tick (or a user command) and evaluate the SLOs."""

    window_end: float
    """The driver returns at the next monitor interval, or at once on a user command."""


@dataclass(frozen=True)
class Apply:
    """Step: apply a policy's decision."""

    decision: Decision


@dataclass(frozen=True)
class Remove:
    """Step: remove faults from their targets."""

    faults: tuple[str, ...]
    reason: ev.RemovalReason


@dataclass(frozen=True)
class ApplyRevert:
    """Step: undo one policy action at the end of the run."""

    item: pa.Revert


@dataclass(frozen=True)
class AwaitSteady:
    """Step: wait (bounded) until the steady-state SLOs hold again."""

    slos: tuple[str, ...]
    timeout_s: float


Step = Publish | Preflight | MeasureGate | CheckSteady | Record | Inject | NextTick | Apply | Remove | ApplyRevert | AwaitSteady


# ------------------------------------------------------------------ outcomes (answers of the driver, one type per step)


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """Base of the driver's answers to steps: when the step ended, whether it worked."""

    at: float
    ok: bool = True
    detail: str = ""
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class PreflightOutcome(StepOutcome):
    """Answer to :class:`Preflight`."""

    refused: bool = False
    """True: the blast radius/gate refused the run (verdict invalid); False with ok=False: platform error."""
    checks: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GateOutcome(StepOutcome):
    """Answer to :class:`MeasureGate`."""

    bad: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """Window → the bad ratios its query returned (``ok=False``: Prometheus could not answer; ``error`` says why)."""


@dataclass(frozen=True, kw_only=True)
class RecordOutcome(StepOutcome):
    """The fault is durable; ``detail`` describes it."""


@dataclass(frozen=True, kw_only=True)
class InjectOutcome(StepOutcome):
    """Answer to :class:`Inject`."""

    deadline: float = 0.0
    fault_type: str = ""
    description: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    """What the target reported of the injection (kind, rule comment, Chaos Mesh status)."""


@dataclass(frozen=True, kw_only=True)
class TickOutcome(StepOutcome):
    """Answer to :class:`NextTick`."""

    tick: Tick | None = None
    command: Literal["abort", "rollback"] | None = None
    """A user command that arrived while waiting (TUI key, Ctrl-C, SIGTERM)."""


@dataclass(frozen=True, kw_only=True)
class ApplyOutcome(StepOutcome):
    """Answer to :class:`Apply`."""

    breaker: ev.BreakerState | None = None
    """A circuit-break moved the breaker to this state (``weight`` is the backend's new weight)."""
    weight: int = 100
    shrunk: Mapping[str, str | float] = field(default_factory=dict)
    """A shrink: the fault's new parameters."""


@dataclass(frozen=True, kw_only=True)
class RemoveOutcome(StepOutcome):
    """Answer to :class:`Remove`."""

    failed: tuple[str, ...] = ()
    """Faults still live (every one is tried)."""


@dataclass(frozen=True, kw_only=True)
class RestoredWeight:
    """A backend weight put back by a revert."""

    policy: str
    service: str
    weight: int


@dataclass(frozen=True, kw_only=True)
class RevertOutcome(StepOutcome):
    """Answer to :class:`ApplyRevert`."""

    restored: RestoredWeight | None = None
    """A restored backend weight (the breaker is closed)."""


@dataclass(frozen=True, kw_only=True)
class SteadyOutcome(StepOutcome):
    """Answer to :class:`CheckSteady` and :class:`AwaitSteady`."""

    holds: bool = False
    verdicts: tuple[Verdict, ...] = ()
    seconds: float = 0.0
    aborted: bool = False


AnyOutcome = (PreflightOutcome | GateOutcome | RecordOutcome | InjectOutcome | TickOutcome | ApplyOutcome
              | RemoveOutcome | RevertOutcome | SteadyOutcome)
OutcomeT = TypeVar("OutcomeT", bound=StepOutcome)


def _expect(kind: type[OutcomeT], outcome: AnyOutcome | None) -> OutcomeT:
    """The outcome of the step just yielded, as its own type (a driver bug otherwise)."""
    if not isinstance(outcome, kind):
        raise TypeError(f"expected a {kind.__name__}, the driver answered {outcome!r}")
    return outcome


@dataclass
class RunFacts:
    """What happened, for the verdict and the journal's timings."""

    breached: bool = False
    breach_at: float | None = None
    breach_slo: str = ""
    action_at: float | None = None
    removed_at: float | None = None
    recovered_at: float | None = None
    action_failed: bool = False
    """A final removal or a revert failed (the verdict is ``failed``, even for an aborted run:
    something of the run may be left behind)."""
    failure_reason: str = ""
    unresolved_failure: str = ""
    """A policy action failed and no later rollback has resolved it yet."""
    aborted: bool = False
    abort_reason: str = ""
    after_unverified: str = ""
    """Why the steady state after could not be judged (Prometheus unavailable, no data), if so."""
    injected: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    notices: Mapping[str, NotifyWith] = field(default_factory=dict)
    """Circuit-break policies with a ``with.notify`` webhook (told of every state change)."""
    breaker_notices: int = 0
    experiment: str = ""

    def timings(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.breach_at is not None:
            if self.action_at is not None:
                out["breach_to_action_s"] = round(self.action_at - self.breach_at, 3)
            if self.removed_at is not None:
                out["breach_to_fault_removed_s"] = round(self.removed_at - self.breach_at, 3)
            if self.recovered_at is not None:
                out["breach_to_slo_recovered_s"] = round(self.recovered_at - self.breach_at, 3)
        return out


def verdict_of(facts: RunFacts, steady_after: bool) -> tuple[ev.RunVerdict, str]:
    """Final verdict and reason, from what happened (pure)."""
    if facts.action_failed:
        return "failed", facts.failure_reason or "removing a fault or reverting an action failed"
    if facts.aborted:
        return "aborted", facts.abort_reason or "aborted"
    if facts.unresolved_failure:
        return "failed", f"recovery action {facts.unresolved_failure} failed and nothing escalated past it"
    if not steady_after:
        if facts.after_unverified:
            return "failed", f"the steady state after recovery could not be verified: {facts.after_unverified}"
        return "failed", "steady state did not return after recovery"
    if facts.breached:
        return "deviated", f"SLO {facts.breach_slo} breached during the fault; recovered"
    return "passed", "steady state held before, during and after the fault"


def emergency_verdict(aborted: bool, reason: str, left: Sequence[str]) -> tuple[ev.RunVerdict, str]:
    """The verdict of a run ended by cancellation, an abort before the loop, or a bug (pure):
    ``aborted`` or ``error``, but ``failed`` when something of the run was left behind."""
    if left:
        return "failed", f"{reason}; left behind: {'; '.join(left)} (run `aftershock recover`)"
    return ("aborted" if aborted else "error"), reason


def _breaker_notices(policies: Sequence[Any]) -> dict[str, NotifyWith]:
    """Circuit-break policies with a ``with.notify`` webhook, by name (the action's module is
    imported only when the experiment has such a policy: the registry loaded it then)."""
    if not any(p.action == "circuit-break" for p in policies):
        return {}
    from chaos.actions.circuit_break import CircuitBreakPolicy

    return {p.name: p.with_.notify for p in policies if isinstance(p, CircuitBreakPolicy) and p.with_.notify is not None}


RunGen = Generator[Step, AnyOutcome | None, ev.RunFinished]
Emit = Callable[[ev.Event], Publish]


def lifecycle(exp: Experiment, run_id: str, decider: DeciderLike, *, source: str = "",
              start_at: float, dry_run: bool = False) -> RunGen:
    """The run of ``exp``. Yields steps, receives outcomes, returns the final event."""
    spec = exp.spec
    facts = RunFacts()
    steady = tuple(spec.steady_state)
    publish: Emit = Publish
    facts.notices = _breaker_notices(spec.policies)
    facts.experiment = exp.name

    def finish(at: float, verdict: ev.RunVerdict, reason: str) -> RunGen:
        final = ev.RunFinished(run_id=run_id, at=at, verdict=verdict, exit_code=EXIT_CODES[verdict],
                               reason=reason, timings=facts.timings())
        yield publish(final)
        return final

    yield publish(ev.RunStarted(run_id=run_id, at=start_at, experiment=exp.name, source=source,
                                target=spec.target.type, dry_run=dry_run,
                                faults=tuple(f.name for f in spec.faults), slos=tuple(s.name for s in spec.slos)))

    # 1. pre-flight (and the error-budget gate, judged here)
    pre = _expect(PreflightOutcome, (yield Preflight()))
    if not pre.ok:
        yield publish(ev.PreflightRefused(run_id=run_id, at=pre.at, reason=pre.error, details=pre.details))
        return (yield from finish(pre.at, "invalid" if pre.refused else "error", pre.error))
    checks = pre.checks
    if spec.gate is not None:
        queries = gate_queries(spec.gate, spec.slo(spec.gate.slo))
        measured = _expect(GateOutcome, (yield MeasureGate(queries)))
        reading = judge(spec.gate, measured.bad) if measured.ok else unreadable(spec.gate, measured.error)
        if not reading.open:
            refusal = closed(reading)
            yield publish(ev.PreflightRefused(run_id=run_id, at=measured.at, reason=refusal, details=(
                *(f"bad-ratio query over {w}: {q}" for w, q in queries.items()),
                "run it when the budget has recovered, or change spec.gate")))
            return (yield from finish(measured.at, "invalid" if measured.ok else "error", refusal))
        checks = (*checks, opened(reading))
    yield publish(ev.PreflightPassed(run_id=run_id, at=pre.at, checks=checks, targets=pre.targets))
    if dry_run:
        return (yield from finish(pre.at, "passed", "dry run: nothing injected"))

    # 2. steady state before
    if steady:
        before = _expect(SteadyOutcome, (yield CheckSteady("before", steady)))
        yield publish(ev.SteadyStateChecked(run_id=run_id, at=before.at, phase="before", holds=before.holds,
                                            verdicts=before.verdicts))
        if not before.holds:
            failing = ", ".join(v.slo for v in before.verdicts if not v.holds) or before.error
            return (yield from finish(before.at, "unsteady", f"steady state did not hold before injection: "
                                      f"{failing}"))

    # 3. write-ahead record, then inject each fault
    now = pre.at
    window_end = 0.0
    for fault in spec.faults:
        rec = _expect(RecordOutcome, (yield Record(fault.name)))
        described = describe_fault(fault)  # the kind's words for the fault (how it was realised: in details)
        yield publish(ev.FaultRecorded(run_id=run_id, at=rec.at, fault=fault.name, fault_type=fault.type,
                                       description=described or rec.detail, deadline=rec.at + fault.duration_s))
        out = _expect(InjectOutcome, (yield Inject(fault.name)))
        now = out.at
        if not out.ok:
            yield publish(ev.RunLog(run_id=run_id, at=out.at, level="error",
                                    message=f"injecting {fault.name} failed: {out.error}"))
            facts.live.append(fault.name)  # may be half-applied: remove it too
            yield from _remove_all(run_id, facts, "error", publish)
            yield from _revert_all(run_id, decider, publish, facts)
            verdict: ev.RunVerdict = "error" if not facts.injected else "failed"
            return (yield from finish(now, verdict, f"injection of {fault.name} failed: {out.error}"))
        facts.injected.append(fault.name)
        facts.live.append(fault.name)
        decider.injected(fault.name, out.at)
        window_end = max(window_end, out.deadline)
        yield publish(ev.FaultInjected(run_id=run_id, at=out.at, fault=fault.name, fault_type=out.fault_type,
                                       description=described or out.description, deadline=out.deadline,
                                       details={**out.details, "realisation": out.description}))

    # 4. monitor + policy loop
    while facts.live and now < window_end and not facts.aborted:
        tick_out = _expect(TickOutcome, (yield NextTick(window_end)))
        now = tick_out.at
        if tick_out.command == "abort":
            facts.aborted, facts.abort_reason = True, tick_out.detail or "aborted by the user"
            break
        if tick_out.command == "rollback":
            yield publish(ev.RunLog(run_id=run_id, at=now, message="rollback requested by the user"))
            yield from _remove(run_id, facts, tuple(reversed(facts.live)), "rollback", publish)
            break  # what could not be removed is tried again below
        if tick_out.tick is None:
            continue
        tick = tick_out.tick
        yield publish(ev.SloSampled(run_id=run_id, at=now, tick=tick))
        for sample in tick.verdicts:
            if sample.breached and not facts.breached:
                facts.breached, facts.breach_at, facts.breach_slo = True, now, sample.slo
        if facts.breached and facts.action_at is not None and facts.recovered_at is None:
            watched = tick.get(facts.breach_slo)
            if watched is not None and watched.holds:
                facts.recovered_at = now
        for decision in decider.observe(tick, now):
            if facts.aborted:
                break
            now = yield from _decide(run_id, decision, decider, facts, now, publish)

    # 5. remove faults, revert in reverse order
    yield from _remove_all(run_id, facts, "abort" if facts.aborted else "end", publish)
    yield from _revert_all(run_id, decider, publish, facts)

    # 6. steady state after (bounded)
    steady_after = True
    if steady and not facts.aborted:
        after = _expect(SteadyOutcome, (yield AwaitSteady(steady, spec.recovery.timeout_s)))
        now = after.at
        yield publish(ev.SteadyStateChecked(run_id=run_id, at=after.at, phase="after", holds=after.holds,
                                            verdicts=after.verdicts))
        if after.aborted:
            facts.aborted, facts.abort_reason = True, "aborted by the user during recovery"
        steady_after = after.holds
        unknown = [v for v in after.verdicts if v.status in ("unavailable", "no-data")]
        if not after.holds and (unknown or not after.verdicts):
            facts.after_unverified = "; ".join(f"{v.slo} {v.status}" + (f" ({v.error})" if v.error else "")
                                               for v in unknown) or after.error or "no verdicts"
        if after.holds:
            if facts.breached and facts.recovered_at is None:
                facts.recovered_at = after.at
            yield publish(ev.SteadyStateRestored(run_id=run_id, at=after.at, seconds=after.seconds))

    # 7. verdict
    verdict, reason = verdict_of(facts, steady_after)
    return (yield from finish(now, verdict, reason))


def _decide(run_id: str, decision: Decision, decider: DeciderLike, facts: RunFacts, now: float,
            publish: Emit) -> Generator[Step, AnyOutcome | None, float]:
    """Carry out one policy decision; returns the time it ended. A failed action is reported to the
    decider, which escalates on the next tick."""
    action = action_name(decision)
    yield publish(ev.PolicyFired(run_id=run_id, at=now, decision_id=decision.id, policy=decision.policy,
                                 action=action, target=decision_target(decision),
                                 evidence=decision_evidence(decision)))
    if action in ("rollback", "abort"):
        names = decision_faults(decision) or tuple(facts.live)
        removal = yield from _remove(run_id, facts, names, "rollback" if action == "rollback" else "abort", publish)
        now = removal.at if removal.at is not None else now
        if action == "abort":
            facts.aborted, facts.abort_reason = True, f"policy {decision.policy} aborted the run"
        if removal.failed:
            # the faults stay live: the final removal tries them again
            yield publish(ev.ActionFailed(run_id=run_id, at=now, decision_id=decision.id, action=action,
                                          error=f"removing {', '.join(removal.failed)} failed: {removal.error}"))
            facts.unresolved_failure = decision.id
            decider.failed(decision.id, now)
            return now
        facts.action_at = facts.action_at or now
        facts.unresolved_failure = ""
        decider.applied(decision.id, now)
        detail = (f"removed {', '.join(removal.removed)}" if removal.removed
                  else "nothing to remove: no fault of the decision is live")
        yield publish(ev.ActionApplied(run_id=run_id, at=now, decision_id=decision.id, action=action,
                                       detail=detail))
        return now
    result = _expect(ApplyOutcome, (yield Apply(decision)))
    now = result.at
    if not result.ok:
        yield publish(ev.ActionFailed(run_id=run_id, at=now, decision_id=decision.id, action=action,
                                      error=result.error))
        facts.unresolved_failure = decision.id
        decider.failed(decision.id, now)
        return now
    facts.action_at = facts.action_at or now
    decider.applied(decision.id, now)
    yield publish(ev.ActionApplied(run_id=run_id, at=now, decision_id=decision.id, action=action,
                                   detail=result.detail))
    if result.breaker is not None:
        changed = ev.BreakerChanged(run_id=run_id, at=now, policy=decision.policy,
                                    service=decision_target(decision), state=result.breaker, weight=result.weight)
        yield publish(changed)
        noticed = yield from _breaker_notice(run_id, facts, changed, publish)
        now = noticed if noticed is not None else now
    if isinstance(decision.action, pa.ShrinkFault):
        yield publish(ev.FaultShrunk(run_id=run_id, at=now, fault=decision.action.fault,
                                     params=dict(result.shrunk)))
    return now


@dataclass(frozen=True)
class Removal:
    """What one :class:`Remove` step achieved (``at`` is None when nothing was live to remove)."""

    at: float | None
    removed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    error: str = ""


def _remove(run_id: str, facts: RunFacts, names: tuple[str, ...], reason: ev.RemovalReason,
            publish: Emit) -> Generator[Step, AnyOutcome | None, Removal]:
    """Remove the live faults among ``names``. ``FaultRemoved`` only for those really removed; the
    failed ones stay live."""
    names = tuple(n for n in names if n in facts.live)
    if not names:
        return Removal(None)
    out = _expect(RemoveOutcome, (yield Remove(names, reason)))
    failed = tuple(n for n in names if n in out.failed)
    removed = tuple(n for n in names if n not in out.failed)
    for name in removed:
        facts.live.remove(name)
        yield publish(ev.FaultRemoved(run_id=run_id, at=out.at, fault=name, reason=reason))
    if removed and facts.breached and facts.removed_at is None:
        facts.removed_at = out.at
    if failed:
        yield publish(ev.RunLog(run_id=run_id, at=out.at, level="error",
                                message=f"removing {', '.join(failed)} failed: {out.error}"))
    return Removal(out.at, removed, failed, out.error)


def _remove_all(run_id: str, facts: RunFacts, reason: ev.RemovalReason,
                publish: Emit) -> Generator[Step, AnyOutcome | None, None]:
    """The final removal of every live fault (newest first); a failure makes the verdict ``failed``."""
    removal = yield from _remove(run_id, facts, tuple(reversed(facts.live)), reason, publish)
    if removal.failed:
        facts.action_failed = True
        facts.failure_reason = (f"fault(s) {', '.join(removal.failed)} could not be removed "
                                f"({removal.error}); run `aftershock recover`")


def _revert_all(run_id: str, decider: DeciderLike, publish: Emit,
                facts: RunFacts) -> Generator[Step, AnyOutcome | None, None]:
    """Undo degrades and weights (the decider's plan: newest first). ``Reverted`` only for what was
    reverted (or deliberately kept); a failed revert is an ``ActionFailed`` and makes the verdict
    ``failed``. A restored weight closes the circuit: ``BreakerChanged(closed)``."""
    for item in decider.final_reverts():
        out = _expect(RevertOutcome, (yield ApplyRevert(item)))
        description = item.summary()
        if not out.ok:
            facts.action_failed = True
            facts.failure_reason = facts.failure_reason or f"reverting {description} failed: {out.error}"
            yield publish(ev.ActionFailed(run_id=run_id, at=out.at, decision_id=item.id, action=item.kind,
                                          error=out.error or "revert failed"))
            continue
        if item.keep:
            yield publish(ev.RunLog(run_id=run_id, at=out.at, level="warning",
                                    message=f"KEPT (keep: true): {description} was NOT reverted"))
        yield publish(ev.Reverted(run_id=run_id, at=out.at, decision_id=item.id, action=item.kind,
                                  detail=out.detail or description, kept=item.keep))
        if out.restored is not None and not item.keep:
            changed = ev.BreakerChanged(run_id=run_id, at=out.at, policy=out.restored.policy,
                                        service=out.restored.service, state="closed", weight=out.restored.weight)
            yield publish(changed)
            yield from _breaker_notice(run_id, facts, changed, publish)


def _breaker_notice(run_id: str, facts: RunFacts, changed: ev.BreakerChanged,
                    publish: Emit) -> Generator[Step, AnyOutcome | None, float | None]:
    """Tell the circuit-break policy's ``with.notify`` webhook of a state change (if it has one).

    A failed notification is logged, never escalated: the breaker's own change already happened.
    """
    notice = facts.notices.get(changed.policy)
    if notice is None:
        return None
    facts.breaker_notices += 1
    reason = f"breaker {changed.policy}: {changed.state} ({changed.service} weight {changed.weight})"
    decision = Decision(f"{changed.policy}.breaker-notice#{facts.breaker_notices}.{changed.state}", changed.policy,
                        pa.Notify(url=notice.url, headers=tuple(sorted(notice.headers.items())),
                                  timeout=notice.timeout, experiment=facts.experiment),
                        pa.Evidence(slo="", status=None, value=None, objective="", tick_time=changed.at,
                                    reason=reason), "breaker")
    out = _expect(ApplyOutcome, (yield Apply(decision)))
    if not out.ok:
        yield publish(ev.RunLog(run_id=run_id, at=out.at, level="warning",
                                message=f"notifying {notice.url} of {reason} failed: {out.error}"))
    return out.at


__all__ = ["EXIT_CODES", "emergency_verdict", "lifecycle", "verdict_of"]
