"""One renderer per event: every event has its words in :mod:`chaos.engine.wording`, the same whether
it is live (typed) or read back from a journal (JSON), and the CLI progress, the live decision log,
``show`` and the report all say them; a fault reads as its kind describes it."""

from __future__ import annotations

import json
import typing

import pytest

from chaos.commands.progress import TextPrinter
from chaos.engine import events as ev
from chaos.engine.fold import RunView, fold
from chaos.engine.wording import WORDERS, Words, words
from chaos.slo.verdicts import Tick, Verdict
from chaos.timeline import entries

from .scripted import BREACH, OK, Dec, Script, ScriptedDecider, experiment, play

T0 = 1_000.0
EVENTS: list[ev.Event] = [
    ev.RunStarted(run_id="r1", at=T0, experiment="unit", target="host", faults=("delay",), slos=("p95",)),
    ev.PreflightPassed(run_id="r1", at=T0, checks=("proxy reachable",), targets=("proxy a → b",)),
    ev.SteadyStateChecked(run_id="r1", at=T0 + 1, phase="before", holds=True,
                          verdicts=(Verdict("p95", "ok", 0.1, "< 0.3", "q", T0 + 1),)),
    ev.FaultRecorded(run_id="r1", at=T0 + 1, fault="delay", fault_type="network-delay", deadline=T0 + 41),
    ev.FaultInjected(run_id="r1", at=T0 + 1, fault="delay", fault_type="network-delay",
                     description="latency 500ms", deadline=T0 + 41),
    ev.SloSampled(run_id="r1", at=T0 + 2, tick=Tick(T0 + 2, (Verdict("p95", "breached", 0.6, "< 0.3", "q", T0 + 2),))),
    ev.PolicyFired(run_id="r1", at=T0 + 2, decision_id="fast#1", policy="fast", action="rollback", target="delay",
                   evidence={"slo": "p95", "value": 0.6, "objective": "< 0.3", "status": "breached"}),
    ev.ActionApplied(run_id="r1", at=T0 + 2, decision_id="fast#1", action="rollback", detail="removed delay"),
    ev.ActionFailed(run_id="r1", at=T0 + 2, decision_id="n#1", action="notify", error="connection refused"),
    ev.BreakerChanged(run_id="r1", at=T0 + 2, policy="iso", service="gw", state="open", weight=0),
    ev.FaultShrunk(run_id="r1", at=T0 + 2, fault="delay", params={"percent": 10}),
    ev.FaultRemoved(run_id="r1", at=T0 + 2, fault="delay", reason="rollback"),
    ev.Reverted(run_id="r1", at=T0 + 3, decision_id="revert:iso#1", action="restore-weight", detail="gw 100"),
    ev.SteadyStateRestored(run_id="r1", at=T0 + 8, seconds=6.0),
    ev.RunLog(run_id="r1", at=T0 + 8, level="warning", message="slow scrape"),
    ev.PreflightRefused(run_id="r1", at=T0 + 8, reason="no proxy", details=("start it",)),
    ev.RunFinished(run_id="r1", at=T0 + 9, verdict="deviated", exit_code=1, reason="recovered"),
]


def test_every_event_has_its_entry() -> None:
    assert set(WORDERS) == {cls.kind for cls in typing.get_args(ev.Event)}
    assert {type(e) for e in EVENTS} == set(typing.get_args(ev.Event))


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_live_and_journaled_events_read_the_same(event: ev.Event) -> None:
    said = words(event)
    assert said == words(json.loads(json.dumps(event.to_dict())))
    assert (said is None) == isinstance(event, ev.SloSampled)


def test_every_view_says_the_same_words(capsys: pytest.CaptureFixture[str]) -> None:
    said = [w for e in EVENTS if (w := words(e)) is not None]
    assert said[4] == Words("injected delay (network delay)", "latency 500ms", "warning")
    assert said[5].title == "policy fast fired → rollback on delay"
    assert said[5].detail == "p95 was 0.6 (objective < 0.3), breached"
    # show and the report
    journal = {"aftershock": {"events": [e.to_dict() for e in EVENTS]}}
    assert [(x.title, x.detail, x.severity) for x in entries(journal)] == [(w.title, w.detail, w.severity)
                                                                            for w in said]
    # the live decision log (TUI and the CLI's live view): the events it keeps, in the same words
    run = RunView(run_id="r1")
    for e in EVENTS:
        fold(run, e)
    kept = {(d.title, d.detail) for d in run.decisions}
    assert ("policy fast fired → rollback on delay", "p95 was 0.6 (objective < 0.3), breached") in kept
    assert ("removed delay by the rollback", "") in kept
    assert ("verdict: deviated (exit 1)", "recovered") in kept
    # the progress lines
    printer = TextPrinter(color=False)
    for e in EVENTS:
        printer(e)
    printed = capsys.readouterr()
    text = printed.out + printed.err
    for line in ("injected delay (network delay): latency 500ms", "policy fast fired → rollback on delay: p95 was 0.6",
                 "removed delay by the rollback", "verdict: deviated (exit 1) — recovered", "  ✓ proxy reachable",
                 "SLO p95 0.6 < 0.3 ✗"):
        assert line in text, text


def test_a_fault_reads_as_its_kind_describes_it() -> None:
    played = play(experiment(), ScriptedDecider({1: [Dec("fast#1", "rollback")]}), Script(ticks=[OK, BREACH]))
    (recorded,) = played.of(ev.FaultRecorded)
    (injected,) = played.of(ev.FaultInjected)
    assert recorded.description == injected.description == "latency 500ms through the proxy 127.0.0.1:18080 → 127.0.0.1:8080"
    assert injected.details["realisation"] == "delay on delay"  # how the target realised it
