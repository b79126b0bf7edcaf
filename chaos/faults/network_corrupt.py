"""``network-corrupt``: a share of packets corrupted (Kubernetes: NetworkChaos ``corrupt``). netem only: refused on
the host (no fault proxy form, and this kernel path has no netem). Shrinks by percent."""

from typing import Literal

from chaos.faults.common import network_rendering, percent_patch, where
from chaos.model.faults import NetworkFault, Percent
from chaos.model.kinds import FaultKind


class NetworkCorrupt(NetworkFault):
    type: Literal["network-corrupt"]
    percent: Percent
    correlation: Percent = 0


KIND = FaultKind(
    name="network-corrupt", model=NetworkCorrupt, words="packet corruption",
    describe=lambda f: f"corrupt {f.percent:g}%{where(f)}",
    kube=network_rendering("corrupt", shrink=percent_patch("corrupt")),
    shrinkable=frozenset({"percent", "mode", "value"}),
)
