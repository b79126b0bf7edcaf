"""Deterministic, DNS-1123-valid object names and the labels that mark objects as ours.

Pure; used by the Kubernetes compiler, the host compiler (rule comments) and ``recover``.
"""

from __future__ import annotations

import hashlib
import re
import secrets

MANAGED_BY = "app.kubernetes.io/managed-by"
EXPERIMENT_LABEL = "aftershock.io/experiment"
RUN_LABEL = "aftershock.io/run-id"
SOURCE_ANNOTATION = "aftershock.io/source"
FAULT_ANNOTATION = "aftershock.io/fault"
DEADLINE_ANNOTATION = "aftershock.io/deadline"
OURS = "aftershock"

_RUN_ID_RE = re.compile(r"^[a-z0-9]{4,12}$")


def new_run_id() -> str:
    """A fresh short run id (8 lower-case hex characters)."""
    return secrets.token_hex(4)


def valid_run_id(run_id: str) -> bool:
    return bool(_RUN_ID_RE.match(run_id))


def object_name(experiment: str, fault: str, run_id: str) -> str:
    """``<experiment>-<fault>-<run>``; shortened with a stable hash when over 63 characters."""
    name = f"{experiment}-{fault}-{run_id}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    head = f"{experiment}-{fault}"[: 63 - len(run_id) - len(digest) - 2].rstrip("-")
    return f"{head}-{digest}-{run_id}"


def labels(experiment: str, run_id: str) -> dict[str, str]:
    return {MANAGED_BY: OURS, EXPERIMENT_LABEL: experiment, RUN_LABEL: run_id}


def rule_comment(run_id: str, fault: str) -> str:
    """Comment carried by every host kernel rule: ``aftershock:<run-id>:<fault>``."""
    return f"aftershock:{run_id}:{fault}"
