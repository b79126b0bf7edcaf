"""``memory-stress``: memory allocated in pods (StressChaos ``stressors.memory``). Kubernetes only."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from chaos.faults.common import STRESS_RENDERING, where
from chaos.model.faults import MEMORY_SIZE_PATTERN, FaultBase
from chaos.model.kinds import FaultKind

_MEMORY_SIZE_RE = re.compile(MEMORY_SIZE_PATTERN)


def _check_memory_size(text: str) -> str:
    if not _MEMORY_SIZE_RE.match(text):
        raise ValueError(f"{text!r} is not a size such as 256MB, 1.5GiB or 50%")
    if text.endswith("%") and int(text[:-1]) > 100:
        raise ValueError(f"{text!r}: a memory size in percent is at most 100%")
    return text


class MemoryStress(FaultBase):
    type: Literal["memory-stress"]
    workers: int = Field(default=1, ge=1, le=8192)
    size: Annotated[str, AfterValidator(_check_memory_size)] = "256MB"
    options: list[str] = Field(default=[])
    """Extra stress-ng options (StressChaos ``stressors.memory.options``)."""


KIND = FaultKind(name="memory-stress", model=MemoryStress, words="memory stress",
                 describe=lambda f: f"{f.workers} memory worker(s) of {f.size}{where(f)}",
                 kube=STRESS_RENDERING, shrinkable=frozenset({"mode", "value"}))
