"""``network-loss``: a share of packets (Kubernetes: NetworkChaos ``loss``) or connections (host: the
fault proxy drops them; iptables statistic DROP for a port selector) lost. Shrinks by percent."""

from typing import Any, Literal

from chaos.faults.common import network_rendering, percent_patch, where
from chaos.model.faults import NetworkFault, Percent
from chaos.model.kinds import FaultKind, HostRealisation, KernelEffect


class NetworkLoss(NetworkFault):
    type: Literal["network-loss"]
    percent: Percent
    correlation: Percent = 0


def _proxy(fault: NetworkLoss) -> dict[str, Any]:
    return {"kind": "loss", "percent": fault.percent}


def _kernel(fault: NetworkLoss) -> KernelEffect | None:
    if fault.selector.port is None:
        return None
    what = "partition (DROP)" if fault.percent >= 100 else f"loss {fault.percent:g}% (statistic DROP)"
    return KernelEffect(via="iptables", params={"percent": fault.percent}, description=what)


KIND = FaultKind(
    name="network-loss", model=NetworkLoss, words="packet loss",
    describe=lambda f: f"loss {f.percent:g}%{where(f)}",
    kube=network_rendering("loss", shrink=percent_patch("loss")),
    host=HostRealisation(proxy=_proxy, kernel=_kernel,
                         capabilities=("net_admin", "iptables", "iptables_statistic", "iptables_comment")),
    shrinkable=frozenset({"percent", "mode", "value"}),
)
