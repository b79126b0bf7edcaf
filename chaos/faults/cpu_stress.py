"""``cpu-stress``: CPU load in pods (StressChaos ``stressors.cpu``). Kubernetes only."""

from typing import Literal

from pydantic import Field

from chaos.faults.common import STRESS_RENDERING, where
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind


class CpuStress(FaultBase):
    type: Literal["cpu-stress"]
    workers: int = Field(default=1, ge=1, le=8192)
    load: int = Field(default=100, ge=0, le=100)
    options: list[str] = Field(default=[])
    """Extra stress-ng options (StressChaos ``stressors.cpu.options``)."""


KIND = FaultKind(name="cpu-stress", model=CpuStress, words="CPU stress",
                 describe=lambda f: f"{f.workers} CPU worker(s) at {f.load}%{where(f)}",
                 kube=STRESS_RENDERING, shrinkable=frozenset({"mode", "value"}))
