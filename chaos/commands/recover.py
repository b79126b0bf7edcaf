"""``aftershock recover``: remove faults whose run is no longer alive (or a given run's, or all).

Works from the state store's write-ahead records alone (no experiment file needed): host proxy
faults through the proxy's admin endpoint, kernel rules by their ``aftershock:<run>:<fault>``
comment (also ones the store does not know, found by scanning iptables), Kubernetes objects by
our labels.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from chaos.clients.registry import is_alive
from chaos.clients.state import StateStore
from chaos.commands.options import state_dir_option
from chaos.errors import ChaosError


def _selected(store: StateStore, owner_id: str, run_id: str | None, all_runs: bool) -> bool:
    """Whether ``recover`` handles what run ``owner_id`` left: that run (``--run``), every run
    (``--all``), or by default runs that are no longer alive. Liveness is the owner's: a run that
    holds its host-wide lock (:mod:`chaos.clients.registry`) is alive whatever state dir it uses."""
    if run_id is not None:
        return owner_id == run_id
    if all_runs:
        return True
    if is_alive(owner_id):
        return False
    owner = store.run(owner_id)
    return owner is None or not owner.alive


async def _recover(state_dir: str | None, run_id: str | None, all_runs: bool, dry_run: bool) -> int:
    from chaos.targets.host import remove_realisation

    store = StateStore(Path(state_dir) if state_dir else None)
    failures = 0
    found = 0
    rows = store.faults(run_id=None, live_only=True)
    for row in rows:
        if not _selected(store, row.run_id, run_id, all_runs):
            continue
        found += 1
        what = f"{row.run_id}/{row.fault} ({row.fault_type}, {row.realisation.get('kind')})"
        if dry_run:
            click.echo(f"would remove {what}: {row.realisation.get('description', '')}")
            continue
        try:
            if row.realisation.get("kind") == "kubernetes":
                from chaos.targets.kubernetes import remove_kube_realisation

                detail = await remove_kube_realisation(row.realisation)
            else:
                detail = await remove_realisation(row.realisation, store.dir)
        except ChaosError as exc:
            failures += 1
            click.echo(f"✗ {what}: {exc}", err=True)
            continue
        store.update_fault(row.run_id, row.fault, "removed")
        click.echo(f"✓ {what}: {detail}")
    found += await _orphan_rules(store, run_id, all_runs, dry_run)
    undone, undo_failures = await _undo_mitigations(store, run_id, all_runs, dry_run)
    found += undone
    failures += undo_failures
    if found == 0:
        click.echo("nothing to recover: no live fault of a dead run")
    return 3 if failures else 0


async def _undo_mitigations(store: StateStore, run_id: str | None, all_runs: bool,
                            dry_run: bool) -> tuple[int, int]:
    """Revert degrades and backend weights that dead runs left in place (their undo plans)."""
    import os

    from chaos.targets.undo import UNDO_PLAN, execute

    count = failures = 0
    for run in store.runs(limit=10_000):
        if not _selected(store, run.id, run_id, all_runs):
            continue
        plans = [a for a in store.actions(run.id) if a["decision_id"] == UNDO_PLAN and a["state"] == "pending"]
        if not plans:
            continue
        left = []
        for item in plans[0]["detail"].get("items", []):
            count += 1
            what = f"{run.id}: {item.get('kind')} {item.get('service') or item.get('decision_id') or ''}".rstrip()
            if dry_run:
                click.echo(f"would revert {what}")
                continue
            try:
                detail = await execute(item, os.environ)
            except ChaosError as exc:
                failures += 1
                left.append(item)
                click.echo(f"✗ {what}: {exc}", err=True)
                continue
            click.echo(f"✓ {what}: {detail}")
        if not dry_run:
            store.record_action(run.id, UNDO_PLAN, UNDO_PLAN, {"items": left}, "pending" if left else "done")
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
@click.option("--run", "run_id", default=None, help="Only this run's faults (even if it looks alive).")
@click.option("--all", "all_runs", is_flag=True, help="Every live fault, including those of live runs.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@state_dir_option
def recover(run_id: str | None, all_runs: bool, dry_run: bool, state_dir: str | None) -> None:
    """Remove faults left behind by runs that are no longer alive."""
    sys.exit(asyncio.run(_recover(state_dir, run_id, all_runs, dry_run)))
