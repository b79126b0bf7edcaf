"""``aftershock runs`` / ``show RUN`` / ``report RUN``: the run history in the state dir."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from chaos.clients.state import StateStore
from chaos.commands.completion import run_ids
from chaos.commands.options import format_option, out_option, state_dir_option
from chaos.errors import StateError


def _store(state_dir: str | None) -> StateStore:
    return StateStore(Path(state_dir) if state_dir else None)


def _journal(state_dir: str | None, run_id: str) -> dict[str, Any]:
    store = _store(state_dir)
    row = store.run(run_id)
    if row is None:
        raise StateError(f"no run {run_id!r} in {store.dir} (see `aftershock runs`)")
    if row.ended is None and not store.journal_path(row.id).exists():
        state = "is still running" if row.alive else "died before it finished (killed?)"
        raise StateError(f"run {row.id} has no journal yet: it {state}; `aftershock show {row.id}` lists its "
                         "faults" + ("" if row.alive else ", `aftershock recover` removes what it left"))
    return store.read_journal(row.id)


def _unfinished(state_dir: str | None, run_id: str) -> dict[str, Any] | None:
    """What the store knows of a run without a journal (running, or died), else None."""
    store = _store(state_dir)
    row = store.run(run_id)
    if row is None or row.ended is not None or store.journal_path(row.id).exists():
        return None
    return {"run_id": row.id, "experiment": row.experiment, "source": row.source, "target": row.target,
            "started": row.started, "state": "running" if row.alive else "died", "pid": row.pid,
            "faults": [{"fault": f.fault, "type": f.fault_type, "state": f.state,
                        "description": f.realisation.get("description", ""), "deadline": f.deadline}
                       for f in store.faults(row.id)],
            "actions": [{"decision_id": a.decision_id, "action": a.action, "detail": a.detail, "state": a.state,
                         "at": a.at} for a in store.actions(row.id)]}


@click.command("runs")
@click.option("--limit", default=20, show_default=True)
@format_option("text: a table; json: one object per run.")
@state_dir_option
def runs(limit: int, output: str, state_dir: str | None) -> None:
    """List past runs: id, experiment, verdict, start, duration."""
    rows = _store(state_dir).runs(limit)
    if output == "json":
        click.echo(json.dumps([{"id": r.id, "experiment": r.experiment, "verdict": r.verdict, "started": r.started,
                                "ended": r.ended, "alive": r.alive} for r in rows], indent=2))
        return
    if not rows:
        click.echo("no runs yet")
        return
    click.echo(f"{'RUN':10} {'EXPERIMENT':28} {'VERDICT':9} {'STARTED':20} DURATION")
    for r in rows:
        verdict = r.verdict or ("running" if r.alive else "died")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
        died = r.ended is None and not r.alive  # when it died is unknown
        duration = "—" if died else f"{(r.ended or time.time()) - r.started:.1f}s"
        click.echo(f"{r.id:10} {r.experiment[:28]:28} {verdict:9} {started:20} {duration}")


@click.command("show")
@click.argument("run_id", shell_complete=run_ids)
@format_option("text: summary and timeline in words; json: the whole journal (machine form).")
@state_dir_option
def show(run_id: str, output: str, state_dir: str | None) -> None:
    """Summary, timeline and decisions of one run."""
    unfinished = _unfinished(state_dir, run_id)
    if unfinished is not None:
        if output == "json":
            click.echo(json.dumps(unfinished, indent=2, default=str))
            return
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unfinished["started"]))
        click.echo(f"run {unfinished['run_id']}: {unfinished['experiment']} — {unfinished['state']} "
                   f"(started {started}, pid {unfinished['pid']}; no journal)")
        for f in unfinished["faults"]:
            click.echo(f"  fault {f['fault']} ({f['type']}): {f['state']} — {f['description']}")
        for a in unfinished["actions"]:
            click.echo(f"  action {a['decision_id']} ({a['action']}): {a['state']}")
        if unfinished["state"] == "died" and any(f["state"] != "removed" for f in unfinished["faults"]):
            click.echo("faults of this run may still be live: `aftershock recover` removes them")
        return
    journal = _journal(state_dir, run_id)
    if output == "json":
        click.echo(json.dumps(journal, indent=2, default=str))
        return
    for line in show_lines(journal):
        click.echo(line)


def show_lines(journal: dict[str, Any], width: int = 100) -> list[str]:
    """``aftershock show`` in text: summary, timings, then the timeline as sentences."""
    import textwrap

    from chaos.engine.wording import seconds, timing_label
    from chaos.timeline import entries

    ours = journal.get("aftershock", {})
    lines = [f"run {ours.get('run_id')}: {ours.get('experiment')} — {ours.get('verdict')}"]
    if ours.get("reason"):
        lines.append(f"  {ours['reason']}")
    lines.append(f"  {journal.get('start')} → {journal.get('end')} ({seconds(float(journal.get('duration') or 0))}), "
                 f"target {ours.get('target')}, from {ours.get('source')}")
    timings = ours.get("timings") or {}
    if timings:
        lines.append("timings: " + " · ".join(f"{timing_label(k)} {seconds(float(v))}" for k, v in timings.items()))
    lines.append("timeline:")
    for entry in entries(journal):
        head = f"  {entry.offset:+7.1f} s  {entry.title}"
        lines.append(head)
        if entry.detail:
            lines.extend(textwrap.wrap(entry.detail, width=width, initial_indent=" " * 14,
                                       subsequent_indent=" " * 14, break_on_hyphens=False))
    for kept in ours.get("kept", []):
        lines.append(f"KEPT (not reverted): {kept}")
    return lines


@click.command("report")
@click.argument("run_id", shell_complete=run_ids)
@out_option("HTML file to write (default: reports/RUN.html in the state dir).")
@state_dir_option
def report(run_id: str, out: str | None, state_dir: str | None) -> None:
    """Write a self-contained HTML report of one run (a plot per SLO)."""
    from chaos.report import report_path, write_report

    journal = _journal(state_dir, run_id)
    target = Path(out) if out else report_path(_store(state_dir).dir,
                                               str(journal.get("aftershock", {}).get("run_id", run_id)))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    click.echo(str(write_report(journal, target)))
