"""``file-exists``: a probe (SLO source) that holds while ``path`` exists.

``slos: [{name: marker, probe: {file-exists: {path: /run/app/ready}}}]``. Its runner does the I/O and
is built only when a run starts it.
"""

from pathlib import Path

from pydantic import Field

from chaos.model.base import Model
from chaos.model.kinds import ProbeContext, ProbeKind, ProbeResult


class FileExists(Model):
    path: str = Field(min_length=1)


class FileExistsRunner:
    def __init__(self, block: FileExists, ctx: ProbeContext) -> None:
        self.path = Path(block.path)

    async def observe(self) -> ProbeResult:
        there = self.path.exists()
        return ProbeResult(ok=there, value=1.0 if there else 0.0, detail="" if there else f"{self.path} is missing")

    async def aclose(self) -> None:
        return None


KIND = ProbeKind(name="file-exists", model=FileExists, words="file exists",
                 describe=lambda b: f"{b.path} exists", runner=FileExistsRunner)
