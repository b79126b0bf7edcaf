"""``network-duplicate``: a share of packets duplicated (Kubernetes: NetworkChaos ``duplicate``). netem only: refused on
the host (no fault proxy form, and this kernel path has no netem). Shrinks by percent."""

from typing import Literal

from chaos.faults.common import network_rendering, percent_patch, where
from chaos.model.faults import NetworkFault, Percent
from chaos.model.kinds import FaultKind


class NetworkDuplicate(NetworkFault):
    type: Literal["network-duplicate"]
    percent: Percent
    correlation: Percent = 0


KIND = FaultKind(
    name="network-duplicate", model=NetworkDuplicate, words="packet duplication",
    describe=lambda f: f"duplicate {f.percent:g}%{where(f)}",
    kube=network_rendering("duplicate", shrink=percent_patch("duplicate")),
    shrinkable=frozenset({"percent", "mode", "value"}),
)
