"""``set-flag``: switch a file-backed feature flag on while its policy holds — and put it back.

A plugin action that is undone (``ActionKind.undo`` + ``revert``): ``apply`` writes ``with.value`` to
the flag file ``with.path``; before it runs, Aftershock records ``undo(with)`` — ``{"path": ...}`` —
in the state store (write-ahead, with the run's undo deadline), and ``revert`` deletes the file
from that record alone: at the end of the run, at the deadline (the undo watchdog, even after a
kill -9 of the run) or in ``aftershock recover``. ``revert`` is idempotent (the file may already
be gone, or never have been written).
"""

import asyncio
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from chaos.errors import ActuatorError
from chaos.model.base import Model
from chaos.model.kinds import ActionIO, ActionKind
from chaos.model.policies import PolicyBase


class SetFlagWith(Model):
    path: str = Field(min_length=1)
    """The flag file (absolute path)."""
    value: str = "on"


class SetFlagPolicy(PolicyBase):
    action: Literal["set-flag"]
    with_: SetFlagWith = Field(alias="with")


async def _apply(with_: SetFlagWith, io: ActionIO) -> str:
    def write() -> None:
        with open(with_.path, "w", encoding="utf-8") as handle:
            handle.write(with_.value + "\n")

    await asyncio.to_thread(write)
    return f"flag {with_.path} set to {with_.value}"


def _undo(with_: SetFlagWith) -> dict[str, Any]:
    return {"path": with_.path}  # all revert needs: plain JSON, no secret


async def _revert(record: Mapping[str, Any], io: ActionIO) -> str:
    path = record.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ActuatorError(f"set-flag: the undo record names no absolute path ({path!r})")
    try:
        await asyncio.to_thread(os.unlink, path)
    except FileNotFoundError:
        return f"flag {path} already unset"
    return f"flag {path} unset"


KIND = ActionKind(name="set-flag", model=SetFlagPolicy, words="set a feature flag", apply=_apply,
                  undo=_undo, revert=_revert)
