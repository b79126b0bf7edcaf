"""``aftershock status``: the faults that are live right now, across targets and state dirs.

Joins what the state stores recorded (this state dir plus the state dir of every run alive on this
host, from :mod:`chaos.clients.registry`) with what each injector reports: the fault proxy's admin
endpoint (faults by id), the kernel (iptables rules with our ``aftershock:<run>:<fault>`` comment
and ``tc`` root qdiscs with our handle ``a5c0:``, including those no store knows: in the host's
network namespace and, as root, in every named one) and the Kubernetes API server (Chaos Mesh
objects with our labels). Each fault is ``live`` (the injector has it), ``gone`` (recorded live,
the injector no longer has it), or ``unknown`` (the injector could not be asked, with why).
Read-only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, assert_never

import click

from chaos.clients.registry import is_alive, live_runs
from chaos.clients.state import FaultRow, StateStore
from chaos.commands.options import output_option, state_dir_option
from chaos.errors import ChaosError
from chaos.targets.realisations import (
    CustomRealisation,
    KernelRealisation,
    KubeRealisation,
    ProxyRealisation,
    realisation_from_record,
)


async def _proxy_state(row: FaultRow, typed: ProxyRealisation, state_dir: Path) -> tuple[str, str]:
    """Whether the proxy still has the fault: the fault lifecycle's ``present`` (the record's admin
    endpoint is checked before any token goes to it)."""
    from chaos.targets.lifecycle import present_recorded

    proxy = typed.proxy
    try:
        present = await present_recorded(row.realisation, state_dir, os.environ)
    except ChaosError as exc:
        return "unknown", f"proxy at {proxy.get('admin')}: {exc}"
    return ("live", f"in the proxy at {proxy.get('admin')}") if present else \
        ("gone", f"the proxy at {proxy.get('admin')} no longer has it")


def _kernel_rules(netns: str | None) -> tuple[set[str], str]:
    from chaos.clients.host.commands import Runner
    from chaos.clients.host.iptables import IptablesFaults

    if shutil.which("iptables") is None:
        return set(), "iptables is not installed"
    try:
        rules = IptablesFaults(Path("/nonexistent"), Runner(netns=netns)).list_rules()
    except ChaosError as exc:
        return set(), str(exc)
    return {r.comment for r in rules}, ""


def _qdiscs(netns: str | None, pid_dir: Path) -> tuple[list[Any], str]:
    """Our root qdiscs in ``netns`` (owners from the markers in ``pid_dir``), or why they could not be listed."""
    from chaos.clients.host.commands import Runner
    from chaos.clients.host.tc import TcFaults

    if shutil.which("tc") is None:
        return [], "tc is not installed"
    try:
        return TcFaults(pid_dir, Runner(netns=netns)).list_qdiscs(), ""
    except ChaosError as exc:
        return [], str(exc)


def _named_netns() -> list[str]:
    """Named network namespaces (``ip netns list``): looked into as root only (``ip netns exec``)."""
    from chaos.clients.host.commands import Runner

    if os.geteuid() != 0 or shutil.which("ip") is None:
        return []
    try:
        listed = Runner().run(["ip", "netns", "list"]).stdout
    except ChaosError:
        return []
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def _where(interface: str, netns: str | None) -> str:
    return f"{interface} in netns {netns}" if netns else interface


def _tc_state(row: FaultRow, kernel: Mapping[str, Any], qdiscs: list[Any], problem: str) -> tuple[str, str]:
    from chaos.clients.host.tc import HANDLE

    where = _where(str(kernel.get("interface", "")), kernel.get("netns"))
    if problem:
        return "unknown", problem
    found = next((q for q in qdiscs if q.interface == kernel.get("interface")), None)
    if found is None:
        return "gone", f"no tc qdisc with handle {HANDLE} on {where}"
    if found.run_id not in ("", row.run_id):
        return "gone", f"the tc qdisc on {where} belongs to run {found.run_id}"
    return "live", f"tc {found.kind} (handle {HANDLE}) on {where}"


async def _kube_state(row: FaultRow, typed: KubeRealisation) -> tuple[str, str]:
    from chaos.clients.kube.client import KubeClient
    from chaos.clients.record_trust import check_kubeconfig
    from chaos.targets.kubernetes import kube_settings

    kube, obj = typed.kube, typed.object
    meta = obj.get("metadata") or {}
    try:
        check_kubeconfig(kube.get("kubeconfig"))  # a record never chooses which exec plugin runs
        target = KubeClient.from_settings(kube_settings(kube.get("kubeconfig"), kube.get("context"),
                                                              kube.get("namespace")))
        try:
            found = await target.list_ours(row.run_id, [meta.get("namespace") or "default"])
        finally:
            await target.close()
    except ChaosError as exc:
        return "unknown", f"cluster: {exc}"
    names = {(o.get("metadata") or {}).get("name") for o in found}
    return ("live", f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}") if meta.get("name") in names \
        else ("gone", f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')} no longer exists")


async def _cluster_objects(kubeconfig: str | None, context: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every Chaos Mesh object with our labels, cluster-wide (or why it could not be listed)."""
    from chaos.clients.kube.client import KubeClient
    from chaos.targets.kubernetes import kube_settings

    try:
        target = KubeClient.from_settings(kube_settings(kubeconfig, context, None))
        try:
            return await target.list_ours(), ""
        finally:
            await target.close()
    except ChaosError as exc:
        return [], str(exc)


