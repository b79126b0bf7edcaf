"""``pod-failure``: pods made unavailable for the duration (PodChaos ``pod-failure``). Kubernetes only."""

from typing import Literal

from chaos.faults.common import POD_RENDERING, where
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind


class PodFailure(FaultBase):
    type: Literal["pod-failure"]


KIND = FaultKind(name="pod-failure", model=PodFailure, words="pod failure",
                 describe=lambda f: f"make pods unavailable{where(f)}",
                 kube=POD_RENDERING, shrinkable=frozenset({"mode", "value"}))
