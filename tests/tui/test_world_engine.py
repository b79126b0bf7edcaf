"""The TUI tests' engine: the real :class:`chaos.engine.driver.Engine` (lifecycle, policy bridge,
decider, monitor evaluation, state store, journal) over the scripted world of ``world.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from world import DEFAULT_START, WorldEngine

from chaos.engine.events import (
    BreakerChanged,
    FaultInjected,
    FaultRemoved,
    PolicyFired,
    RunEvent,
    RunFinished,
    SloSampled,
)
from chaos.loading import Loaded, load_file

EXPERIMENTS = Path(__file__).parent / "experiments"


def _load(name: str) -> Loaded:
    return load_file(EXPERIMENTS / f"{name}.yaml")


async def _until_injected(events: list[RunEvent]) -> None:
    while not any(isinstance(e, FaultInjected) for e in events):
        await asyncio.sleep(0)


async def test_breach_then_recovery_in_order(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine()
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
    assert "pending" in statuses[:first_breach]  # the SLO's `for: 5s`, judged by the real evaluation
    fired = next(e for e in events if isinstance(e, PolicyFired))
    assert fired.policy == "fast-rollback" and fired.evidence["slo"] == "checkout-p95"
    assert [e.reason for e in events if isinstance(e, FaultRemoved)] == ["rollback"]
    assert events[0].at == DEFAULT_START
    assert finished.timings["breach_to_action_s"] == 0.0
    assert engine.active_faults(run_id) == []


async def test_is_deterministic(new_engine: Callable[..., WorldEngine]) -> None:
    runs = []
    for _ in range(2):
        engine = new_engine()
        events: list[RunEvent] = []
        engine.subscribe(events.append)
        await engine.wait(await engine.launch(_load("payment-latency")))
        runs.append([{k: v for k, v in e.to_dict().items() if k != "journal"} for e in events])
    assert runs[0] == runs[1]


async def test_abort_removes_faults_first(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine(pause_at=2)
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("payment-latency"))
    await _until_injected(events)
    assert engine.active_faults(run_id) == ["payment-delay"]
    await engine.abort(run_id)
    finished = await engine.wait(run_id)
    assert finished.verdict == "aborted" and finished.exit_code == 130
    assert engine.active_faults(run_id) == []
    removed = [e for e in events if isinstance(e, FaultRemoved)]
    assert [r.reason for r in removed] == ["abort"]
    assert events.index(removed[0]) < events.index(finished)


async def test_rollback_now_removes_faults_and_recovers(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine(pause_at=2)
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("pod-kill"))
    await _until_injected(events)
    await engine.rollback_now(run_id)
    engine.release()
    finished = await engine.wait(run_id)
    assert finished.verdict == "passed", finished.reason
    assert [e.reason for e in events if isinstance(e, FaultRemoved)] == ["rollback"]


async def test_circuit_break_opens_and_closes(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine()
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    await engine.wait(await engine.launch(_load("breaker-drill")))
    states = [(e.state, e.weight) for e in events if isinstance(e, BreakerChanged)]
    assert states[0] == ("open", 0) and states[-1] == ("closed", 100)
    assert list(engine.world.weights.values()) == [100]  # restored at the end
    assert isinstance(events[-1], RunFinished)


async def test_history_journal_and_plan(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine(seed_history=True)
    loaded = _load("payment-latency")
    plan = await engine.plan(loaded)
    assert "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos" in plan.faults[0].manifest
    assert plan.slo_values == {"checkout-p95": 0.4, "error-rate": 0.025, "payment-timeouts": 0.0}
    run_id = await engine.launch(loaded)
    await engine.wait(run_id)
    rows = engine.history()
    assert rows[0].run_id == run_id and rows[0].verdict == "deviated"
    assert [r.run_id for r in rows[1:]] == ["h0000002", "h0000001"]
    journal = engine.journal(run_id)
    assert journal["aftershock"]["verdict"] == "deviated"
    assert [d["policy"] for d in journal["aftershock"]["decisions"]] == ["fast-rollback"]


async def test_the_driver_records_each_fault_before_it_injects_it(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine()
    await engine.wait(await engine.launch(_load("payment-latency")))
    assert engine.world.write_ahead == ["recorded"]


async def test_cancelling_a_run_removes_its_faults_first(new_engine: Callable[..., WorldEngine]) -> None:
    engine = new_engine(pause_at=2)
    events: list[RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(_load("payment-latency"))
    await _until_injected(events)
    task = engine._runs[run_id].task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert [(f.verdict, f.exit_code) for f in finished] == [("aborted", 130)]
    assert engine.active_faults(run_id) == []
    assert [e.reason for e in events if isinstance(e, FaultRemoved)] == ["abort"]
    assert engine.store.faults(run_id, live_only=True) == []
