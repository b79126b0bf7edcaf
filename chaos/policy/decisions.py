"""Decisions: which recovery actions to take at a monitor tick (pure).

Called by the run engine (through ``chaos.engine.policy_bridge``) once per monitor tick::

    decider = Decider.from_experiment(experiment)
    step = decider.on_tick(tick, outcomes)      # outcomes: what the previous decisions did
    for decision in step.decisions: ...         # apply in order via chaos.policy.executor

The result is a function of (policies, verdict history, tick times, fed-back outcomes) only: no clock is
read, nothing is global, :func:`replay` of the same inputs gives the same decisions. The decider keeps
its memory (episodes, counters, breakers, live faults) in the instance; :meth:`Decider.replay` rebuilds
it from a journal after a crash.

Rules (see ``docs/policies.md``):

* Policies are evaluated in file order; ``monitor.onError`` is an implicit last policy on the
  ``monitor`` SLO (:func:`on_error_policy`).
* A policy *fires* once per episode: when its SLO's verdict is ``breached`` (``unavailable`` for
  ``monitor``), or, when the policy overrides ``consecutive``/``for``, when its own counter over the raw
  breaching verdicts (pending or breached) meets them. It re-arms when the SLO holds (status ``ok``).
  ``no-data`` neither counts nor resets. A circuit-break policy's breaker clears that counter every
  ``resetAfter`` while closed (gobreaker's generations).
* Counting is per *evaluation*: a verdict with ``samples`` (an SLO probe: one evaluation per probe
  result) counts the results new since the last tick, bounded by the verdict's own streak, so
  ``consecutive: 3`` on an HTTP probe is exactly "3 consecutive failed probes" whatever the tick rate.
* ``escalate: {after, to}``: if the SLO is not ``ok`` ``after`` (tick time) the policy fired, ``to``
  fires once. A failed action (an :class:`ActionOutcome` with ``ok=False``) escalates at the next tick to the
  policy's ``escalate.to`` or, by default, to ``rollback``; a failed rollback escalates to ``abort``; a
  failed notify only escalates when the policy has an ``escalate`` block.
* Conflicts inside one tick: ``abort`` dominates everything but notifications; ``rollback`` dominates
  every other action on the faults it removes; otherwise the first decision (file order) on a target
  wins. Dropped decisions are reported in :attr:`TickDecisions.suppressed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from chaos import registry
from chaos.actions.abort import AbortPolicy
from chaos.actions.circuit_break import CircuitBreakPolicy
from chaos.actions.rollback import RollbackPolicy
from chaos.errors import InvalidExperiment
from chaos.model.checks import check_policies
from chaos.model.durations import parse_duration
from chaos.model.experiment import Experiment
from chaos.model.policies import PolicyBase as Policy
from chaos.model.policies import When
from chaos.model.slos import Slo
from chaos.policy import breaker as breakers
from chaos.policy.actions import (
    Abort,
    Action,
    ActionOutcome,
    BreakerPhase,
    Cause,
    Decision,
    Evidence,
    Notify,
    PluginAction,
    RemoveFaults,
    ShrinkFault,
    Suppressed,
)
from chaos.policy.breaker import BreakerConfig, BreakerState, Probe
from chaos.slo.verdicts import MONITOR, Tick, Verdict

OnError = Literal["rollback", "abort", "continue"]
ON_ERROR_POLICY = "monitor-on-error"
"""Name of the implicit policy that maps ``monitor.onError`` (suffixed with ``-N`` on a name clash)."""


# ------------------------------------------------------------------------------------------ configuring


@dataclass(frozen=True)
class SloRule:
    """How long an SLO's breach must persist before it fires (the SLO's own ``consecutive``/``for``)."""

    consecutive: int = 1
    for_s: float = 0.0

    @classmethod
    def of(cls, slo: Slo) -> SloRule:
        return cls(consecutive=slo.consecutive, for_s=slo.for_s)


@dataclass(frozen=True)
class DeciderConfig:
    """Everything a decider needs from an experiment (policies last-resolved, SLO rules, fault names)."""

    policies: tuple[Policy, ...]
    """File policies in order, then the implicit ``monitor.onError`` policy (if any)."""
    slos: Mapping[str, SloRule] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    """Every fault of the run, in injection order."""
    experiment: str = ""

    @classmethod
    def build(cls, policies: Iterable[Policy], *, slos: Mapping[str, SloRule] | Iterable[Slo] = (),
              faults: Iterable[str] = (), on_error: OnError = "rollback", experiment: str = "") -> DeciderConfig:
        """Check the policies (raises :class:`InvalidExperiment`) and append the onError policy."""
        listed = list(policies)
        rules = dict(slos) if isinstance(slos, Mapping) else {s.name: SloRule.of(s) for s in slos}
        fault_names = tuple(faults)
        problems = check_policies(listed, fault_names)
        if problems:
            raise InvalidExperiment(problems)
        implicit = on_error_policy(on_error, {p.name for p in listed})
        if implicit is not None:
            listed.append(implicit)
        return cls(policies=tuple(listed), slos=rules, faults=fault_names, experiment=experiment)

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> DeciderConfig:
        spec = experiment.spec
        return cls.build(spec.policies, slos=spec.slos, faults=[f.name for f in spec.faults],
                         on_error=spec.monitor.on_error, experiment=experiment.name)


def on_error_policy(on_error: OnError, taken: Iterable[str] = ()) -> Policy | None:
    """The implicit policy for ``monitor.onError``: fires on ``Verdict(slo="monitor", status="unavailable")``.

    ``rollback`` (the default, fail closed) removes every fault, ``abort`` stops the run, ``continue``
    does nothing (None).
    """
    if on_error == "continue":
        return None
    names = set(taken)
    name, n = ON_ERROR_POLICY, 1
    while name in names:
        n += 1
        name = f"{ON_ERROR_POLICY}-{n}"
    when = When(slo=MONITOR)
    if on_error == "abort":
        return AbortPolicy(name=name, when=when, action="abort")
    return RollbackPolicy(name=name, when=when, action="rollback")


# ------------------------------------------------------------------------------------------ stepping


@dataclass(frozen=True)
class TickDecisions:
    """The decisions of one tick, in the order to apply them."""

    tick_time: float
    decisions: tuple[Decision, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()
    """Decisions made but dropped (rollback/abort dominates, target already claimed, no live fault)."""
    live_faults: tuple[str, ...] = ()
    """Faults still live after these decisions (as far as the decider knows)."""
    finished: bool = False
    """An abort was decided: the run stops, later ticks decide nothing."""


@dataclass(frozen=True)
class TickInput:
    """One journaled decider input, for :func:`replay`."""

    tick: Tick
    outcomes: tuple[ActionOutcome, ...] = ()
    now: float | None = None


@dataclass
class _PolicyState:
    """One policy's bookkeeping across ticks."""

    armed: bool = True
    episode: int = 0
    run: int = 0
    """Consecutive raw-breaching ticks (own counter, used when the policy overrides consecutive/for)."""
    since: float | None = None
    acted_at: float | None = None
    """Tick time the policy last fired (escalation timer), None once its SLO holds again."""
    escalated: bool = False
    breaker: BreakerState = breakers.CLOSED
    breaker_seq: int = 0
    samples: int = 0
    """The SLO's evaluation count at the last tick (verdicts that carry ``samples``)."""
    fresh: bool = True
    """This tick's verdict is a new evaluation (not one already seen at an earlier tick)."""
    force: tuple[str, str, Evidence] | None = None
    """An escalation that trips this breaker this tick: (decision id, escalating policy, evidence)."""


