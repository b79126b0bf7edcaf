"""Kubernetes target: Chaos Mesh objects, pre-flight checks, degrade/circuit-break actuators, reaper.

Public entry points are :class:`KubeClient` and :class:`KubeSettings`; the submodules are
internal (one concern each: ``calls`` boundary, ``chaosmesh``, ``blast``, ``rbac``, ``degrade``,
``weights``, ``reaper``). Callers: the run engine, ``aftershock recover`` and ``aftershock doctor``.
"""

from chaos.clients.kube.client import (
    DeleteReport,
    InjectionState,
    KubeClient,
    NamespaceTotal,
    Resolution,
    RevertToken,
    WeightSnapshot,
    run_totals,
)
from chaos.clients.kube.rbac import (
    Permission,
    circuit_break_permissions,
    degrade_permissions,
    pod_fault_permissions,
)
from chaos.clients.kube.settings import KubeSettings

__all__ = [
    "DeleteReport",
    "InjectionState",
    "KubeClient",
    "KubeSettings",
    "NamespaceTotal",
    "Permission",
    "Resolution",
    "RevertToken",
    "WeightSnapshot",
    "circuit_break_permissions",
    "degrade_permissions",
    "pod_fault_permissions",
    "run_totals",
]
