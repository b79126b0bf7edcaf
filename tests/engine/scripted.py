"""A scripted decider and a scripted driver for :func:`chaos.engine.runs.lifecycle`.

``play`` drives the generator like ``chaos.engine.driver`` does, answering every step from a
:class:`Script` (pre-flight result, steady-state answers, injection/apply/remove/revert failures,
the monitor ticks and user commands) on a virtual clock, and records the steps and the events
the lifecycle published. No I/O, no clock, no Prometheus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.loading import load_text
from chaos.model.experiment import Experiment
from chaos.model.policies import HttpCall
from chaos.policy import actions as pa
from chaos.policy.actions import Decision
from chaos.slo.verdicts import Status, Tick, Verdict

START = 1_000.0
INTERVAL = 1.0

EXPERIMENT = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: unit}
spec:
  target: {type: host}
  faults:
%(faults)s
  slos:
    - name: p95
      query: q_p95
      objective: {op: "<", value: 0.3}
    - name: errors
      query: q_errors
      objective: {op: "<", value: 0.05}
  steadyState: [p95, errors]
  policies:
    - name: fast-rollback
      when: {slo: p95}
      action: rollback
  monitor: {prometheus: "http://127.0.0.1:9", interval: 1s}
  recovery: {timeout: 20s}
"""

FAULT = """    - name: %(name)s
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:%(port)d", upstream: "127.0.0.1:8080"}}
      latency: 500ms
      duration: %(duration)s
"""


def experiment(*faults: str, duration: str = "10s") -> Experiment:
    names = faults or ("delay",)
    text = "".join(FAULT % {"name": n, "port": 18080 + i, "duration": duration} for i, n in enumerate(names))
    return load_text(EXPERIMENT % {"faults": text.rstrip("\n")}, source="unit.yaml").experiment


def verdict(slo: str, status: Status, t: float) -> Verdict:
    value = {"ok": 0.1, "pending": 0.5, "breached": 0.5}.get(status)
    return Verdict(slo=slo, status=status, value=value, objective="< 0.3", query=f"q_{slo}", eval_time=t)


def tick(**statuses: Status) -> Tick:
    """A tick with these SLO statuses (``eval_time`` is filled in by ``play``)."""
    return Tick(eval_time=0.0, verdicts=tuple(verdict(s, st, 0.0) for s, st in statuses.items()))


OK = tick(p95="ok", errors="ok")
BREACH = tick(p95="breached", errors="ok")


# ------------------------------------------------------------------------------------ decider


def Dec(id: str, action: str, policy: str = "p", target: str = "delay",
        faults: tuple[str, ...] = ()) -> Decision:
    """A policy decision (the policy engine's own type) of ``action`` for the lifecycle."""
    evidence = pa.Evidence(slo="p95", status="breached", value=0.5, objective="< 0.3", tick_time=0.0,
                           reason="scripted")
    made: pa.Action
    if action == "rollback":
        made = pa.RemoveFaults(faults)
    elif action == "abort":
        made = pa.Abort(faults)
    elif action == "circuit-break":
        made = pa.CircuitBreak(pa.WeightTarget(service=target), weight=0, phase="open")
    else:
        made = pa.Degrade(http=HttpCall.model_validate({"method": "POST", "url": "http://order-admin/fallback"}))
    return Decision(id=id, policy=policy, action=made, evidence=evidence)


def Rev(id: str, action: str = "revert-degrade", keep: bool = False,
        target: str = "POST /fallback", weight: int | None = None) -> pa.Revert:
    """An end-of-run revert (the policy engine's own :class:`~chaos.policy.actions.Revert`)."""
    kind = {"revert-degrade": "revert-degrade", "restore-weight": "restore-weight"}[action]
    return pa.Revert(id=id, kind=kind, target=target, covers=(id.removeprefix("revert:"),),  # type: ignore[arg-type]
                     keep=keep, weight=weight, note="keep: true" if keep else "")


class ScriptedDecider:
    """Decisions by tick number (1-based), escalations on the tick after a failure, reverts of
    applied decisions (``chaos.engine.runs.DeciderLike``)."""

    def __init__(self, on_tick: dict[int, Sequence[Decision]] | None = None,
                 escalations: dict[str, Sequence[Decision]] | None = None,
                 reverts: Sequence[pa.Revert] = ()) -> None:
        self.on_tick = on_tick or {}
        self.escalations = escalations or {}
        self.reverts = list(reverts)
        self.ticks = 0
        self.injected_faults: list[str] = []
        self.applied_ids: list[str] = []
        self.failed_ids: list[str] = []
        self._escalate: list[Decision] = []

    def injected(self, fault: str, at: float) -> None:
        self.injected_faults.append(fault)

    def observe(self, tick: Tick, now: float) -> Sequence[Decision]:
        self.ticks += 1
        out, self._escalate = self._escalate + list(self.on_tick.get(self.ticks, ())), []
        return out

    def failed(self, decision_id: str, now: float) -> None:
        self.failed_ids.append(decision_id)
        self._escalate.extend(self.escalations.get(decision_id, ()))

    def applied(self, decision_id: str, now: float) -> None:
        self.applied_ids.append(decision_id)

    def final_reverts(self) -> list[pa.Revert]:
        return [r for r in self.reverts if r.id.removeprefix("revert:") in self.applied_ids]


# ------------------------------------------------------------------------------------ driver


