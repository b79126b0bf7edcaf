"""``aftershock recover``: remove faults whose run is no longer alive (or a given run's, or all).

Works from the state store's write-ahead records alone (no experiment file needed), through the
same recovery function the driver runs before each run (:func:`chaos.targets.recovery.recover_faults`):
host proxy faults through the proxy's admin endpoint, kernel rules by their
``aftershock:<run>:<fault>`` comment (also ones the store does not know, found by scanning
iptables), Kubernetes objects by our labels; then the undo plans of dead runs' mitigations.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from chaos.clients.registry import checked_run_dir
from chaos.clients.state import FaultRow, StateStore
from chaos.commands.completion import run_ids
from chaos.commands.options import state_dir_option
from chaos.errors import ChaosError
from chaos.targets.recovery import dead_runs, recover_faults


def _selected(store: StateStore, owner_id: str, run_id: str | None, all_runs: bool) -> bool:
    """Whether ``recover`` handles what run ``owner_id`` left: that run (``--run``), every run
    (``--all``), or by default runs that are no longer alive (unknown runs count as dead)."""
    if run_id is not None:
        return owner_id == run_id
    if all_runs:
        return True
    return dead_runs(store)(owner_id)


def _what(row: FaultRow) -> str:
    return f"{row.run_id}/{row.fault} ({row.fault_type}, {row.kind})"


def _echo_result(row: FaultRow, detail: str, ok: bool) -> None:
    if ok:
        click.echo(f"✓ {_what(row)}: {detail}")
    else:
        click.echo(f"✗ {_what(row)}: {detail}", err=True)


async def run_recover(state_dir: str | None, run_id: str | None, all_runs: bool, dry_run: bool,
                   allowed_hosts: Sequence[str] = ()) -> int:
    import os

    from chaos.clients.record_trust import ALLOWED_HOSTS

    checked_run_dir()  # a registry someone else could write is refused before anything is done
    store = StateStore(Path(state_dir) if state_dir else None)
    environ = dict(os.environ)
    if allowed_hosts:  # where the records' credentials may go, said by the user, not by a record
        environ[ALLOWED_HOSTS] = ",".join([*filter(None, [environ.get(ALLOWED_HOSTS)]), *allowed_hosts])
    result = await recover_faults(store, select=lambda owner: _selected(store, owner, run_id, all_runs),
                                  dry_run=dry_run, on_result=_echo_result, environ=environ)
    if dry_run:
        for row in result.found:
            click.echo(f"would remove {_what(row)}: {row.realisation.get('description', '')}")
    for bad in result.damaged:
        click.echo(f"✗ {bad.describe()}", err=True)
    failures = len(result.failed) + len(result.damaged)
    found = len(result.found) + len(result.damaged)
    found += await _orphan_rules(store, run_id, all_runs, dry_run)
    if not dry_run and os.geteuid() == 0:  # a capability probe's namespace left by a killed run
        from chaos.clients.host.netns import sweep_dead

        for name in await asyncio.to_thread(sweep_dead):
            click.echo(f"✓ network namespace {name} of a dead process removed")
    undone, undo_failures = await _undo_mitigations(store, run_id, all_runs, dry_run, environ)
    found += undone
    failures += undo_failures
    if found == 0:
        click.echo("nothing to recover: no live fault of a dead run")
    return 3 if failures else 0


async def _undo_mitigations(store: StateStore, run_id: str | None, all_runs: bool,
                            dry_run: bool, environ: Mapping[str, str]) -> tuple[int, int]:
    """Revert degrades and backend weights that dead runs left in place (their undo plans), and any
    item whose deadline passed whoever's it is. A damaged item is reported and kept; the others of
    its plan are still undone."""
    import time

    from chaos.targets.undo import describe, execute, expired, undo_from_record

    count = failures = 0
    for bad in store.damaged_undo_plans():
        if _selected(store, bad.run_id, run_id, all_runs):
            count += 1
            failures += 1
            click.echo(f"✗ {bad.describe()}", err=True)
    for plan in store.undo_plans():
        selected = _selected(store, plan.run_id, run_id, all_runs)
        left = []
        for record in plan.items:
            try:
                item = undo_from_record(record)
                due = selected or expired(record, time.time())
            except ChaosError as exc:
                if selected:
                    count += 1
                    failures += 1
                    click.echo(f"✗ {plan.run_id}: {exc}; skipped — revert it by hand", err=True)
                left.append(record)
                continue
            if not due:
                left.append(record)
                continue
            count += 1
            what = f"{plan.run_id}: {describe(item)}"
            if dry_run:
                click.echo(f"would revert {what}")
                continue
            try:
                detail = await execute(item, environ, plan.run_id, state_dir=store.dir)
            except ChaosError as exc:
                failures += 1
                left.append(record)
                click.echo(f"✗ {what}: {exc}", err=True)
                continue
            click.echo(f"✓ {what}: {detail}")
        if not dry_run and len(left) != len(plan.items):
            store.record_undo(plan.run_id, left)
            if not left:  # the plan is done: its deadline watchdog has nothing left to do
                from chaos.targets.undo_watchdog import disarm_run

                disarm_run(store.dir, plan.run_id)
    return count, failures


async def _orphan_rules(store: StateStore, run_id: str | None, all_runs: bool, dry_run: bool) -> int:
    """iptables rules of ours on this host whose run is dead or unknown (e.g. the store was wiped)."""
    import shutil

    from chaos.clients.host.iptables import IptablesFaults

    if shutil.which("iptables") is None:
        return 0
    ipt = IptablesFaults(store.dir / "watchdogs")
    try:
        rules = await asyncio.to_thread(ipt.list_rules)
    except ChaosError:
        return 0
    count = 0
    for rule in rules:
        if not _selected(store, rule.run_id, run_id, all_runs):
            continue
        count += 1
        if dry_run:
            click.echo(f"would remove iptables rule {rule.comment}")
            continue
        await asyncio.to_thread(ipt.remove, rule)
        click.echo(f"✓ iptables rule {rule.comment} removed")
    return count


@click.command("recover")
@click.option("--run", "run_id", default=None, shell_complete=run_ids,
              help="Only this run's faults (even if it looks alive).")
@click.option("--all", "all_runs", is_flag=True, help="Every live fault, including those of live runs.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--allow-credentials-to", "allowed_hosts", multiple=True, metavar="HOST",
              help="A host (or host:port) the records' credentials may be sent to (an HTTP degrade's revert, "
                   "a silence's Alertmanager), besides the configured URLs and your own listeners on this host.")
@state_dir_option
def recover(run_id: str | None, all_runs: bool, dry_run: bool, allowed_hosts: tuple[str, ...],
            state_dir: str | None) -> None:
    """Remove faults left behind by runs that are no longer alive."""
    sys.exit(asyncio.run(run_recover(state_dir, run_id, all_runs, dry_run, allowed_hosts)))
