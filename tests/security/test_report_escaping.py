"""Reports are Jinja2 templates with autoescape: what a file or a journal says is text, never markup."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tui"))

from demo_runs import latency_run

from chaos.bundled import examples_dir
from chaos.gameday.outcome import ExperimentResult, GameDayResult, score
from chaos.gameday.report import SkipLine, TrendPoint, render_html
from chaos.journal import build_journal
from chaos.loading import load_file
from chaos.report import render_report

EVIL = '<script>alert("x")</script>'


def journal() -> dict:  # type: ignore[type-arg]
    loaded = load_file(examples_dir() / "demo-payment-latency.yaml", environ={})
    j = build_journal(loaded.experiment, latency_run())
    j["aftershock"]["experiment"] = EVIL
    j["aftershock"]["reason"] = EVIL
    j["aftershock"]["faults"][0]["description"] = EVIL
    return j


def test_the_run_report_escapes_what_the_journal_says() -> None:
    page = render_report(journal())
    assert EVIL not in page and "&lt;script&gt;alert(" in page
    assert page.count("<svg") == 2 and "<style>" in page  # ours stays markup


def test_the_game_day_report_escapes_what_the_files_say() -> None:
    e = ExperimentResult(EVIL, "demo.yaml", EVIL, verdict="deviated", steady_state=("checkout-p95",),
                         journal=journal(), run_id="abc", reason=EVIL)
    r = GameDayResult("gd-1", EVIL, EVIL, "schedule", 1.78e9, 1.78e9, 1.78e9 + 100, experiments=[e], stopped=EVIL)
    page = render_html(r, score(r), [TrendPoint(1.779e9, EVIL, 90)], [SkipLine(1.779e9, EVIL, 3)])
    assert EVIL not in page and page.count("&lt;script&gt;alert(") >= 8
    assert "<svg" in page and "(×3)" in page