@dataclass
class Script:
    preflight: str = "ok"
    """ok, refused (blast radius: invalid) or error (platform)."""
    steady_before: bool = True
    steady_after: bool = True
    aborted_in_recovery: bool = False
    after_status: Status = "breached"
    """Status of the steady-state SLOs after recovery when they do not hold (``unavailable``: Prometheus gone)."""
    ticks: Sequence[Tick | str] = ()
    """Monitor ticks, or user commands ``abort`` / ``rollback``; after the last, the window ends."""
    inject_fail: frozenset[str] = frozenset()
    apply_fail: frozenset[str] = frozenset()
    remove_fail: frozenset[str] = frozenset()
    """Faults whose removal fails (every time)."""
    remove_fail_once: frozenset[str] = frozenset()
    """Faults whose first removal fails."""
    revert_fail: frozenset[str] = frozenset()
    restored: dict[str, rm.RestoredWeight] = field(default_factory=dict)
    """Revert id → the weight its revert restored."""


@dataclass
class Played:
    steps: list[rm.Step]
    events: list[ev.RunEvent]
    final: ev.RunFinished

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events if not isinstance(e, ev.SloSampled)]

    def of(self, cls: type[ev.RunEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def index(self, cls: type[ev.RunEvent], **match: Any) -> int:
        """Position in the event stream of the first ``cls`` event with these field values."""
        for i, e in enumerate(self.events):
            if isinstance(e, cls) and all(getattr(e, k) == v for k, v in match.items()):
                return i
        raise AssertionError(f"no {cls.kind} {match} in {self.kinds()}")

    def step_kinds(self) -> list[str]:
        return [type(s).__name__ for s in self.steps if not isinstance(s, rm.Publish)]


def play(exp: Experiment, decider: ScriptedDecider, script: Script, *, dry_run: bool = False) -> Played:
    clock = [START]
    ticks = list(script.ticks)
    removals: dict[str, int] = {}
    deadlines: list[float] = []
    steps: list[rm.Step] = []
    events: list[ev.RunEvent] = []

    def at(advance: float = 0.01) -> float:
        clock[0] = round(clock[0] + advance, 6)
        return clock[0]

    def answer(step: rm.Step) -> rm.AnyOutcome | None:
        match step:
            case rm.Publish(event=event):
                events.append(event)
                return None
            case rm.Preflight():
                if script.preflight == "ok":
                    return rm.PreflightOutcome(at=at(), checks=("proxy reachable",), targets=("proxy",))
                return rm.PreflightOutcome(at=at(), ok=False, refused=script.preflight == "refused",
                                           error=f"pre-flight {script.preflight}", details=("why",))
            case rm.CheckSteady(slos=slos):
                status: Status = "ok" if script.steady_before else "breached"
                return rm.SteadyOutcome(at=at(), holds=script.steady_before,
                                        verdicts=tuple(verdict(s, status, clock[0]) for s in slos))
            case rm.MeasureGate():
                return rm.GateOutcome(at=at(), ok=False, error="no gate in these tests")
            case rm.Record(fault=name):
                return rm.RecordOutcome(at=at(), detail=f"record {name}")
            case rm.Inject(fault=name):
                now = at()
                if name in script.inject_fail:
                    return rm.InjectOutcome(at=now, ok=False, error="proxy refused")
                fault = next(f for f in exp.spec.faults if f.name == name)
                deadlines.append(now + fault.duration_s)
                return rm.InjectOutcome(at=now, deadline=now + fault.duration_s, fault_type=fault.type,
                                        description=f"delay on {name}")
            case rm.NextTick(window_end=window_end):
                if not ticks:
                    clock[0] = max(clock[0], window_end)
                    return rm.TickOutcome(at=clock[0])
                item = ticks.pop(0)
                now = at(INTERVAL)
                if isinstance(item, str):
                    return rm.TickOutcome(at=now, command=item, detail=f"user {item}")  # type: ignore[arg-type]
                return rm.TickOutcome(at=now, tick=Tick(eval_time=now, verdicts=tuple(
                    dataclasses.replace(v, eval_time=now) for v in item.verdicts)))
            case rm.Apply(decision=decision):
                ok = decision.id not in script.apply_fail
                action = decision.action
                breaker = action.phase if isinstance(action, pa.CircuitBreak) else None
                weight = action.weight if isinstance(action, pa.CircuitBreak) and action.weight is not None else 100
                return rm.ApplyOutcome(at=at(0.1), ok=ok, detail=f"applied {decision.id}",
                                       error="" if ok else "HTTP 500", breaker=breaker, weight=weight)
            case rm.Remove(faults=names):
                failed = []
                for name in names:
                    removals[name] = removals.get(name, 0) + 1
                    if name in script.remove_fail or (name in script.remove_fail_once and removals[name] == 1):
                        failed.append(name)
                return rm.RemoveOutcome(at=at(0.05), ok=not failed, error="admin unreachable" if failed else "",
                                        failed=tuple(failed))
            case rm.ApplyRevert(item=item):
                ok = item.id not in script.revert_fail
                return rm.RevertOutcome(at=at(0.05), ok=ok, detail=item.summary(), error="" if ok else "HTTP 503",
                                        restored=script.restored.get(item.id))
            case rm.AwaitSteady(slos=slos):
                holds = script.steady_after
                return rm.SteadyOutcome(at=at(2.0), holds=holds, seconds=2.0, aborted=script.aborted_in_recovery,
                                        verdicts=tuple(verdict(s, "ok" if holds else script.after_status, clock[0])
                                                       for s in slos))
        raise AssertionError(step)

    gen = rm.lifecycle(exp, "run1", decider, source="unit.yaml", start_at=START, dry_run=dry_run)
    outcome: rm.AnyOutcome | None = None
    for _ in range(10_000):
        try:
            step = gen.send(outcome)
        except StopIteration as stop:
            return Played(steps, events, stop.value)
        steps.append(step)
        outcome = answer(step)
    raise AssertionError("the lifecycle did not finish")