@dataclass
class _Candidate:
    """A decision a tick may issue, with what issuing it commits."""

    decision: Decision
    commit: Callable[[], None] | None = None


class Decider:
    """The policy engine's memory across ticks; :meth:`on_tick` is its only input."""

    def __init__(self, config: DeciderConfig) -> None:
        self.config = config
        self._states = [_PolicyState() for _ in config.policies]
        self._breakers: dict[int, BreakerConfig] = {
            i: BreakerConfig.from_with(p.with_) for i, p in enumerate(config.policies)
            if isinstance(p, CircuitBreakPolicy)
        }
        self._live: set[str] = set(config.faults)
        self._issued: dict[str, Decision] = {}
        self._failed: set[str] = set()
        self._finished = False
        self._last: float = -math.inf

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> Decider:
        return cls(DeciderConfig.from_experiment(experiment))

    @classmethod
    def replay(cls, config: DeciderConfig, inputs: Iterable[TickInput]) -> tuple[Decider, list[TickDecisions]]:
        """Rebuild a decider from its journaled inputs (after a crash); returns it and the steps."""
        decider = cls(config)
        steps = [decider.on_tick(i.tick, i.outcomes, now=i.now) for i in inputs]
        return decider, steps

    # -------------------------------------------------------------------------------- observing

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def live_faults(self) -> tuple[str, ...]:
        return tuple(f for f in self.config.faults if f in self._live)

    def breaker_phases(self) -> dict[str, BreakerPhase]:
        return {self.config.policies[i].name: self._states[i].breaker.phase for i in self._breakers}

    def issued(self, decision_id: str) -> Decision | None:
        return self._issued.get(decision_id)

    # -------------------------------------------------------------------------------- deciding

    def on_tick(self, tick: Tick, outcomes: Iterable[ActionOutcome] = (), now: float | None = None) -> TickDecisions:
        """Decide what to do at this tick. ``now`` defaults to ``tick.eval_time``; it must not go back."""
        t = tick.eval_time if now is None else now
        if t < self._last:
            raise ValueError(f"tick time went backwards: {t} after {self._last}")
        self._last = t
        if self._finished:
            return TickDecisions(t, live_faults=self.live_faults, finished=True)
        policies = self.config.policies
        verdicts = [_verdict_for(p.when.slo, tick) for p in policies]

        # 1. what the verdicts say: re-arm on ok, count raw breaches (a closed breaker's new
        #    generation clears its count first)
        for i, (st, p, v) in enumerate(zip(self._states, policies, verdicts, strict=True)):
            if i in self._breakers:
                st.breaker, cleared = breakers.roll(self._breakers[i], st.breaker, t)
                if cleared:
                    st.run, st.since = 0, None
            _observe(st, p.when.slo, v, t)

        candidates: list[_Candidate] = []
        # 2. failed actions climb the ladder
        for outcome in outcomes:
            candidates.extend(self._on_outcome(outcome, verdicts, t))
        # 3. timed escalations
        for i, (st, p, v) in enumerate(zip(self._states, policies, verdicts, strict=True)):
            if p.escalate is None or st.acted_at is None or st.escalated:
                continue
            after = parse_duration(p.escalate.after)
            if t - st.acted_at >= after:
                st.escalated = True
                ev = Evidence.of(p.when.slo, v, t, f"{p.action} did not bring {p.when.slo} back within "
                                 f"{p.escalate.after}: escalating to {p.escalate.to}")
                candidates.extend(self._escalate(i, p.escalate.to, f"{p.name}#{st.episode}.escalate",
                                                 "escalation", ev, st.episode))
        # 4. fire policies, step breakers
        for i, (st, p, v) in enumerate(zip(self._states, policies, verdicts, strict=True)):
            candidates.extend(self._evaluate(i, st, p, v, t))

        kept, suppressed = self._resolve(candidates)
        for cand in kept:
            self._issued[cand.decision.id] = cand.decision
            if cand.commit is not None:
                cand.commit()
            action = cand.decision.action
            if isinstance(action, RemoveFaults | Abort):
                self._live.difference_update(action.faults)
            if isinstance(action, Abort):
                self._finished = True
        return TickDecisions(t, tuple(c.decision for c in kept), tuple(suppressed), self.live_faults, self._finished)

    # -------------------------------------------------------------------------------- internals

    def _on_outcome(self, outcome: ActionOutcome, verdicts: list[Verdict | None], t: float) -> list[_Candidate]:
        if outcome.ok or outcome.skipped or outcome.id in self._failed:
            return []
        decision = self._issued.get(outcome.id)
        if decision is None:
            return []
        self._failed.add(outcome.id)
        index = self._index(decision.policy)
        policy, st = self.config.policies[index], self._states[index]
        action = decision.action
        if isinstance(action, RemoveFaults):
            self._live.update(action.faults)  # they may still be injected: a later rollback retries
        if isinstance(action, Abort):
            return []  # the run stops anyway; the engine reports the verdict as failed
        if decision.kind == "circuit-break" and st.breaker.phase == "open" and decision.cause != "breaker":
            st.breaker = breakers.CLOSED  # the breaker never opened
        to = _failure_ladder(policy, decision)
        if to is None:
            return []
        ev = Evidence.of(policy.when.slo, verdicts[index], t,
                         f"{decision.kind} {decision.id} failed: {outcome.error or 'actuator error'}; "
                         f"escalating to {to}")
        return self._escalate(index, to, f"{decision.id}.on-failure", "failure", ev, decision.episode)

    def _escalate(self, index: int, to: str, decision_id: str, cause: Cause, ev: Evidence,
                  episode: int) -> list[_Candidate]:
        policy = self.config.policies[index]
        if to == "rollback":
            action: Action = RemoveFaults(self.config.faults)
            return [_Candidate(Decision(decision_id, policy.name, action, ev, cause, episode))]
        if to == "abort":
            return [_Candidate(Decision(decision_id, policy.name, Abort(()), ev, cause, episode))]
        source = next(j for j, q in enumerate(self.config.policies) if q.action == to)
        if to == "circuit-break":
            self._states[source].force = (decision_id, policy.name, ev)
            return []
        borrowed = self.config.policies[source]
        built = self._action_of(borrowed)
        assert built is not None
        return [_Candidate(Decision(decision_id, policy.name, built, ev, cause, episode, keep=borrowed.keep))]

    def _evaluate(self, index: int, st: _PolicyState, p: Policy, v: Verdict | None,
                  t: float) -> list[_Candidate]:
        fired, why = self._fires(st, p, v, t)
        if fired:
            st.armed = False
            st.episode += 1
            st.acted_at = t
            st.escalated = False
        out: list[_Candidate] = []
        if isinstance(p, CircuitBreakPolicy):
            out.extend(self._step_breaker(index, st, p, v, t, fired, why))
        elif fired:
            action = self._action_of(p)
            assert action is not None
            ev = Evidence.of(p.when.slo, v, t, why)
            out.append(_Candidate(Decision(f"{p.name}#{st.episode}", p.name, action, ev, "fire", st.episode,
                                           keep=p.keep)))
        return out

    def _step_breaker(self, index: int, st: _PolicyState, p: CircuitBreakPolicy, v: Verdict | None,
                      t: float, fired: bool, why: str) -> list[_Candidate]:
        config = self._breakers[index]
        force, st.force = st.force, None
        probe: Probe = _probe(p.when.slo, v) if st.fresh else "same"
        tr = breakers.step(config, st.breaker, t, probe, fired or force is not None)
        if tr.action is None:
            if tr.state != st.breaker:
                st.breaker = tr.state  # half-open probe counting: no action, nothing to conflict with
            return []
        seq = st.breaker_seq
        cause: Cause
        if fired and st.breaker.phase != "open":
            decision_id, cause, ev = f"{p.name}#{st.episode}", "fire", Evidence.of(p.when.slo, v, t, f"{why}; {tr.reason}")
        elif force is not None and st.breaker.phase == "closed":
            decision_id, cause = force[0], "escalation"
            ev = replace(force[2], reason=f"{force[2].reason}; {tr.reason} (escalated from {force[1]})")
        else:
            seq += 1
            decision_id, cause = f"{p.name}.breaker#{seq}.{tr.action.phase}", "breaker"
            ev = Evidence.of(p.when.slo, v, t, tr.reason)
        new_state = tr.state

        def commit() -> None:
            st.breaker = new_state
            st.breaker_seq = seq

        decision = Decision(decision_id, p.name, tr.action, ev, cause, st.episode, keep=p.keep)
        return [_Candidate(decision, commit)]

    def _fires(self, st: _PolicyState, p: Policy, v: Verdict | None, t: float) -> tuple[bool, str]:
        if not st.armed or v is None:
            return False, ""
        when = p.when
        if when.consecutive is None and when.for_ is None:
            firing = v.status == ("unavailable" if when.slo == MONITOR else "breached")
            if not firing:
                return False, ""
            if when.slo == MONITOR:
                return True, f"monitor unavailable ({v.error or 'failed polls'})"
            return True, f"{when.slo} breached"
        rule = self.config.slos.get(when.slo, SloRule())
        need = when.consecutive if when.consecutive is not None else rule.consecutive
        for_s = parse_duration(when.for_) if when.for_ is not None else rule.for_s
        if not _raw_breaching(when.slo, v) or st.since is None:
            return False, ""
        if st.run >= need and t - st.since >= for_s:
            return True, (f"{when.slo} breaching for {st.run} evaluations / {t - st.since:.3g}s "
                          f"(policy: consecutive {need}, for {for_s:g}s)")
        return False, ""

    def _action_of(self, p: Policy) -> Action | None:
        """The action value of a firing policy, from its kind (None: circuit-break, decided by its breaker)."""
        kind = registry.actions.get(p.action)
        if kind is None:
            return None
        if kind.decide is not None:
            action: Action = kind.decide(p, self.config)
            return action
        if kind.apply is not None:
            return PluginAction(p.action, p.with_)
        return None

    def _resolve(self, candidates: list[_Candidate]) -> tuple[list[_Candidate], list[Suppressed]]:
        kept: list[_Candidate] = []
        suppressed: list[Suppressed] = []
        abort = next((c for c in candidates if isinstance(c.decision.action, Abort)), None)
        if abort is not None:
            live = self.live_faults
            abort_decision = replace(abort.decision, action=Abort(live))
            for c in candidates:
                if c is abort:
                    kept.append(_Candidate(abort_decision, c.commit))
                elif isinstance(c.decision.action, Notify):
                    kept.append(c)
                else:
                    suppressed.append(Suppressed(c.decision, f"abort {abort.decision.id} dominates"))
            return _annotate_notifies(kept), suppressed
        removed: dict[str, str] = {}  # fault → id of the rollback removing it
        rollbacks: dict[int, _Candidate] = {}
        for n, c in enumerate(candidates):
            action = c.decision.action
            if not isinstance(action, RemoveFaults):
                continue
            faults = tuple(f for f in action.faults if f in self._live and f not in removed)
            if not faults:
                suppressed.append(Suppressed(c.decision, "its faults are already removed"))
                continue
            for f in faults:
                removed[f] = c.decision.id
            rollbacks[n] = _Candidate(replace(c.decision, action=RemoveFaults(faults)), c.commit)
        claimed: dict[str, str] = {f"fault:{f}": d for f, d in removed.items()}
        for n, c in enumerate(candidates):
            if n in rollbacks:
                kept.append(rollbacks[n])
                continue
            action = c.decision.action
            if isinstance(action, RemoveFaults):
                continue  # suppressed above
            if isinstance(action, ShrinkFault) and action.fault not in self._live:
                suppressed.append(Suppressed(c.decision, f"fault {action.fault} is already removed"))
                continue
            clash = next((claimed[target] for target in c.decision.targets if target in claimed), None)
            if clash is not None:
                reason = (f"rollback {clash} dominates" if clash in removed.values()
                          else f"{clash} already acts on {', '.join(c.decision.targets)} this tick")
                suppressed.append(Suppressed(c.decision, reason))
                continue
            for target in c.decision.targets:
                claimed[target] = c.decision.id
            kept.append(c)
        return _annotate_notifies(kept), suppressed

    def _index(self, policy: str) -> int:
        return next(i for i, p in enumerate(self.config.policies) if p.name == policy)


