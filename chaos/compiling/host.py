"""Experiment → host fault plan: what the fault proxy or the kernel (iptables, tc) must do.

A :class:`HostFaultPlan` says how one experiment fault is realised on this machine: a
:class:`~chaos.clients.host.specs.ProxyFault` for a proxy selector (latency, loss as connection
drops, partition, bandwidth throttle, HTTP abort/delay), or a kernel rule description for a
port/interface selector (iptables statistic DROP, tc tbf). netem-only faults (duplicate,
corrupt) are refused by the model already. Pure; called by the host target and ``--dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos import registry
from chaos.clients.host.specs import ProxyFault
from chaos.compiling import naming
from chaos.errors import InvalidExperiment, Problem
from chaos.model.durations import parse_duration
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultBase, NetworkFault
from chaos.model.kinds import FaultKind, KindRefused


@dataclass(frozen=True)
class HostFaultPlan:
    """How one fault is realised on the host: through the proxy, the kernel or its kind's own I/O."""

    fault: str
    fault_type: str
    via: str
    """``proxy``, ``iptables``, ``tc``, or ``custom`` (the fault kind does its own I/O)."""
    description: str
    proxy_fault: ProxyFault | None = None
    proxy: dict[str, Any] = field(default_factory=dict)
    """The proxy selector (listen, upstream, admin, token source)."""
    kernel: dict[str, Any] = field(default_factory=dict)
    """Kernel rule parameters (port, address, protocol, percent, interface, rate, netns)."""
    comment: str = ""
    custom: dict[str, Any] = field(default_factory=dict)
    """A custom realiser's parameters (its kind's ``plan``)."""


def plan_host(exp: Experiment, run_id: str, deadline_of: dict[str, float] | None = None,
              source: str = "") -> list[HostFaultPlan]:
    """A plan per fault. ``deadline_of`` maps fault name → absolute deadline (default: 1 s from epoch,
    for a plan that is only shown)."""
    if exp.spec.target.type != "host":
        raise InvalidExperiment(Problem("not a host experiment", path="spec.target.type", file=source))
    plans: list[HostFaultPlan] = []
    problems: list[Problem] = []
    for index, fault in enumerate(exp.spec.faults):
        deadline = (deadline_of or {}).get(fault.name, 1.0)
        try:
            plans.append(_plan(fault, run_id, deadline))
        except ValueError as exc:
            problems.append(Problem(str(exc), path=f"spec.faults[{index}]", file=source))
    if problems:
        raise InvalidExperiment(problems)
    return plans


def _kind(fault: FaultBase) -> FaultKind:
    kind = registry.faults.get(fault.type)
    if kind is None or kind.host is None:
        runs_on = f"; it runs on: {', '.join(kind.targets)}" if kind is not None and kind.targets else ""
        raise ValueError(f"{fault.type} cannot run on the host target{runs_on}")
    return kind


def _plan(fault: FaultBase, run_id: str, deadline: float) -> HostFaultPlan:
    sel = fault.selector
    comment = naming.rule_comment(run_id, fault.name)
    kind = _kind(fault)
    assert kind.host is not None
    try:
        if kind.host.custom is not None:
            params = kind.host.custom.plan(fault)
            return HostFaultPlan(fault=fault.name, fault_type=fault.type, via="custom",
                                 description=kind.host.custom.describe(params), custom=params, comment=comment)
        if sel.proxy is not None:
            proxy = sel.proxy.model_dump(by_alias=False)
            pf = _proxy_fault(kind, fault, run_id, deadline, sel.proxy.upstream if sel.proxy.admin else "")
            desc = f"proxy {sel.proxy.listen} → {sel.proxy.upstream}: {_describe(pf)}"
            return HostFaultPlan(fault=fault.name, fault_type=fault.type, via="proxy", description=desc,
                                 proxy_fault=pf, proxy=proxy, comment=comment)
        effect = kind.host.kernel(fault) if kind.host.kernel is not None else None
    except KindRefused as exc:
        raise ValueError(str(exc)) from None
    if effect is None:
        raise ValueError(f"{fault.type} with this selector cannot run on the host: use selector.proxy, "
                         "selector.port (loss/partition) or selector.interface (bandwidth); delay needs the "
                         "proxy because this kernel has no netem")
    kernel: dict[str, Any] = {"port": sel.port, "address": sel.address, "protocol": sel.protocol,
                              "netns": sel.netns, "interface": sel.interface, "direction": "to", **effect.params}
    ns = f" in netns {sel.netns}" if sel.netns else ""
    if effect.via == "iptables":
        where = f"{sel.protocol} port {sel.port}" + (f" to {sel.address}" if sel.address else "")
        description = f"iptables {where}{ns}: {effect.description}"
    else:
        description = f"tc tbf on {sel.interface}{ns}: {effect.description}"
    return HostFaultPlan(fault=fault.name, fault_type=fault.type, via=effect.via, description=description,
                         kernel=kernel, comment=comment)


def _proxy_fault(kind: FaultKind, fault: FaultBase, run_id: str, deadline: float, upstream: str) -> ProxyFault:
    assert kind.host is not None
    if kind.host.proxy is None:
        raise ValueError(f"{fault.type} cannot run through the fault proxy")
    common: dict[str, Any] = {"id": f"{run_id}-{fault.name}"[:63], "run_id": run_id, "deadline": deadline,
                              "upstream": upstream}
    if isinstance(fault, NetworkFault):
        common["direction"] = fault.direction
    return ProxyFault(**{**common, **kind.host.proxy(fault)})


def _describe(pf: ProxyFault) -> str:
    match pf.kind:
        case "latency":
            return f"latency {pf.latency_ms:g}ms ± {pf.jitter_ms:g}ms"
        case "loss" | "reset":
            return f"{pf.kind} {pf.percent:g}% of connections"
        case "bandwidth":
            return f"throttle {pf.rate_bytes_per_s} B/s"
        case "http-abort":
            which = f"{pf.method} requests" if pf.method else "requests"
            under = f" under {pf.path_prefix}" if pf.path_prefix and pf.path_prefix != "/" else ""
            return f"HTTP {pf.code} for {pf.percent:g}% of {which}{under}"
        case "http-delay":
            return f"HTTP delay {pf.delay_ms:g}ms for {pf.percent:g}%"
    return pf.kind


def shrink_proxy_fault(pf: ProxyFault, percent: float | None = None, latency: str | None = None,
                       jitter: str | None = None) -> ProxyFault:
    """A smaller version of a live proxy fault (same id and deadline: shrink never extends a fault)."""
    changes: dict[str, Any] = {}
    if percent is not None:
        changes["percent"] = percent
    if latency is not None:
        changes["latency_ms"] = parse_duration(latency) * 1000
        changes["delay_ms"] = parse_duration(latency) * 1000 if pf.kind == "http-delay" else pf.delay_ms
    if jitter is not None:
        changes["jitter_ms"] = parse_duration(jitter) * 1000
    return pf.replace(**changes)
