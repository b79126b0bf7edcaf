"""Pure parts of the TUI: the run store folding engine events, the braille chart, formatting."""

from __future__ import annotations

from chaos.engine.events import FaultInjected, FaultRemoved, PolicyFired, RunStarted, SloSampled
from chaos.engine.wording import evidence_text
from chaos.slo.verdicts import Tick, Verdict
from tui.state import Point, RunStore, parse_objective
from tui.widgets.panels import countdown
from tui.widgets.slo_chart import plot


def _sample(run_id: str, at: float, value: float | None, status: str) -> SloSampled:
    verdict = Verdict(slo="p95", status=status, value=value, objective="< 0.8", query="q", eval_time=at)  # type: ignore[arg-type]
    return SloSampled(run_id=run_id, at=at, tick=Tick(eval_time=at, verdicts=(verdict,)))


def test_store_folds_a_run() -> None:
    store = RunStore()
    store.apply(RunStarted(run_id="r1", at=100.0, experiment="exp", slos=("p95",), faults=("f",)))
    store.apply(FaultInjected(run_id="r1", at=100.0, fault="f", deadline=160.0))
    store.apply(_sample("r1", 101.0, 0.5, "ok"))
    store.apply(_sample("r1", 102.0, 0.9, "breached"))
    store.apply(PolicyFired(run_id="r1", at=102.0, decision_id="fast#1", policy="fast", action="rollback", evidence={"slo": "p95", "value": 0.9}))
    run = store.apply(FaultRemoved(run_id="r1", at=102.0, fault="f", reason="rollback"))
    assert run.slos["p95"].threshold == 0.8 and run.slos["p95"].status == "breached"
    assert run.fault_window == (100.0, 102.0)
    assert run.phase == "recovering" and not run.live_faults()
    assert [d.kind for d in run.decisions] == ["FaultInjected", "PolicyFired", "FaultRemoved"]
    assert store.alive() == [run]


def test_parse_objective() -> None:
    assert parse_objective("< 0.8") == ("<", 0.8)
    assert parse_objective("== 0") == ("==", 0.0)
    assert parse_objective("weird")[1] is None


def test_plot_draws_values_objective_and_fault_window() -> None:
    points = [Point(float(t), 0.2 if t < 5 else 1.0, "ok" if t < 5 else "breached") for t in range(10)]
    chart = plot(points, 0.8, (3.0, 7.0), width=20, height=4)
    rows, lo, hi = chart.rows, chart.lo, chart.hi
    assert lo <= 0.2 and hi > 1.0
    assert len(rows) == 4 and all(len(r) == 20 for r in rows)
    styles = {style for row in rows for _, style in row}
    assert {"ok", "breached"} <= {s.split("+")[0] for s in styles}
    assert any(s.endswith("+fault") for s in styles)
    assert any(s.startswith("objective") for s in styles)
    top = "".join(c for c, _ in rows[0])
    assert top.strip(), "breaching values reach the top row"


def test_plot_handles_no_data_and_empty() -> None:
    rows = plot([], None, None, width=5, height=2).rows
    assert all(c == " " for row in rows for c, _ in row)
    rows = plot([Point(0.0, None, "no-data")], 1.0, None, width=5, height=2).rows
    assert rows[-1][0][1].startswith("no-data")


def test_plot_draws_only_measured_points_and_leaves_gaps() -> None:
    """Samples every second, then nothing for 10 s (the monitor was not sampling), then again: the
    columns of the gap stay empty — no straight line is invented across it."""
    points = [Point(float(t), 0.1, "ok") for t in range(5)] + [Point(float(t), 0.9, "ok") for t in range(15, 20)]
    rows = plot(points, None, None, width=20, height=4, end=19.0).rows
    drawn = [x for x in range(20) if any(row[x][0] != " " for row in rows)]
    assert drawn[0] == 0 and drawn[-1] == 19
    assert not any(6 <= x <= 13 for x in drawn), drawn  # the gap between 4 s and 15 s stays a gap
    joined = [Point(float(t), 0.1 if t < 5 else 0.9, "ok") for t in range(20)]
    rows = plot(joined, None, None, width=20, height=4, end=19.0).rows
    assert all(any(row[x][0] != " " for row in rows) for x in range(20))  # regular samples are joined


def test_formatting() -> None:
    assert countdown(61.2) == "1:02" and countdown(-5) == "0:00"
    assert evidence_text({"slo": "p95", "value": 0.91234, "objective": "< 0.8", "consecutive": 3}) == \
        "p95 was 0.912 (objective < 0.8) for 3 ticks"
    assert evidence_text({"reason": "x"}) == "x"
