"""The game-day report, in Markdown and self-contained HTML. Pure (values → text).

Per experiment: hypothesis, verdict, SLO plots with the fault window and policy actions (the run
report's plot, :func:`chaos.report.plot_slo`, reused), breach → action → removed → recovered timings,
time out of objective. Then the resilience score with its formula (:mod:`chaos.gameday.outcome`),
excluded SLOs and why, the trend against earlier game days of the same schedule, and skipped due
times with their reasons. Written by :mod:`chaos.gameday.runner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from chaos.gameday.outcome import GameDayResult, Score
from chaos.report import CSS, plot_slo, templates

FORMULA = ("score = int(100 · (T − L) / T): T = total weight of the SLOs scored, L = weight of those lost "
           "(breached at least once while the game day ran); steady-state SLOs weigh 2, others 1 "
           "(Krkn's SLO-weighted share held). Litmus's Σ wᵢ·PSPᵢ / Σ wᵢ averages per experiment "
           "instead (PSPᵢ = experiment i's weighted share of SLOs held, wᵢ = 1).")


@dataclass(frozen=True)
class TrendPoint:
    due: float
    verdict: str
    score: int | None
    gameday_id: str = ""


@dataclass(frozen=True)
class SkipLine:
    due: float
    reason: str
    count: int = 1


def _t(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at else "—"


def render_markdown(result: GameDayResult, sc: Score, trend: Sequence[TrendPoint],
                    skips: Sequence[SkipLine]) -> str:
    lines = [f"# Game day {result.name} — {result.verdict}", "",
             f"- id: `{result.gameday_id}` ({result.trigger}), due {_t(result.due)}",
             f"- ran {_t(result.started)} → {_t(result.ended)} ({result.ended - result.started:.0f} s)",
             f"- source: `{result.source}`"]
    if result.stopped:
        lines.append(f"- stopped early: {result.stopped}")
    lines += [f"- error budget: {100 - result.budget_target:g} % of {result.budget_window_s / 3600:g} h "
              f"(target {result.budget_target:g} %); spent = time out of objective / budget", ""]
    lines += ["## Resilience score", "",
              f"**{sc.score if sc.score is not None else 'n/a'}** / 100 "
              f"(Litmus-style: {sc.litmus if sc.litmus is not None else 'n/a'})", "", FORMULA, ""]
    if sc.excluded:
        lines += ["Excluded SLOs:", ""] + [f"- {s.experiment}/{s.slo}: {s.why_excluded}" for s in sc.excluded] + [""]
    lines += ["## Experiments", ""]
    for e in result.experiments:
        lines += [f"### {e.name} — {e.verdict}", "", f"Hypothesis: {e.hypothesis}", ""]
        if e.run_id:
            lines.append(f"Run `{e.run_id}` ({e.file}). {e.reason}".rstrip())
        timings = ((e.journal or {}).get("aftershock", {}) or {}).get("timings", {})
        if timings:
            lines += ["", "| timing | seconds |", "|---|---|"] + \
                [f"| {k.replace('_', ' ')} | {v} |" for k, v in timings.items()]
        mine = [s for s in sc.slos if s.experiment == e.name]
        if mine:
            lines += ["", "| SLO | weight | held | out of objective | error budget spent |", "|---|---|---|---|---|"] + \
                [f"| {s.slo} | {s.weight} | {'excluded' if s.held is None else ('yes' if s.held else 'no')} | "
                 f"{s.breached_s:g} s | {result.budget_spent(s.breached_s):.2g} % |" for s in mine]
        lines.append("")
    lines += ["## Trend (this schedule)", ""]
    if trend:
        lines += ["| due | verdict | score |", "|---|---|---|"] + \
            [f"| {_t(p.due)} | {p.verdict} | {p.score if p.score is not None else 'n/a'} |" for p in trend]
    else:
        lines.append("No earlier game day of this schedule.")
    lines += ["", "## Skipped due times", ""]
    if skips:
        lines += [f"- {_t(s.due)}: {s.reason}" + (f" (×{s.count})" if s.count > 1 else "") for s in skips]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def render_html(result: GameDayResult, sc: Score, trend: Sequence[TrendPoint], skips: Sequence[SkipLine]) -> str:
    """The game day as a page: ``chaos/templates/gameday-report.html.j2`` (Jinja2, autoescaped)."""
    experiments = []
    for e in result.experiments:
        journal = e.journal or {}
        ours = journal.get("aftershock", {}) or {}
        mine = {s.slo: s for s in sc.slos if s.experiment == e.name}
        slos = []
        for slo in ours.get("slos", []):
            s = mine.get(slo["name"])
            held = "excluded" if s is None or s.held is None else ("held" if s.held else "lost")
            spent = (f", {s.breached_s:g} s out of objective, {result.budget_spent(s.breached_s):.2g} % of the "
                     "error budget" if s is not None else "")
            slos.append({"name": slo["name"], "objective": slo["objective"], "held": held, "spent": spent,
                         "plot": Markup(plot_slo(slo, journal))})
        experiments.append({"name": e.name, "verdict": e.verdict, "hypothesis": e.hypothesis, "run_id": e.run_id,
                            "file": e.file, "reason": e.reason, "slos": slos,
                            "timings": [(k.replace("_", " "), v) for k, v in (ours.get("timings") or {}).items()]})
    return templates().get_template("gameday-report.html.j2").render(
        css=Markup(CSS), r=result, due=_t(result.due), started=_t(result.started), ended=_t(result.ended), sc=sc,
        formula=FORMULA, experiments=experiments,
        trend=[{"due": _t(p.due), "verdict": p.verdict, "score": p.score if p.score is not None else "n/a"}
               for p in trend],
        skips=[{"due": _t(s.due), "reason": s.reason, "count": s.count} for s in skips])
