"""Hypothesis state machine: random policy sets, random verdict streams, random actuator failures.

Checked on every tick: no two decisions of a tick share a target (rollback and abort dominate), ids are
unique over the run, a policy fires at most once per episode. On a simulated crash: replaying the
journaled inputs gives the same decisions, and re-applying them with the journaled ledger applies
nothing twice. At the end: the final reverts undo every action exactly once unless it is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chaos.policy.actions import REVERSIBLE_KINDS, Abort, ActionOutcome, Decision, RemoveFaults
from chaos.policy.actuators import Actuators, RecordingActuators
from chaos.policy.decisions import Decider, DeciderConfig, TickDecisions, TickInput
from chaos.policy.executor import apply_all, revert_all
from chaos.policy.ledger import Ledger, final_reverts
from chaos.slo.verdicts import MONITOR, Tick, Verdict

from .helpers import policy, slo, verdict

SLOS = ("a", "b")
FAULTS = ("f1", "f2", "f3")
STATUSES = ("ok", "pending", "breached", "no-data")
OPS = ("remove-faults", "shrink", "degrade", "circuit-break", "notify")


def _with(action: str) -> st.SearchStrategy[dict[str, Any]]:
    if action == "rollback":
        return st.one_of(st.just({}), st.lists(st.sampled_from(FAULTS), min_size=1, max_size=2, unique=True)
                         .map(lambda fs: {"faults": fs}))
    if action == "degrade":
        url = st.sampled_from(["http://admin/one", "http://admin/two"])
        http = st.builds(lambda u, rev: {"http": {"url": u}, **({"revert": {"url": u + "/undo"}} if rev else {})},
                         url, st.booleans())
        kube = st.just({"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags", "data": {"x": "y"}}}})
        return st.one_of(http, kube)
    if action == "circuit-break":
        return st.builds(lambda s, o, p: {"service": s, "openFor": o, "halfOpenProbes": p},
                         st.sampled_from(["gw", "db"]), st.sampled_from(["2s", "5s"]), st.integers(1, 3))
    if action == "shrink":
        return st.builds(lambda f: {"fault": f, "percent": 10}, st.sampled_from(FAULTS))
    if action == "notify":
        return st.just({"url": "http://hooks/x"})
    return st.just({})


@st.composite
def configs(draw: st.DrawFn) -> DeciderConfig:
    actions = draw(st.lists(st.sampled_from(["rollback", "degrade", "degrade", "circuit-break", "circuit-break",
                                             "shrink", "shrink", "notify", "abort"]), min_size=1, max_size=5))
    docs = []
    for i, action in enumerate(actions):
        when: dict[str, Any] = {"slo": draw(st.sampled_from((*SLOS, *SLOS, MONITOR)))}
        if draw(st.booleans()):
            when["consecutive"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            when["for"] = draw(st.sampled_from(["0s", "2s"]))
        doc: dict[str, Any] = {"name": f"p{i}", "when": when, "action": action, "with": draw(_with(action)),
                               "keep": action in ("degrade", "circuit-break") and draw(st.booleans())}
        if draw(st.booleans()):
            doc["escalate"] = {"after": draw(st.sampled_from(["1s", "3s"])),
                               "to": draw(st.sampled_from(["rollback", "abort", *actions]))}
        docs.append(doc)
    slos = [slo(n, consecutive=draw(st.integers(1, 2))) for n in SLOS]
    return DeciderConfig.build([policy(d) for d in docs], slos=slos, faults=FAULTS,
                               on_error=draw(st.sampled_from(["rollback", "abort", "continue"])))


class PolicyMachine(RuleBasedStateMachine):
    @initialize(cfg=configs())
    def setup(self, cfg: DeciderConfig) -> None:
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        self.decider = Decider(cfg)
        self.world = RecordingActuators.with_faults(*FAULTS)
        self.ledger = Ledger()
        for f in FAULTS:
            self.ledger.record_injection(f)
        self.inputs: list[TickInput] = []
        self.steps: list[TickDecisions] = []
        self.outcomes: list[ActionOutcome] = []
        self.all_outcomes: dict[str, ActionOutcome] = {}
        self.decisions: dict[str, Decision] = {}
        self.armed = {p.name: True for p in cfg.policies}
        self.t = 0.0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0, 5.0]), a=st.sampled_from(STATUSES), b=st.sampled_from(STATUSES),
          monitor_down=st.sampled_from([False, False, False, False, True]))
    def tick(self, dt: float, a: str, b: str, monitor_down: bool) -> None:
        self.t += dt
        verdicts: list[Verdict] = [verdict("a", "no-data" if monitor_down else a, self.t),  # type: ignore[arg-type]
                                   verdict("b", "no-data" if monitor_down else b, self.t)]  # type: ignore[arg-type]
        if monitor_down:
            verdicts.append(Verdict(MONITOR, "unavailable", None, "", "", self.t, error="refused"))
        tick = Tick(self.t, tuple(verdicts))
        # model of episodes: a policy re-arms when its SLO holds
        statuses = {v.slo: v.status for v in verdicts}
        for p in self.cfg.policies:
            if p.when.slo == MONITOR:
                if not monitor_down:
                    self.armed[p.name] = True
            elif statuses[p.when.slo] == "ok":
                self.armed[p.name] = True

        self.inputs.append(TickInput(tick, tuple(self.outcomes)))
        step = self.decider.on_tick(tick, self.outcomes)
        self.steps.append(step)

        # never two decisions of a tick on one target; abort and rollback dominate
        targets = [t for d in step.decisions for t in d.targets]
        assert len(targets) == len(set(targets)), step.decisions
        if any(isinstance(d.action, Abort) for d in step.decisions):
            assert [d.kind for d in step.decisions if d.kind != "notify"] == ["abort"]
        for d in step.decisions:
            if isinstance(d.action, RemoveFaults):
                assert d.action.faults, d
        # a policy fires at most once per episode
        for d in (*step.decisions, *(s.decision for s in step.suppressed)):
            if d.cause == "fire":
                assert self.armed[d.policy], f"{d.id} fired twice in one episode"
                self.armed[d.policy] = False
        # ids are unique over the whole run
        for d in step.decisions:
            assert d.id not in self.decisions, f"duplicate id {d.id}"
            self.decisions[d.id] = d

        self.outcomes = self.run(apply_all(step.decisions, Actuators.of(self.world), self.ledger, at=self.t))
        self.all_outcomes.update({o.id: o for o in self.outcomes})

    @rule(op=st.sampled_from(OPS))
    def actuator_fails_next(self, op: str) -> None:
        self.world.fail_next(op, "endpoint down")

    @precondition(lambda self: len(self.inputs) > 0)
    @rule()
    def crash_and_restart(self) -> None:
        decider, steps = Decider.replay(self.cfg, self.inputs)
        assert steps == self.steps, "replaying the journal changed the decisions"
        fresh = RecordingActuators.with_faults(*FAULTS)
        for step in steps:
            outcomes = self.run(apply_all(step.decisions, Actuators.of(fresh), self.ledger, at=self.t))
            assert all(o.skipped for o in outcomes)
        assert fresh.calls == [], "an action was applied twice after a restart"
        self.decider = decider

    @invariant()
    def decider_and_world_agree_on_removed_faults(self) -> None:
        if not hasattr(self, "decider"):
            return
        for f in FAULTS:
            if f not in self.world.faults:
                assert f not in self.ledger.live_faults()

    def teardown(self) -> None:
        if not hasattr(self, "decider"):
            return
        try:
            self.end_of_run()
        finally:
            self.loop.close()

    def end_of_run(self) -> None:
        self.world.failures.clear()  # the end-of-run cleanup runs against working actuators
        plan = final_reverts(self.ledger)
        outcomes = self.run(revert_all(plan, Actuators.of(self.world), self.ledger))
        assert all(o.ok for o in outcomes), outcomes
        # every fault is gone, every weight restored, every degrade reverted — unless kept
        assert self.world.faults == {}
        kept = [e for e in self.ledger.entries if e.open]
        assert all(e.keep for e in kept), kept
        kept_targets = {e.target for e in kept}
        for key, weight in self.world.weights.items():
            if key not in kept_targets:
                assert weight == 100, (key, weight)
        assert {h.target for h in self.world.degrades.values()} <= kept_targets
        # every action that took effect has exactly one matching revert (or an explicit keep)
        covered: dict[str, int] = {}
        for e in self.ledger.entries:
            for i in e.covers:
                covered[i] = covered.get(i, 0) + 1
        for d in self.decisions.values():
            outcome = self.all_outcomes.get(d.id)
            if d.kind in REVERSIBLE_KINDS and outcome is not None and outcome.ok and not outcome.skipped:
                assert covered.get(d.id) == 1, (d.id, covered.get(d.id))
        # and the plan is now empty apart from the kept entries
        assert all(r.keep for r in final_reverts(self.ledger))


PolicyMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestPolicyMachine = PolicyMachine.TestCase
