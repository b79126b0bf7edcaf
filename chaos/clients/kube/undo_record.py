"""The undo record a mitigation's own patch writes on the object it changes, so the namespace's
reaper can undo it after its deadline even when the machine that ran Aftershock is gone.

An annotation ``undo.aftershock.io/<run>.<n>`` holding ``{"v": 1, "deadline": <UTC, the reaper's
format>, "token": <what restores it exactly>}``: a degrade's :class:`chaos.clients.kube.degrade.RevertToken`
on a ConfigMap/workload, a circuit-break's :class:`chaos.clients.kube.weights.WeightSnapshot` of the
route's entries on an HTTPRoute/VirtualService. Written in the same patch as the change, removed in
the same patch as the undo. Callers: ``degrade``, ``weights``, the reaper's sweep (``reap``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from chaos.clients.kube.context import meta

UNDO_PREFIX = "undo.aftershock.io/"
VERSION = 1
DEADLINE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
"""``aftershock.io/deadline`` and undo deadlines: UTC, fixed width (they compare as text)."""


def undo_key(obj: Mapping[str, Any], run_id: str) -> str:
    """The first free undo annotation of ``run_id`` on ``obj``."""
    taken = meta(obj).get("annotations") or {}
    n = 0
    while f"{UNDO_PREFIX}{run_id}.{n}" in taken:
        n += 1
    return f"{UNDO_PREFIX}{run_id}.{n}"


def run_keys(obj: Mapping[str, Any], run_id: str) -> list[str]:
    """The undo annotations ``run_id`` wrote on ``obj``."""
    return sorted(k for k in (meta(obj).get("annotations") or {}) if k.startswith(f"{UNDO_PREFIX}{run_id}."))


def encode(deadline: str, token: Mapping[str, Any]) -> str:
    """The annotation's value."""
    if not DEADLINE_RE.fullmatch(deadline):
        raise ValueError(f"undo deadline {deadline!r} is not UTC YYYY-MM-DDTHH:MM:SSZ")
    return json.dumps({"v": VERSION, "deadline": deadline, "token": dict(token)}, sort_keys=True)


def decode(value: str) -> tuple[str, dict[str, Any]]:
    """``(deadline, token)`` of an annotation's value; ``ValueError`` saying why when it is malformed
    (not JSON, another version, no well-formed deadline, no token object)."""
    record = json.loads(value)  # JSONDecodeError is a ValueError
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if record.get("v") != VERSION:
        raise ValueError(f"version {record.get('v')!r}, expected {VERSION}")
    deadline, token = record.get("deadline"), record.get("token")
    if not isinstance(deadline, str) or not DEADLINE_RE.fullmatch(deadline):
        raise ValueError("no well-formed deadline")
    if not isinstance(token, dict):
        raise ValueError("no token object")
    return deadline, token
