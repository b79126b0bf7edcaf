"""The error-budget gate (``spec.gate`` of an Experiment, ``spec.gate`` of a GameDay) means one thing:
the budget computed from the SLO's own objective over a window. Both ``aftershock run`` and
``aftershock gameday run`` refuse a low budget, with the same words, before anything is recorded.

A real Prometheus holds backfilled series (an hour old, so the values are exact): ``burning`` is out
of its objective (< 0.5) all the time, ``steady`` never is. The run goes through the real engine
with a run-owned fault proxy on loopback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness.experiments import proxy_delay_experiment, slo

from chaos.cli import main
from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer, Sample, openmetrics
from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_text

END = int(time.time()) // 60 * 60 - 3600  # an hour ago: backfilled blocks are older than the head
START = END - 2 * 3600
LOW = "-9.9e+03% of the error budget of latency left over 3h, below minBudget 20%"
"""Out of objective all the time against a 1 % budget: the budget is spent 100 times over."""


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    samples = [Sample("gate_latency_seconds", {"svc": svc}, value, t)
               for t in range(START, END + 1, 15) for svc, value in (("burning", 0.9), ("steady", 0.1))]
    with PrometheusServer(backfill_text=openmetrics(samples)) as server:
        yield server


def experiment(prom: PrometheusServer, svc: str, port: int = 18997) -> str:
    query = f'max(gate_latency_seconds{{svc="{svc}"}})'
    if svc == "steady":  # and still steady now, so the run that the gate lets start passes
        query += " or vector(0.1)"
    return proxy_delay_experiment("gated", prom.url, [slo("latency", query, "<", 0.5)], port=port,
                                  gate={"slo": "latency", "minBudget": 20, "window": "3h"})


async def run(prom: PrometheusServer, tmp_path: Path, svc: str
              ) -> tuple[ev.RunFinished, list[ev.RunEvent], StateStore]:
    engine = Engine(EngineSettings(state_dir=tmp_path))
    seen: list[ev.RunEvent] = []
    engine.subscribe(seen.append)
    return await engine.run(load_text(experiment(prom, svc), "gated.yaml")), seen, engine.store


async def test_low_budget_refuses_the_run_before_anything_is_recorded(prom: PrometheusServer, tmp_path: Path) -> None:
    finished, seen, store = await run(prom, tmp_path, "burning")
    assert (finished.verdict, finished.exit_code) == ("invalid", 2)
    refused = next(e for e in seen if isinstance(e, ev.PreflightRefused))
    assert refused.reason == f"gate closed: {LOW}"
    assert any("bad-ratio query over 3h: 1 - avg_over_time(((max(gate_latency_seconds" in d for d in refused.details)
    assert not any(isinstance(e, ev.FaultRecorded | ev.FaultInjected) for e in seen)
    assert store.faults() == []


async def test_enough_budget_lets_the_run_start(prom: PrometheusServer, tmp_path: Path) -> None:
    finished, seen, store = await run(prom, tmp_path, "steady")
    passed = next(e for e in seen if isinstance(e, ev.PreflightPassed))
    assert "gate open: 100% budget left" in passed.checks
    assert finished.verdict == "passed", finished.reason
    assert [e.fault for e in seen if isinstance(e, ev.FaultRemoved)] == ["slow"]
    assert store.faults(live_only=True) == []


async def test_no_budget_data_refuses(prom: PrometheusServer, tmp_path: Path) -> None:
    finished, seen, _ = await run(prom, tmp_path, "nothing")
    assert finished.verdict == "invalid"
    refused = next(e for e in seen if isinstance(e, ev.PreflightRefused))
    assert refused.reason == ("gate closed: cannot read the error budget of SLO latency over 3h (no data); "
                              "not starting without it")


def test_run_and_gameday_refuse_with_the_same_words(prom: PrometheusServer, tmp_path: Path) -> None:
    (tmp_path / "gated.yaml").write_text(experiment(prom, "burning"))
    (tmp_path / "gd.yaml").write_text("""apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {name: drill}
spec:
  experiments: [{file: gated.yaml}]
  gate: {slo: latency, minBudget: 20, window: 3h}
""")
    state = tmp_path / "state"
    ran = CliRunner().invoke(main, ["run", str(tmp_path / "gated.yaml"), "--state-dir", str(state)])
    day = CliRunner().invoke(main, ["gameday", "run", str(tmp_path / "gd.yaml"), "--state-dir", str(state)])
    assert ran.exit_code == 2 and day.exit_code == 2, (ran.output, day.output)
    assert f"gate closed: {LOW}" in ran.output, ran.output
    assert f"game day drill: gate closed: {LOW}" in day.output, day.output
    assert StateStore(state).faults() == []


def test_the_old_experiment_gate_is_refused_with_the_fix(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    text = proxy_delay_experiment("old", "http://127.0.0.1:9", [slo("budget", "vector(12.5)", ">=", 0)],
                                  gate={"slo": "budget", "minBudget": 20})
    old.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if re.match(r"\s*gate:", ln))
    result = CliRunner().invoke(main, ["validate", str(old)])
    assert result.exit_code == 2
    assert f"{old}:{line}: spec.gate: `gate: {{slo, minBudget}}` no longer reads a remaining budget (%) " \
           "from the SLO's value" in result.output, result.output
    assert "e.g. `gate: {slo: budget, minBudget: 20, target: 99}`" in result.output
    assert "Traceback" not in result.output
    # the same gate with `target` written is the budget from the objective: valid
    old.write_text(proxy_delay_experiment("old", "http://127.0.0.1:9", [slo("budget", "vector(12.5)", ">=", 0)],
                                          gate={"slo": "budget", "minBudget": 20, "target": 99}))
    result = CliRunner().invoke(main, ["validate", str(old)])
    assert result.exit_code == 0, result.output


def test_a_gate_on_a_probe_slo_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text(proxy_delay_experiment(
        "probed", "http://127.0.0.1:9", [{"name": "up", "probe": {"http": {"url": "http://127.0.0.1:9/"}}}],
        gate={"slo": "up", "maxBurnRate": 2}))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "spec.gate.slo: SLO 'up' is a probe: the gate computes the error budget from an SLO's PromQL query" \
        in result.output, result.output
