"""``aftershock demo --scenario gameday``: the demo's three scenarios as one game day on the demo
stack (real Prometheus, real faults through the fault proxy), ending with the game-day report;
nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore

from .helpers import Cli

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(400)
async def test_demo_gameday(tmp_path: Path, audit: object) -> None:
    state = tmp_path / "state"
    cli = await Cli.start("demo", "--headless", "--scenario", "gameday", "--state-dir", str(state))
    try:
        rc = await cli.wait(timeout=360)
    finally:
        await cli.kill()
    out = "\n".join(cli.lines)
    assert rc == 1, (out[-3000:], cli.stderr[-2000:])  # every scenario deviates (and recovers) by design
    for name in ("demo-payment-latency", "demo-degrade", "demo-circuit-break"):
        assert f"{name}: deviated (run " in out
    assert "game day demo-gameday: deviated, resilience score " in out
    report = Path(out.split("report: ")[1].split("\n")[0])
    markdown = Path(out.split("report (markdown): ")[1].split("\n")[0])
    assert report.is_file() and markdown.is_file() and report.parent == state / "gamedays" / "demo-gameday"
    text = markdown.read_text()
    assert text.count("— deviated") == 4  # the game day and its three experiments
    assert StateStore(state).faults(live_only=True) == []
    assert [f.verdict for f in ScheduleStore(state).fires("demo-gameday")] == ["deviated"]
