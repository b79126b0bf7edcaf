"""Typed realisations: how one recorded fault exists, written to and read back from the state store.

A target writes a realisation (a JSON record with ``"v"`` and ``"kind"``) *before* it injects
the fault; ``aftershock recover`` — possibly of a later release — removes the fault from that
record alone. This module is the one codec of those records: :func:`realisation_to_record`
(typed value → record with ``RECORD_VERSION``; every target writes through it) and
:func:`realisation_from_record` (record of any version → typed value, checking the keys removal
needs), so a missing or renamed key is a clear :class:`~chaos.errors.StateError` naming the fault,
never a ``KeyError`` in the middle of an incident, and a record is never written in a shape the
reader refuses (the writer reads its own record back before handing it out).
:func:`planned_host_realisation` is the write-ahead realisation of a host fault plan. Pure; used
by ``chaos.targets.host`` and ``chaos.targets.kubernetes`` (writing and removal),
``chaos.targets.recovery`` and ``status``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

from chaos.clients.state import RECORD_VERSION, realisation_of
from chaos.compiling.host import HostFaultPlan
from chaos.errors import StateError


@dataclass(frozen=True, kw_only=True)
class ProxyRealisation:
    """A fault on the fault proxy (removed through its admin endpoint; a run-owned proxy is stopped)."""

    description: str = ""
    comment: str = ""
    proxy: Mapping[str, Any]
    """``admin``, ``token_env``/``token_file`` (never the token), ``pid`` of a run-owned proxy, ...
    (a run-owned proxy's write-ahead record has no admin yet: nothing reached it)."""
    proxy_fault: Mapping[str, Any]
    """The fault as the proxy has it (``ProxyFault`` as JSON, with its ``id``: what a shrink starts from)."""

    @property
    def fault_id(self) -> str:
        """The proxy's id of the fault (removal and ``present`` ask the proxy for it)."""
        return str(self.proxy_fault["id"])


@dataclass(frozen=True, kw_only=True)
class KernelRealisation:
    """An iptables rule or a tc qdisc, found by its ``aftershock:<run>:<fault>`` comment."""

    kind: Literal["iptables", "tc"]
    description: str = ""
    comment: str
    kernel: Mapping[str, Any] = field(default_factory=dict)
    """``netns``, ``interface`` (tc), port/address/protocol (iptables)."""
    rule: Mapping[str, Any] | None = None
    """The iptables rule as injected (``chain``, ``spec``, ``comment``); None before injection and for tc."""


@dataclass(frozen=True, kw_only=True)
class KubeRealisation:
    """A Chaos Mesh object (deleted by name; the run's reaper in its namespace goes with it)."""

    description: str = ""
    object: Mapping[str, Any]
    kube: Mapping[str, Any] = field(default_factory=dict)
    """``kubeconfig``, ``context``, ``namespace`` the run used."""
    reaper: str | None = None
    """The run's reaper job in the object's namespace (None: no reaper)."""
    status: Mapping[str, Any] | None = None
    """What Chaos Mesh reported when the object was injected (None before)."""


@dataclass(frozen=True, kw_only=True)
class CustomRealisation:
    """A fault of a kind that realises it itself (``HostRealisation.custom``, e.g. a plugin's): removed
    by that kind's ``remove``, found by ``fault_type`` in the kinds registry."""

    description: str = ""
    comment: str
    fault_type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    """The kind's ``plan`` (recorded write-ahead), plus what its ``inject`` returned."""


TypedRealisation = ProxyRealisation | KernelRealisation | KubeRealisation | CustomRealisation

_NETNS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
"""A named network namespace (``ip netns``): a file name in /run/netns, never a path."""
_INTERFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}")
"""A network interface name (IFNAMSIZ 16, no ``/``)."""


def _checked_kernel(kernel: Mapping[str, Any]) -> dict[str, Any]:
    """The kernel part of a record, validated like input: a record names no path as a netns and no
    option as an interface (``ip netns exec ../../proc/1/ns/net``, ``tc ... dev --help``)."""
    out = dict(kernel)
    netns = out.get("netns")
    if netns is not None and (not isinstance(netns, str) or not _NETNS.fullmatch(netns)):
        raise StateError(f"the record names an invalid network namespace {netns!r}; remove it by hand")
    interface = out.get("interface")
    if interface is not None and (not isinstance(interface, str) or not _INTERFACE.fullmatch(interface)):
        raise StateError(f"the record names an invalid network interface {interface!r}; remove it by hand")
    return out