def replay(config: DeciderConfig, inputs: Iterable[TickInput]) -> list[TickDecisions]:
    """The decisions a fresh decider makes for these inputs — a pure function of its arguments."""
    return Decider.replay(config, inputs)[1]


# ------------------------------------------------------------------------------------------ helpers


def _verdict_for(slo: str, tick: Tick) -> Verdict | None:
    if slo != MONITOR:
        return tick.get(slo)
    own = tick.get(MONITOR)
    if own is not None:
        return own
    down = next((v for v in tick.verdicts if v.status == "unavailable"), None)
    if down is not None:
        return Verdict(slo=MONITOR, status="unavailable", value=None, objective="", query="",
                       eval_time=tick.eval_time, error=down.error, failed_polls=down.failed_polls)
    if any(v.status in ("ok", "pending", "breached") for v in tick.verdicts):
        return Verdict(slo=MONITOR, status="ok", value=None, objective="", query="", eval_time=tick.eval_time)
    return None


def _raw_breaching(slo: str, v: Verdict) -> bool:
    if slo == MONITOR:
        return v.status == "unavailable"
    return v.status in ("pending", "breached")


def _probe(slo: str, v: Verdict | None) -> Probe:
    if v is None:
        return "unknown"
    if v.status == "ok":
        return "ok"
    return "breach" if _raw_breaching(slo, v) else "unknown"


