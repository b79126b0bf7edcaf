"""``container-kill``: containers of pods killed (PodChaos ``container-kill``). Kubernetes only."""

from typing import Literal

from pydantic import Field

from chaos.faults.common import POD_RENDERING, where
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind


class ContainerKill(FaultBase):
    type: Literal["container-kill"]
    container_names: list[str] = Field(min_length=1)


KIND = FaultKind(name="container-kill", model=ContainerKill, words="container kill",
                 describe=lambda f: f"kill containers {', '.join(f.container_names)}{where(f)}",
                 kube=POD_RENDERING, shrinkable=frozenset({"mode", "value"}))