def _checked_proxy(proxy: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(proxy)
    for key in ("admin", "token_env", "token_file"):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise StateError(f"the recorded proxy's {key} is not text ({out[key]!r}); remove it by hand")
    if out.get("pid") is not None and (isinstance(out["pid"], bool) or not isinstance(out["pid"], int)
                                       or out["pid"] <= 1):
        raise StateError(f"the recorded proxy pid {out['pid']!r} is not a process id; remove it by hand")
    return out


def realisation_from_record(record: Mapping[str, Any]) -> TypedRealisation:
    """Read a stored realisation of any record version; raises StateError when it cannot be used."""
    data = realisation_of(dict(record))
    kind = data.get("kind")
    try:
        if kind == "proxy":
            proxy_fault = dict(data["proxy_fault"])
            str(proxy_fault["id"])
            return ProxyRealisation(description=str(data.get("description", "")), comment=str(data.get("comment", "")),
                                    proxy=_checked_proxy(data["proxy"]), proxy_fault=proxy_fault)
        if kind in ("iptables", "tc"):
            comment = str(data["comment"])
            if len(comment.split(":")) < 3:
                raise StateError(f"recorded kernel fault has no aftershock comment: {comment!r}")
            rule = data.get("rule")
            return KernelRealisation(kind=kind, description=str(data.get("description", "")), comment=comment,
                                     kernel=_checked_kernel(data.get("kernel") or {}),
                                     rule=None if rule is None else dict(rule))
        if kind == "custom":
            return CustomRealisation(description=str(data.get("description", "")), comment=str(data["comment"]),
                                     fault_type=str(data["fault_type"]), params=dict(data.get("params") or {}))
        if kind == "kubernetes":
            obj = data["object"]
            if not obj["metadata"]["name"]:
                raise KeyError("object.metadata.name")
            status = data.get("status")
            reaper = data.get("reaper")
            return KubeRealisation(description=str(data.get("description", "")), object=dict(obj),
                                   kube=dict(data.get("kube") or {}), reaper=None if reaper is None else str(reaper),
                                   status=None if status is None else dict(status))
    except (KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"the recorded {kind} fault lacks {exc} (record: {_keys(data)}); remove it by hand "
                         "and report the record") from exc
    raise StateError(f"cannot remove a recorded fault of kind {kind!r}")


def realisation_to_record(typed: TypedRealisation) -> dict[str, Any]:
    """The record of a typed realisation (what the state store keeps), with ``RECORD_VERSION``.
    The record is read back before it is returned: one :func:`realisation_from_record` refuses is never
    written (a StateError naming what is wrong, before anything is injected)."""
    out: dict[str, Any] = {"v": RECORD_VERSION}
    match typed:
        case ProxyRealisation():
            out.update(kind="proxy", description=typed.description, comment=typed.comment, proxy=dict(typed.proxy),
                       proxy_fault=dict(typed.proxy_fault))
        case KernelRealisation():
            out.update(kind=typed.kind, description=typed.description, comment=typed.comment,
                       kernel=dict(typed.kernel))
            if typed.rule is not None:
                out["rule"] = dict(typed.rule)
        case CustomRealisation():
            out.update(kind="custom", description=typed.description, comment=typed.comment,
                       fault_type=typed.fault_type, params=dict(typed.params))
        case KubeRealisation():
            out.update(kind="kubernetes", description=typed.description, object=dict(typed.object),
                       kube=dict(typed.kube))
            if typed.reaper is not None:
                out["reaper"] = typed.reaper
            if typed.status is not None:
                out["status"] = dict(typed.status)
        case other:
            assert_never(other)
    realisation_from_record(out)
    return out


def planned_host_realisation(plan: HostFaultPlan) -> TypedRealisation:
    """The write-ahead realisation of a host fault plan (before it exists anywhere)."""
    if plan.via == "proxy":
        if plan.proxy_fault is None:
            raise StateError(f"fault {plan.fault}: a proxy plan without its proxy fault")
        return ProxyRealisation(description=plan.description, comment=plan.comment, proxy=dict(plan.proxy),
                                proxy_fault=plan.proxy_fault.to_dict())
    if plan.via in ("iptables", "tc"):
        return KernelRealisation(kind="iptables" if plan.via == "iptables" else "tc", description=plan.description,
                                 comment=plan.comment, kernel=dict(plan.kernel))
    if plan.via == "custom":
        return CustomRealisation(description=plan.description, comment=plan.comment, fault_type=plan.fault_type,
                                 params=dict(plan.custom))
    raise StateError(f"fault {plan.fault}: unknown host realisation {plan.via!r}")


def _keys(data: Mapping[str, Any]) -> str:
    return ", ".join(sorted(data))
