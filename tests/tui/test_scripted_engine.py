"""ScriptedEngine (chaos.engine.scripted): the deterministic EngineAPI the TUI tests drive."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chaos.engine.events import (
    BreakerChanged,
    FaultInjected,
    FaultRemoved,
    PolicyFired,
    RunEvent,
    RunFinished,
    SloSampled,
)
from chaos.engine.scripted import DEFAULT_START, ScriptedEngine
from chaos.loading import load_file

EXPERIMENTS = Path(__file__).parent / "experiments"


def _load(name: str):  # type: ignore[no-untyped-def]
    return load_file(EXPERIMENTS / f"{name}.yaml")


async def test_breach_then_recovery_in_order() -> None:
    engine = ScriptedEngine()
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("payment-latency"))
    finished = await engine.wait(run_id)
    assert finished.verdict == "deviated" and finished.exit_code == 1
    kinds = [e.kind for e in events if not isinstance(e, SloSampled)]
    assert kinds[:5] == ["RunStarted", "PreflightPassed", "SteadyStateChecked", "FaultRecorded", "FaultInjected"]
    assert kinds.index("PolicyFired") < kinds.index("FaultRemoved") < kinds.index("RunFinished")
    statuses = [v.status for e in events if isinstance(e, SloSampled) for v in e.tick.verdicts
                if v.slo == "checkout-p95"]
    first_breach = statuses.index("breached")
    assert "pending" in statuses[:first_breach]
    assert statuses[-1] == "ok"
    fired = next(e for e in events if isinstance(e, PolicyFired))
    assert fired.policy == "fast-rollback" and fired.evidence["slo"] == "checkout-p95"
    assert events[0].at == DEFAULT_START
    assert engine.active_faults(run_id) == []


async def test_is_deterministic() -> None:
    runs = []
    for _ in range(2):
        engine = ScriptedEngine()
        events: list[RunEvent] = []
        engine.subscribe(events.append)
        await engine.wait(await engine.launch(_load("payment-latency")))
        runs.append([e.to_dict() for e in events])
    assert runs[0] == runs[1]


async def test_abort_removes_faults_first_and_records_the_call() -> None:
    engine = ScriptedEngine(pause_at=2)
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("payment-latency"))
    while not any(isinstance(e, FaultInjected) for e in events):

        await asyncio.sleep(0)
    assert engine.active_faults(run_id) == ["payment-delay"]
    await engine.abort(run_id)
    assert ("abort", run_id) in engine.calls
    assert engine.active_faults(run_id) == []
    removed = [e for e in events if isinstance(e, FaultRemoved)]
    assert [r.reason for r in removed] == ["abort"]
    finished = await engine.wait(run_id)
    assert finished.verdict == "aborted" and finished.exit_code == 130
    assert events.index(removed[0]) < events.index(finished)


async def test_rollback_now_removes_faults_and_recovers() -> None:

    engine = ScriptedEngine(pause_at=2)
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("pod-kill"))
    while not any(isinstance(e, FaultInjected) for e in events):
        await asyncio.sleep(0)
    await engine.rollback_now(run_id)
    assert engine.active_faults(run_id) == []
    engine.release()
    finished = await engine.wait(run_id)
    assert finished.verdict == "passed"
    assert [e.reason for e in events if isinstance(e, FaultRemoved)] == ["rollback"]
    assert ("rollback_now", run_id) in engine.calls


async def test_circuit_break_opens_and_closes() -> None:
    engine = ScriptedEngine()
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    await engine.wait(await engine.launch(_load("breaker-drill")))
    states = [(e.state, e.weight) for e in events if isinstance(e, BreakerChanged)]
    assert states == [("open", 0), ("half-open", 10), ("closed", 100)]
    assert isinstance(events[-1], RunFinished)


async def test_history_journal_and_plan() -> None:
    engine = ScriptedEngine(seed_history=True)
    loaded = _load("payment-latency")
    plan = await engine.plan(loaded)
    assert plan.faults[0].manifest.startswith("apiVersion: chaos-mesh.org/v1alpha1")
    assert plan.faults[0].targets == ("shop/order-service-0",)
    assert set(plan.slo_values) == {"checkout-p95", "error-rate", "payment-timeouts"}
    run_id = await engine.launch(loaded)
    await engine.wait(run_id)
    rows = engine.history()
    assert rows[0].run_id == run_id and rows[0].verdict == "deviated"
    assert [r.run_id for r in rows[1:]] == ["h0000002", "h0000001"]
    journal = engine.journal(run_id)
    assert journal["run"]["verdict"] == "deviated"
    assert any(d["event"] == "PolicyFired" for d in journal["aftershock"]["decisions"])
