"""Typed realisations: how one recorded fault exists, read back from the state store.

A target writes a realisation (a JSON record with ``"v"`` and ``"kind"``) *before* it injects
the fault; ``aftershock recover`` — possibly of a later release — removes the fault from that
record alone. :func:`realisation_from_record` is the one deserialiser: it checks the record's
version and the keys removal needs, and answers a typed value (:data:`TypedRealisation`), so a
missing or renamed key is a clear :class:`~chaos.errors.StateError` naming the fault, never a
``KeyError`` in the middle of an incident. Pure; used by ``chaos.targets.host`` and
``chaos.targets.kubernetes`` (removal) and ``chaos.targets.recovery``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from chaos.clients.state import realisation_of
from chaos.errors import StateError


@dataclass(frozen=True, kw_only=True)
class ProxyRealisation:
    """A fault on the fault proxy (removed through its admin endpoint; a run-owned proxy is stopped)."""

    description: str = ""
    comment: str = ""
    proxy: Mapping[str, Any]
    """``admin``, ``token_env``/``token_file`` (never the token), ``pid`` of a run-owned proxy, ...
    (a run-owned proxy's write-ahead record has no admin yet: nothing reached it)."""
    fault_id: str


@dataclass(frozen=True, kw_only=True)
class KernelRealisation:
    """An iptables rule or a tc qdisc, found by its ``aftershock:<run>:<fault>`` comment."""

    kind: Literal["iptables", "tc"]
    description: str = ""
    comment: str
    kernel: Mapping[str, Any] = field(default_factory=dict)
    """``netns``, ``interface`` (tc), port/address/protocol (iptables)."""


@dataclass(frozen=True, kw_only=True)
class KubeRealisation:
    """A Chaos Mesh object (deleted by name; the run's reaper in its namespace goes with it)."""

    description: str = ""
    object: Mapping[str, Any]
    kube: Mapping[str, Any] = field(default_factory=dict)
    """``kubeconfig``, ``context``, ``namespace`` the run used."""


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


def realisation_from_record(record: Mapping[str, Any]) -> TypedRealisation:
    """Read a stored realisation of any record version; raises StateError when it cannot be used."""
    data = realisation_of(dict(record))
    kind = data.get("kind")
    try:
        if kind == "proxy":
            proxy = data["proxy"]
            return ProxyRealisation(description=str(data.get("description", "")), comment=str(data.get("comment", "")),
                                    proxy=dict(proxy), fault_id=str(data["proxy_fault"]["id"]))
        if kind in ("iptables", "tc"):
            comment = str(data["comment"])
            if len(comment.split(":")) < 3:
                raise StateError(f"recorded kernel fault has no aftershock comment: {comment!r}")
            return KernelRealisation(kind=kind, description=str(data.get("description", "")), comment=comment,
                                     kernel=dict(data.get("kernel") or {}))
        if kind == "custom":
            return CustomRealisation(description=str(data.get("description", "")), comment=str(data["comment"]),
                                     fault_type=str(data["fault_type"]), params=dict(data.get("params") or {}))
        if kind == "kubernetes":
            obj = data["object"]
            if not obj["metadata"]["name"]:
                raise KeyError("object.metadata.name")
            return KubeRealisation(description=str(data.get("description", "")), object=dict(obj),
                                   kube=dict(data.get("kube") or {}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"the recorded {kind} fault lacks {exc} (record: {_keys(data)}); remove it by hand "
                         "and report the record") from exc
    raise StateError(f"cannot remove a recorded fault of kind {kind!r}")


def _keys(data: Mapping[str, Any]) -> str:
    return ", ".join(sorted(data))
