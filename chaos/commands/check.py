"""``aftershock check FILE...``: do the experiments' steady-state SLOs hold right now (or over a window)?

Callers: the ``aftershock`` group (``chaos.cli`` loads :data:`check` lazily) and CI jobs
(``docs/ci.md``). Nothing is injected: each experiment's ``steadyState`` SLOs are judged by a
:class:`~chaos.slo.monitoring.Monitor` built from its ``spec.monitor`` (``--prometheus`` overrides
the URL), at one instant or, with ``--window 10m``, over a range query whose step is the monitor
interval (``for``/``consecutive`` apply as they would live).

Exit codes: 0 every SLO holds; 1 any SLO is breached **or has no data** (an empty/NaN result or a
query Prometheus refused is not proof of health); 2 invalid input (each
:meth:`~chaos.errors.Problem.render` on stderr, nothing queried); 3 Prometheus could not be queried
(connection, HTTP error, timeout, missing credentials) — 3 wins over 1 because the answer is
unknown. Output: text (one ✓/✗ line per SLO), ``--output json`` (a list of objects), and
``--junit PATH`` (one testcase per SLO, classname = experiment name).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from chaos.commands.options import format_option
from chaos.errors import ChaosError, InvalidExperiment, MonitorUnavailable, Problem
from chaos.loading import Loaded, load_file
from chaos.model.durations import parse_window
from chaos.model.slos import Slo
from chaos.slo.evaluation import WindowResult
from chaos.slo.monitoring import Monitor
from chaos.slo.verdicts import Verdict

EXIT_OK, EXIT_BREACHED, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2, 3


@dataclass
class Row:
    """One SLO of one experiment, judged."""

    experiment: str
    file: str
    slo: str
    status: str
    value: float | None
    objective: str
    query: str
    error: str = ""
    failure: str = ""
    eval_time: float | None = None
    query_seconds: float = 0.0
    breaching_series: list[dict[str, Any]] = field(default_factory=list)
    window: dict[str, Any] | None = None

    @property
    def holds(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "file": self.file, "slo": self.slo, "status": self.status,
                "holds": self.holds, "value": _json_number(self.value), "objective": self.objective,
                "query": self.query, "error": self.error, "failure": self.failure,
                "eval_time": self.eval_time, "query_seconds": round(self.query_seconds, 6),
                "breaching_series": self.breaching_series, "window": self.window}


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _fmt(value: float | None) -> str:
    if value is None:
        return "no data"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.6g}"


def _labels(labels: Any) -> str:
    items = {k: v for k, v in dict(labels).items() if k != "__name__"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(items.items())) + "}"


def _row_from_verdict(loaded: Loaded, v: Verdict) -> Row:
    return Row(experiment=loaded.experiment.name, file=loaded.source, slo=v.slo, status=v.status, value=v.value,
               objective=v.objective, query=v.query, error=v.error, failure=v.failure, eval_time=v.eval_time,
               query_seconds=v.query_seconds,
               breaching_series=[{"labels": dict(s.labels), "value": _json_number(s.value)}
                                 for s in v.breaching_series])


def _row_from_window(loaded: Loaded, w: WindowResult) -> Row:
    return Row(experiment=loaded.experiment.name, file=loaded.source, slo=w.slo, status=w.status,
               value=w.worst_value, objective=w.objective, query=w.query, error=w.error, failure=w.failure,
               eval_time=w.end, query_seconds=w.query_seconds,
               breaching_series=[{"labels": dict(w.worst_labels), "value": _json_number(w.worst_value)}]
               if w.status == "breached" else [],
               window={"start": w.start, "end": w.end, "step_s": w.step_s, "steps": w.steps,
                       "breaching_steps": w.breaching_steps, "missing_steps": w.missing_steps,
                       "worst_time": w.worst_time, "first_breach": w.first_breach})


async def _check_one(loaded: Loaded, prometheus: str | None, window_s: float | None) -> list[Row]:
    exp = loaded.experiment
    slos: list[Slo] = [exp.spec.slo(name) for name in exp.spec.steady_state]
    if not slos:
        return []
    settings = exp.spec.monitor
    if prometheus:
        settings = settings.model_copy(update={"prometheus": prometheus})
    try:
        monitor = Monitor(settings)
    except MonitorUnavailable as exc:
        return [Row(exp.name, loaded.source, s.name, "unavailable", None, str(s.objective), s.query,
                    error=str(exc), failure="unreachable") for s in slos]
    async with monitor:
        if window_s is None:
            tick = await monitor.evaluate_now(slos)
            return [_row_from_verdict(loaded, v) for v in tick.verdicts]
        results = await monitor.evaluate_window(slos, window_s)
        return [_row_from_window(loaded, w) for w in results]


async def _check_all(experiments: list[Loaded], prometheus: str | None, window_s: float | None) -> list[Row]:
    batches = await asyncio.gather(*(_check_one(x, prometheus, window_s) for x in experiments))
    return [row for batch in batches for row in batch]


def _describe(row: Row) -> str:
    mark = "✓" if row.holds else "✗"
    line = f"{mark} {row.experiment}/{row.slo}: {_fmt(row.value)} (objective {row.objective})"
    if row.window is not None and row.window.get("worst_time") is not None and row.value is not None:
        line += f" worst at {row.window['worst_time']:.0f}"
    if not row.holds:
        line += f" — {row.status}"
        if row.breaching_series and any(s["labels"] for s in row.breaching_series):
            shown = ", ".join(_labels(s["labels"]) for s in row.breaching_series[:5])
            more = len(row.breaching_series) - 5
            line += f" at {shown}" + (f" and {more} more" if more > 0 else "")
        if row.error:
            line += f": {row.error}"
    return line


def _junit(rows: list[Row], window: str | None) -> str:
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    cases: list[Any] = []
    for row in rows:
        case = TestCase(name=row.slo, classname=row.experiment, elapsed_sec=row.query_seconds,
                        file=row.file, stdout=_describe(row))
        summary = (f"{row.slo}: value {_fmt(row.value)}, objective {row.objective}, status {row.status}"
                   + (f" over {window}" if window else "") + f"; query: {row.query}")
        if row.error:
            summary += f"; {row.error}"
        if row.failure == "unreachable":
            case.add_error_info(message=summary, error_type="unavailable")
        elif not row.holds:
            case.add_failure_info(message=summary, failure_type=row.status)
        cases.append(case)
    return str(to_xml_report_string([TestSuite("aftershock check", cases)]))


def _parse_sets(values: tuple[str, ...]) -> tuple[dict[str, str], list[Problem]]:
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(Problem(f"--set {item!r}: expected key=value", hint="e.g. --set latency=800ms"))
        else:
            out[key.strip()] = value
    return out, problems


def _exit_code(rows: list[Row]) -> int:
    if any(r.failure == "unreachable" for r in rows):
        return EXIT_UNAVAILABLE
    if any(not r.holds for r in rows):
        return EXIT_BREACHED
    return EXIT_OK


@click.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--window", default=None, metavar="DURATION",
              help="Judge the SLOs over the last DURATION (e.g. 10m) instead of now.")
@click.option("--junit", "junit_path", default=None, metavar="PATH", help="Write a JUnit XML report to PATH.")
@format_option("text: one line per SLO; json: the verdicts; yaml: the same as YAML.")
@click.option("--prometheus", default=None, metavar="URL", envvar="AFTERSHOCK_PROMETHEUS_URL",
              help="Prometheus URL (overrides spec.monitor.prometheus; env AFTERSHOCK_PROMETHEUS_URL).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override an experiment parameter.")
@click.pass_context
def check(ctx: click.Context, files: tuple[str, ...], window: str | None, junit_path: str | None, output: str,
          prometheus: str | None, sets: tuple[str, ...]) -> None:
    """Check the steady-state SLOs of experiment FILEs against Prometheus, injecting nothing.

    Exit 0 when all hold, 1 when any is breached or has no data, 2 for invalid input,
    3 when Prometheus cannot be queried.
    """
    overrides, problems = _parse_sets(sets)
    window_s: float | None = None
    if window is not None:
        try:
            window_s = parse_window(window)
            if window_s <= 0:
                raise ValueError("the window must be longer than 0s")
        except ValueError as exc:
            problems.append(Problem(f"--window: {exc}", hint="e.g. --window 10m"))
    if prometheus is not None and not prometheus.startswith(("http://", "https://")):
        problems.append(Problem(f"--prometheus {prometheus!r}: expected an http:// or https:// URL"))
    experiments: list[Loaded] = []
    for path in files:
        try:
            experiments.append(load_file(path, overrides))
        except InvalidExperiment as exc:
            problems.extend(exc.problems)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem.render()}", err=True)
        ctx.exit(EXIT_INVALID)
    try:
        rows = asyncio.run(_check_all(experiments, prometheus, window_s))
    except ChaosError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    for loaded in experiments:
        if not loaded.experiment.spec.steady_state:
            click.echo(f"note: {loaded.experiment.name} ({loaded.source}) has no steadyState SLOs; "
                       "nothing to check", err=True)
    if junit_path:
        try:
            with open(junit_path, "w", encoding="utf-8") as handle:
                handle.write(_junit(rows, window))
        except OSError as exc:
            click.echo(f"error: cannot write {junit_path}: {exc.strerror}", err=True)
            ctx.exit(EXIT_INVALID)
    if output == "json":
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        for row in rows:
            click.echo(_describe(row))
    code = _exit_code(rows)
    if code == EXIT_UNAVAILABLE and output == "text":
        click.echo("error: Prometheus could not be queried; the steady state is unknown", err=True)
    sys.stdout.flush()
    ctx.exit(code)