def _observe(st: _PolicyState, slo: str, v: Verdict | None, t: float) -> None:
    st.fresh = True
    if v is None:
        return
    new = 1
    if v.samples:
        new = v.samples - st.samples if v.samples >= st.samples else v.samples  # a restarted state counts afresh
        st.samples = v.samples
        if new <= 0:
            st.fresh = False
            return  # no new evaluation since the last tick (a tick for another SLO): nothing to count
    if v.status == "ok":
        st.armed, st.run, st.since, st.acted_at, st.escalated = True, 0, None, None, False
    elif _raw_breaching(slo, v):
        if v.samples and v.consecutive < new:
            # a holding result came among the new ones: the SLO held in between (re-arm)
            st.armed, st.run, st.since, st.acted_at, st.escalated = True, 0, None, None, False
        if st.run == 0:
            st.since = t
        st.run = min(st.run + new, v.consecutive) if v.samples else st.run + 1


def _failure_ladder(policy: Policy, failed: Decision) -> str | None:
    """Where a failed action escalates to (None: nowhere)."""
    if failed.kind == "rollback":
        return "abort"
    if failed.kind == "abort":
        return None
    explicit = policy.escalate.to if policy.escalate is not None and failed.cause == "fire" else None
    if failed.kind == "notify":
        return explicit if explicit != "notify" else None
    if explicit is not None and explicit != policy.action:
        return explicit
    return "rollback"


def _annotate_notifies(kept: list[_Candidate]) -> list[_Candidate]:
    if not any(isinstance(c.decision.action, Notify) for c in kept):
        return kept
    out: list[_Candidate] = []
    for c in kept:
        action = c.decision.action
        if isinstance(action, Notify):
            others = tuple(o.decision.summary() for o in kept if o is not c and not isinstance(o.decision.action, Notify))
            c = _Candidate(replace(c.decision, action=replace(action, also=others)), c.commit)
        out.append(c)
    return out