async def _status(state_dir: str | None, kube: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
    own = StateStore(Path(state_dir) if state_dir else None)
    runs = live_runs()
    dirs = [own.dir] + [Path(r.state_dir) for r in runs if r.state_dir]
    seen: set[Path] = set()
    faults: list[dict[str, Any]] = []
    undo: list[dict[str, Any]] = []
    kernel_cache: dict[str | None, tuple[set[str], str]] = {}
    tc_cache: dict[tuple[str | None, Path], tuple[list[Any], str]] = {}
    recorded_comments: set[str] = set()
    recorded_qdiscs: set[tuple[str | None, str]] = set()
    for directory in dirs:
        directory = directory.resolve()
        if directory in seen or (not (directory / "state.db").exists() and directory != own.dir.resolve()):
            continue
        seen.add(directory)
        try:
            store = own if directory == own.dir.resolve() else StateStore(directory)
        except ChaosError as exc:  # a run's state dir we may not trust (or read): said, the others still listed
            faults.append({"run": "", "fault": "", "type": "state dir", "target": "", "state": "unknown",
                           "detail": str(exc), "run_alive": False, "deadline_in_s": None,
                           "state_dir": str(directory)})
            continue
        undo += _undo_plans(store, directory)
        for bad in store.damaged_faults():
            faults.append({"run": bad.run_id, "fault": bad.name, "type": "?", "target": "", "state": "unknown",
                           "detail": bad.describe(), "run_alive": is_alive(bad.run_id), "deadline_in_s": None,
                           "state_dir": str(directory)})
        for row in store.faults(live_only=True):
            kind = row.kind
            try:  # a record is data: validated (netns, interface, proxy fields) before anything uses it
                typed = realisation_from_record(row.realisation)
            except ChaosError as exc:
                faults.append({"run": row.run_id, "fault": row.fault, "type": row.fault_type, "target": kind,
                               "state": "unknown", "detail": str(exc), "run_alive": is_alive(row.run_id),
                               "deadline_in_s": round(row.deadline - time.time(), 1), "state_dir": str(directory)})
                continue
            match typed:
                case ProxyRealisation():
                    state, detail = await _proxy_state(row, typed, directory)
                case KernelRealisation(kind="tc", kernel=kernel):
                    key = (kernel.get("netns"), directory / "watchdogs")
                    if key not in tc_cache:
                        tc_cache[key] = await asyncio.to_thread(_qdiscs, *key)
                    recorded_qdiscs.add((kernel.get("netns"), str(kernel.get("interface", ""))))
                    state, detail = _tc_state(row, kernel, *tc_cache[key])
                case KernelRealisation(comment=comment, kernel=kernel):  # iptables
                    netns = kernel.get("netns")
                    if netns not in kernel_cache:
                        kernel_cache[netns] = await asyncio.to_thread(_kernel_rules, netns)
                    comments, problem = kernel_cache[netns]
                    recorded_comments.add(comment)
                    if problem:
                        state, detail = "unknown", problem
                    else:
                        state, detail = ("live", f"iptables rule {comment}") if comment in comments else \
                            ("gone", f"iptables rule {comment} is not in the kernel")
                case KubeRealisation():
                    state, detail = await _kube_state(row, typed)
                case CustomRealisation(fault_type=fault_type):
                    state, detail = await _custom_state(row, directory, fault_type)
                case other:
                    assert_never(other)
            faults.append({"run": row.run_id, "fault": row.fault, "type": row.fault_type, "target": kind,
                           "state": state, "detail": detail, "run_alive": is_alive(row.run_id),
                           "deadline_in_s": round(row.deadline - time.time(), 1), "state_dir": str(directory)})
    faults += await _unrecorded_kernel_faults(own.dir / "watchdogs", kernel_cache, recorded_comments,
                                              recorded_qdiscs)
    if kube is not None:
        from chaos.clients.kube.context import RUN_LABEL

        objects, problem = await _cluster_objects(*kube)
        if problem:
            faults.append({"run": "", "fault": "", "type": "chaos objects", "target": "kubernetes", "state": "unknown",
                           "detail": f"cannot list the cluster: {problem}", "run_alive": False,
                           "deadline_in_s": None, "state_dir": ""})
        known = {(f["run"], f["detail"]) for f in faults if f["target"] == "kubernetes"}
        for obj in objects:
            meta = obj.get("metadata") or {}
            run_id = str((meta.get("labels") or {}).get(RUN_LABEL, ""))
            what = f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
            if (run_id, what) in known:
                continue
            faults.append({"run": run_id, "fault": str(meta.get("name")), "type": str(obj.get("kind")),
                           "target": "kubernetes", "state": "live",
                           "detail": f"{what} (in no state store known here)", "run_alive": is_alive(run_id),
                           "deadline_in_s": None, "state_dir": ""})
    return {"live_runs": [{"run": r.run_id, "pid": r.pid, "state_dir": r.state_dir, "started": r.started}
                          for r in runs], "faults": faults, "undo": undo}


def _undo_plans(store: StateStore, directory: Path) -> list[dict[str, Any]]:
    """Each pending undo item (degrade, weight) with its deadline; damaged ones said as such."""
    from chaos.targets.undo import describe, record_deadline, undo_from_record

    out: list[dict[str, Any]] = []
    for bad in store.damaged_undo_plans():
        out.append({"run": bad.run_id, "undo": "?", "state": "damaged", "detail": bad.describe(),
                    "run_alive": is_alive(bad.run_id), "deadline_in_s": None, "state_dir": str(directory)})
    for plan in store.undo_plans():
        for record in plan.items:
            try:
                item = undo_from_record(record)
                deadline = record_deadline(record)
            except ChaosError as exc:
                out.append({"run": plan.run_id, "undo": "?", "state": "damaged", "detail": f"{exc}; skipped",
                            "run_alive": is_alive(plan.run_id), "deadline_in_s": None, "state_dir": str(directory)})
                continue
            out.append({"run": plan.run_id, "undo": describe(item), "state": "pending", "detail": "",
                        "run_alive": is_alive(plan.run_id),
                        "deadline_in_s": None if deadline is None else round(deadline - time.time(), 1),
                        "state_dir": str(directory)})
    return out


async def _unrecorded_kernel_faults(pid_dir: Path, kernel_cache: dict[str | None, tuple[set[str], str]],
                                    recorded_comments: set[str], recorded_qdiscs: set[tuple[str | None, str]]
                                    ) -> list[dict[str, Any]]:
    """Our iptables rules and tc qdiscs that no state store known here recorded: in the host's
    namespace and every named one (as root)."""
    from chaos.clients.host.tc import HANDLE

    out: list[dict[str, Any]] = []
    for netns in [None, *await asyncio.to_thread(_named_netns)]:
        if netns not in kernel_cache:
            kernel_cache[netns] = await asyncio.to_thread(_kernel_rules, netns)
        for comment in sorted(kernel_cache[netns][0] - recorded_comments):
            parts = comment.split(":")
            in_ns = f" in netns {netns}" if netns else ""
            out.append({"run": parts[1], "fault": ":".join(parts[2:]), "type": "kernel rule", "target": "iptables",
                        "state": "live", "detail": f"iptables rule {comment}{in_ns} (in no state store known here)",
                        "run_alive": is_alive(parts[1]), "deadline_in_s": None, "state_dir": ""})
        qdiscs, _ = await asyncio.to_thread(_qdiscs, netns, pid_dir)
        for q in qdiscs:
            if (netns, q.interface) in recorded_qdiscs:
                continue
            owner = f"run {q.run_id}" if q.run_id else "a run no marker here names"
            out.append({"run": q.run_id, "fault": q.fault, "type": "tc qdisc", "target": "tc", "state": "live",
                        "detail": f"tc {q.kind} (handle {HANDLE}) on {_where(q.interface, netns)}, of {owner} "
                                  "(in no state store known here)",
                        "run_alive": bool(q.run_id) and is_alive(q.run_id), "deadline_in_s": None,
                        "state_dir": ""})
    return out


@click.command("status")
@output_option
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Also list every Chaos Mesh object with our labels in this cluster.")
@click.option("--context", default=None, help="kubeconfig context (with --kubeconfig, or the default kubeconfig).")
@state_dir_option
def status(output: str, kubeconfig: str | None, context: str | None, state_dir: str | None) -> None:
    """Faults live right now: store records joined with the proxy, the kernel and the cluster."""
    kube = (kubeconfig, context) if kubeconfig or context else None
    report = asyncio.run(_status(state_dir, kube))
    if output == "json":
        click.echo(json.dumps(report))
        return
    for run in report["live_runs"]:
        click.echo(f"run {run['run']} alive (pid {run['pid']}, state dir {run['state_dir']})")
    if not report["faults"]:
        click.echo("no live faults")
    for u in report["undo"]:
        owner = "run alive" if u["run_alive"] else "run dead: `aftershock recover` reverts it"
        left = ", no deadline (recorded by an older release)" if u["deadline_in_s"] is None \
            else f", {deadline_words(u['deadline_in_s'])}"
        if u["state"] == "damaged":
            click.echo(f"damaged undo of {u['run'] or '?'}: {u['detail']}")
        else:
            click.echo(f"undo    {u['run']}: {u['undo']} [{owner}{left}]")
    for f in report["faults"]:
        owner = "run alive" if f["run_alive"] else "run dead: `aftershock recover` removes it"
        left = "" if f["deadline_in_s"] is None else f", {deadline_words(f['deadline_in_s'])}"
        click.echo(f"{f['state']:<7} {f['run'] or '?'}/{f['fault'] or '?'} ({f['type']}, {f['target']}): {f['detail']}"
                   f" [{owner}{left}]")


async def _custom_state(row: FaultRow, directory: Path, fault_type: str) -> tuple[str, str]:
    """A fault its kind realises itself: asked through that kind's ``present`` (a registered kind only)."""
    from chaos.targets.host import present_realisation

    try:
        present = await present_realisation(row.realisation, directory, os.environ)
    except ChaosError as exc:
        return "unknown", str(exc)
    if present is None:
        return "unknown", f"{fault_type} cannot tell whether it is still there"
    return ("live", f"{fault_type} fault present") if present else ("gone", f"{fault_type} fault is gone")


def _span(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``: the two largest units."""
    total = round(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def deadline_words(seconds_left: float) -> str:
    """``deadline in 4m 10s`` / ``deadline passed 347d 2h ago`` (never a negative count of seconds)."""
    if seconds_left >= 0:
        return f"deadline in {_span(seconds_left)}"
    return f"deadline passed {_span(seconds_left)} ago"
