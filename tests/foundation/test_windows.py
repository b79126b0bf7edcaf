"""Windows and schedule fields take Prometheus' d/w/y units; Chaos Mesh fields keep Go's."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from chaos.cli import main
from chaos.model.durations import parse_duration, parse_window
from chaos.model.slos import Gate, Slo
from chaos.slo.budget import bad_ratio_query


@pytest.mark.parametrize(("text", "seconds"), [("30d", 30 * 86400), ("4w", 28 * 86400), ("1y", 365 * 86400),
                                               ("1d12h", 129600), ("90m", 5400), ("500ms", 0.5)])
def test_window_units(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


def test_go_durations_still_refuse_days() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("30d")


def test_gate_window_in_days_and_its_promql() -> None:
    gate = Gate.model_validate({"slo": "p95", "minBudget": 20, "window": "30d", "burnWindows": ["1d", "1h"]})
    slo = Slo.model_validate({"name": "p95", "query": "q", "objective": {"op": "<", "value": 0.8}})
    assert "[720h:" in bad_ratio_query(slo, gate.window)


def test_check_window_accepts_days() -> None:
    result = CliRunner().invoke(main, ["check", "--window", "30d", "no-such-file.yaml"])
    assert "--window" not in result.output, result.output
    bad = CliRunner().invoke(main, ["check", "--window", "30x", "no-such-file.yaml"])
    assert "--window: '30x' is not a duration" in bad.output
