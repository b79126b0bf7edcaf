"""One game day, through the real engine: its experiments serially (with ``pause`` between them)
or in parallel, stopping the rest on a ``stopOn`` verdict; an abort stops the live runs (faults
removed first, by the engine) and launches nothing more. Then the report (Markdown + HTML in the
state dir) and the notifications. Also :func:`read_gate`, the error-budget gate's queries.

Uses only the engine's public entry points (:class:`chaos.engine.driver.Engine` ``launch`` /
``wait`` / ``request`` / ``journal``), like ``aftershock run``. Callers: ``aftershock gameday run``,
the scheduler service, the demo's ``gameday`` scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import write_private
from chaos.compiling import naming
from chaos.engine.api import Listener
from chaos.engine.driver import Engine, EngineSettings
from chaos.errors import ChaosError
from chaos.gameday.loading import LoadedGameDay
from chaos.gameday.notify import Notifier
from chaos.gameday.outcome import ExperimentResult, GameDayResult, Score, score
from chaos.gameday.report import SkipLine, TrendPoint, render_html, render_markdown
from chaos.loading import Loaded
from chaos.model.durations import parse_window
from chaos.slo.budget import GateReading, gate_queries, judge, unreadable


def hypothesis(loaded: Loaded) -> str:
    exp = loaded.experiment
    steady = ", ".join(f"{n} {exp.spec.slo(n).objective}" for n in exp.spec.steady_state) or "no steady state"
    faults = ", ".join(f"{f.name} ({f.type})" for f in exp.spec.faults)
    head = exp.metadata.description or exp.name
    return f"{head}. Steady state ({steady}) holds before and after {faults}; policies recover any breach."


async def read_gate(lgd: LoadedGameDay, settings: EngineSettings, now: float | None = None) -> GateReading | None:
    """Open/closed from Prometheus (None without a gate). Unreadable → closed."""
    from chaos.clients.prometheus import PrometheusClient
    from chaos.slo.monitoring import read_bad_ratios

    gate = lgd.gameday.spec.gate
    found = lgd.gate_slo()
    if gate is None or found is None:
        return None
    loaded, slo = found
    spec = loaded.experiment.spec.monitor
    try:
        client = PrometheusClient(spec, url=settings.prometheus, environ=settings.environ)
    except ChaosError as exc:
        return unreadable(gate, str(exc))
    try:
        bad = await read_bad_ratios(client, gate_queries(gate, slo), now if now is not None else time.time())
    except ChaosError as exc:
        return unreadable(gate, str(exc))
    finally:
        await client.aclose()
    return judge(gate, bad)


@dataclass
class Written:
    markdown: Path
    html: Path
    score: Score


class GameDayRunner:
    """Runs game days with one engine (one state store); ``abort()`` from any callback of its loop."""

    def __init__(self, settings: EngineSettings, *, engine: Engine | None = None,
                 listener: Listener | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine(settings)
        if listener is not None:
            self.engine.subscribe(listener)
        self._aborted = asyncio.Event()
        self._live: set[str] = set()
        self.on_runs: Callable[[list[str]], None] | None = None

    def abort(self) -> None:
        self._aborted.set()
        for run_id in list(self._live):
            self.engine.request(run_id, "abort")

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    async def _one(self, loaded: Loaded, ref_file: str, result: GameDayResult) -> ExperimentResult:
        exp = loaded.experiment
        item = ExperimentResult(name=exp.name, file=ref_file, hypothesis=hypothesis(loaded),
                                steady_state=tuple(exp.spec.steady_state))
        result.experiments.append(item)
        if self.aborted:
            item.verdict, item.reason = "aborted", "the game day was aborted before it started"
            return item
        run_id = await self.engine.launch(loaded, run_id=naming.new_run_id())
        item.run_id = run_id
        self._live.add(run_id)
        if self.on_runs is not None:
            self.on_runs(result.run_ids)
        if self.aborted:
            self.engine.request(run_id, "abort")
        try:
            finished = await self.engine.wait(run_id)
        finally:
            self._live.discard(run_id)
        item.verdict, item.reason = finished.verdict, finished.reason
        with contextlib.suppress(ChaosError):
            item.journal = self.engine.journal(run_id)
        return item

    async def run(self, lgd: LoadedGameDay, *, due: float | None = None, trigger: str = "manual",
                  gameday_id: str | None = None) -> GameDayResult:
        spec = lgd.gameday.spec
        now = time.time()
        result = GameDayResult(gameday_id=gameday_id or naming.new_run_id(), name=lgd.name, source=lgd.source,
                               trigger=trigger, due=due if due is not None else now, started=now)
        if spec.gate is not None:
            result.budget_target = spec.gate.target
            result.budget_window_s = parse_window(spec.gate.window)
        refs = [r.file for r in spec.experiments]
        if spec.mode == "parallel":
            await asyncio.gather(*(self._one(x, f, result) for x, f in zip(lgd.experiments, refs, strict=True)))
        else:
            for i, (loaded, ref) in enumerate(zip(lgd.experiments, refs, strict=True)):
                if self.aborted:
                    result.stopped = "aborted"
                    break
                item = await self._one(loaded, ref, result)
                if item.verdict in spec.stop_on:
                    rest = len(lgd.experiments) - i - 1
                    if rest:
                        result.stopped = f"{item.name} ended {item.verdict} (stopOn): {rest} experiment(s) not run"
                    break
                if i < len(lgd.experiments) - 1 and spec.pause_s > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(spec.pause_s):
                            await self._aborted.wait()
        if self.aborted and not result.stopped:
            result.stopped = "aborted"
        result.ended = time.time()
        return result


def write_report(result: GameDayResult, state_dir: Path, schedules: ScheduleStore | None) -> Written:
    """Markdown + HTML in ``<state dir>/gamedays/<name>/``; trend and skips from the schedule store."""
    trend: list[TrendPoint] = []
    skips: list[SkipLine] = []
    if schedules is not None:
        for row in schedules.fires(result.name, limit=200):
            if row.gameday_id == result.gameday_id:
                continue
            if row.state in ("finished", "orphaned") and len(trend) < 20:
                trend.append(TrendPoint(row.due, row.verdict or "?", row.score, row.gameday_id))
            elif row.state == "skipped" and len(skips) < 50:
                skips.append(SkipLine(row.due, row.reason, row.count))
    sc = score(result)
    directory = state_dir / "gamedays" / result.name
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (state_dir / "gamedays").chmod(0o700)
    md = directory / f"{result.gameday_id}.md"
    page = directory / f"{result.gameday_id}.html"
    write_private(md, render_markdown(result, sc, trend, skips))  # 0600, like everything in the state dir
    write_private(page, render_html(result, sc, trend, skips))
    return Written(md, page, sc)


def notification_body(result: GameDayResult, written: Written | None) -> dict[str, Any]:
    return {"gameday": result.name, "id": result.gameday_id, "due": result.due, "trigger": result.trigger,
            "verdict": result.verdict, "score": written.score.score if written else None,
            "report": str(written.html) if written else "", "markdown": str(written.markdown) if written else "",
            "experiments": [{"name": e.name, "verdict": e.verdict, "run_id": e.run_id} for e in result.experiments],
            "stopped": result.stopped}


async def notify_finished(notifier: Notifier, result: GameDayResult, written: Written) -> None:
    event = "aborted" if result.verdict == "aborted" else "finished"
    await notifier.send(event, notification_body(result, written))


async def push_journals(url: str, result: GameDayResult, written: Written) -> None:
    """POST the game-day report (Markdown + HTML) and every journal to ``url`` (in-cluster runs
    without a volume). Failures are logged: the game day's outcome does not depend on them."""
    import logging

    import httpx

    from chaos.gameday.notify import redact

    body = {**notification_body(result, written), "markdown_text": written.markdown.read_text(encoding="utf-8"),
            "html_text": written.html.read_text(encoding="utf-8"),
            "journals": {e.run_id: e.journal for e in result.experiments if e.journal is not None}}
    try:
        async with httpx.AsyncClient(timeout=30.0, follow_redirects=False) as client:
            response = await client.post(url, json=body)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        logging.getLogger("aftershock.gameday").error("pushing journals to %s failed: %s", redact(url),
                                                      type(exc).__name__)
