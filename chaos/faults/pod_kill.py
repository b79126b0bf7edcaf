"""``pod-kill``: pods killed (PodChaos ``pod-kill``). Kubernetes only."""

from typing import Literal

from pydantic import Field

from chaos.faults.common import POD_RENDERING, where
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind


class PodKill(FaultBase):
    type: Literal["pod-kill"]
    grace_period: int = Field(default=0, ge=0)


KIND = FaultKind(name="pod-kill", model=PodKill, words="pod kill", describe=lambda f: f"kill pods{where(f)}",
                 kube=POD_RENDERING, shrinkable=frozenset({"mode", "value"}))
