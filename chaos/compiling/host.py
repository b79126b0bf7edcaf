"""Experiment → host fault plan: what the fault proxy or the kernel (iptables, tc) must do.

A :class:`HostFaultPlan` says how one experiment fault is realised on this machine: a
:class:`~chaos.clients.host.specs.ProxyFault` for a proxy selector (latency, loss as connection
drops, partition, bandwidth throttle, HTTP abort/delay), or a kernel rule description for a
port/interface selector (iptables statistic DROP, tc tbf). netem-only faults (duplicate,
corrupt) are refused by the model already. Pure; called by the host target and ``--dry-run``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chaos.clients.host.specs import ProxyFault
from chaos.compiling import naming
from chaos.errors import InvalidExperiment, Problem
from chaos.model.durations import parse_duration
from chaos.model.experiment import Experiment
from chaos.model.faults import (
    FaultBase,
    HttpAbort,
    HttpDelay,
    NetworkBandwidth,
    NetworkDelay,
    NetworkFault,
    NetworkLoss,
    NetworkPartition,
)

_RATE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(bps|kbps|mbps|gbps|tbps)$")
_RATE_BITS = {"bps": 1, "kbps": 1_000, "mbps": 1_000_000, "gbps": 1_000_000_000, "tbps": 1_000_000_000_000}


def rate_bytes_per_s(rate: str) -> int:
    """``1mbps`` → 125000 bytes/s (Chaos Mesh/tc rates are bits per second)."""
    match = _RATE_RE.match(rate)
    if not match:
        raise ValueError(f"bad rate {rate!r}")
    return max(1, int(float(match.group(1)) * _RATE_BITS[match.group(2)] / 8))


@dataclass(frozen=True)
class HostFaultPlan:
    fault: str
    fault_type: str
    via: str
    """``proxy``, ``iptables`` or ``tc``."""
    description: str
    proxy_fault: ProxyFault | None = None
    proxy: dict[str, Any] = field(default_factory=dict)
    """The proxy selector (listen, upstream, admin, token source)."""
    kernel: dict[str, Any] = field(default_factory=dict)
    """Kernel rule parameters (port, address, protocol, percent, interface, rate, netns)."""
    comment: str = ""

    def realisation(self) -> dict[str, Any]:
        """What the state store records so that ``recover`` can remove it without the experiment."""
        out: dict[str, Any] = {"kind": self.via, "comment": self.comment, "description": self.description}
        if self.proxy_fault is not None:
            out["proxy_fault"] = self.proxy_fault.to_dict()
            out["proxy"] = dict(self.proxy)
        if self.kernel:
            out["kernel"] = dict(self.kernel)
        return out


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


def _plan(fault: FaultBase, run_id: str, deadline: float) -> HostFaultPlan:
    sel = fault.selector
    comment = naming.rule_comment(run_id, fault.name)
    if sel.proxy is not None:
        proxy = sel.proxy.model_dump(by_alias=False)
        pf = _proxy_fault(fault, run_id, deadline, sel.proxy.upstream if sel.proxy.admin else "")
        desc = f"proxy {sel.proxy.listen} → {sel.proxy.upstream}: {_describe(pf)}"
        return HostFaultPlan(fault=fault.name, fault_type=_type(fault), via="proxy", description=desc,
                             proxy_fault=pf, proxy=proxy, comment=comment)
    kernel: dict[str, Any] = {"port": sel.port, "address": sel.address, "protocol": sel.protocol,
                              "netns": sel.netns, "interface": sel.interface, "direction": "to"}
    if isinstance(fault, NetworkLoss | NetworkPartition) and sel.port is not None:
        percent = fault.percent if isinstance(fault, NetworkLoss) else 100.0
        kernel["percent"] = percent
        what = "partition (DROP)" if percent >= 100 else f"loss {percent:g}% (statistic DROP)"
        where = f"{sel.protocol} port {sel.port}" + (f" to {sel.address}" if sel.address else "")
        ns = f" in netns {sel.netns}" if sel.netns else ""
        return HostFaultPlan(fault=fault.name, fault_type=_type(fault), via="iptables",
                             description=f"iptables {where}{ns}: {what}", kernel=kernel, comment=comment)
    if isinstance(fault, NetworkBandwidth) and sel.interface is not None:
        kernel.update(rate=fault.rate, rate_bytes_per_s=rate_bytes_per_s(fault.rate), limit=fault.limit,
                      buffer=fault.buffer)
        ns = f" in netns {sel.netns}" if sel.netns else ""
        return HostFaultPlan(fault=fault.name, fault_type=_type(fault), via="tc",
                             description=f"tc tbf on {sel.interface}{ns}: {fault.rate}", kernel=kernel,
                             comment=comment)
    raise ValueError(f"{_type(fault)} with this selector cannot run on the host: use selector.proxy, "
                     "selector.port (loss/partition) or selector.interface (bandwidth); delay needs the "
                     "proxy because this kernel has no netem")


def _type(fault: FaultBase) -> str:
    return str(getattr(fault, "type", "?"))


def _proxy_fault(fault: FaultBase, run_id: str, deadline: float, upstream: str) -> ProxyFault:
    common: dict[str, Any] = {"id": f"{run_id}-{fault.name}"[:63], "run_id": run_id, "deadline": deadline,
                              "upstream": upstream}
    if isinstance(fault, NetworkFault):
        common["direction"] = fault.direction
    if isinstance(fault, NetworkDelay):
        return ProxyFault(kind="latency", latency_ms=parse_duration(fault.latency) * 1000,
                          jitter_ms=parse_duration(fault.jitter) * 1000, correlation=fault.correlation, **common)
    if isinstance(fault, NetworkLoss):
        return ProxyFault(kind="loss", percent=fault.percent, **common)
    if isinstance(fault, NetworkPartition):
        return ProxyFault(kind="partition", **common)
    if isinstance(fault, NetworkBandwidth):
        return ProxyFault(kind="bandwidth", rate_bytes_per_s=rate_bytes_per_s(fault.rate), **common)
    if isinstance(fault, HttpAbort):
        if fault.code is None:
            return ProxyFault(kind="reset", percent=fault.percent, **common)
        return ProxyFault(kind="http-abort", code=fault.code, percent=fault.percent, method=fault.method or "",
                          path_prefix=(fault.path or "").rstrip("*"), **common)
    if isinstance(fault, HttpDelay):
        return ProxyFault(kind="http-delay", delay_ms=parse_duration(fault.delay) * 1000,
                          percent=fault.percent, method=fault.method or "",
                          path_prefix=(fault.path or "").rstrip("*"), **common)
    raise ValueError(f"{_type(fault)} cannot run through the fault proxy")


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
