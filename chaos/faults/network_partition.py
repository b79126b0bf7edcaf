"""``network-partition``: no traffic at all (Kubernetes: NetworkChaos ``partition``; host: the fault
proxy refuses, or iptables DROP for a port selector)."""

from typing import Any, Literal

from chaos.faults.common import network_rendering, where
from chaos.model.faults import NetworkFault
from chaos.model.kinds import FaultKind, HostRealisation, KernelEffect


class NetworkPartition(NetworkFault):
    type: Literal["network-partition"]


def _proxy(fault: NetworkPartition) -> dict[str, Any]:
    return {"kind": "partition"}


def _kernel(fault: NetworkPartition) -> KernelEffect | None:
    if fault.selector.port is None:
        return None
    return KernelEffect(via="iptables", params={"percent": 100.0}, description="partition (DROP)")


KIND = FaultKind(
    name="network-partition", model=NetworkPartition, words="network partition",
    describe=lambda f: f"partition{where(f)}",
    kube=network_rendering("partition"),
    host=HostRealisation(proxy=_proxy, kernel=_kernel, capabilities=("net_admin", "iptables", "iptables_comment")),
    shrinkable=frozenset({"mode", "value"}),
)
