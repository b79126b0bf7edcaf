"""``write-note``: append the decision (its policy, SLO and value) as one JSON line to ``with.path``.

A plugin action (``ActionKind.apply``): run once when its policy fires; a failure escalates like any
other action's. Nothing to undo at the end of the run.
"""

import asyncio
import json
from typing import Literal

from pydantic import Field

from chaos.model.base import Model
from chaos.model.kinds import ActionIO, ActionKind
from chaos.model.policies import PolicyBase


class WriteNoteWith(Model):
    path: str = Field(min_length=1)
    """The file the notes are appended to."""


class WriteNotePolicy(PolicyBase):
    action: Literal["write-note"]
    with_: WriteNoteWith = Field(alias="with")


async def _apply(with_: WriteNoteWith, io: ActionIO) -> str:
    line = json.dumps({"run": io.run_id, "experiment": io.experiment, "decision": io.decision_id})

    def append() -> None:
        with open(with_.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    await asyncio.to_thread(append)
    return f"noted in {with_.path}"


KIND = ActionKind(name="write-note", model=WriteNotePolicy, words="write a note", apply=_apply)
