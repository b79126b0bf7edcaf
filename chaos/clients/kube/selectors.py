"""Pure selector logic: Chaos Mesh ``spec.selector`` → API queries, and ``mode``/``value`` → counts.

No I/O here. Callers: :mod:`chaos.clients.kube.blast` (target resolution, blast radius, PDBs) and
:mod:`chaos.clients.kube.chaosmesh` (collision check). Kept pure so it is cheap to test and reason about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chaos.errors import PreflightRefused

MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")


def label_selector_string(labels: Mapping[str, Any] | None,
                          expressions: list[dict[str, Any]] | None = None) -> str:
    """``{app: x}`` + match expressions → ``app=x,tier in (a,b),!canary`` for ``labelSelector=``."""
    parts = [f"{k}={v}" for k, v in sorted((labels or {}).items())]
    for expr in expressions or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(map(str, values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(map(str, values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise PreflightRefused(f"unsupported selector operator {op!r} for key {key!r}",
                                   ["use one of In, NotIn, Exists, DoesNotExist"])
    return ",".join(parts)


def field_selector_string(fields: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((fields or {}).items()))


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A Kubernetes ``LabelSelector`` (``matchLabels`` + ``matchExpressions``) against labels."""
    if not selector:
        return False  # an empty PDB selector matches nothing in policy/v1 semantics we rely on
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def affected_count(mode: str, value: str | int | None, matching: int) -> int:
    """How many of ``matching`` pods Chaos Mesh will affect at most for ``mode``/``value``.

    As Chaos Mesh's ``FilterObjectsByMode``: ``fixed-percent`` rounds *up* (at least one pod for a
    percent above 0), ``random-max-percent`` is bounded by the same rounding of its maximum, and
    ``fixed`` is capped at the pods there are.
    """
    if mode not in MODES:
        raise PreflightRefused(f"unknown selector mode {mode!r}", [f"use one of {', '.join(MODES)}"])
    if matching == 0:
        return 0
    if mode == "one":
        return 1
    if mode == "all":
        return matching
    try:
        number = int(str(value))
    except ValueError:
        raise PreflightRefused(f"mode {mode} needs a whole number as value, got {value!r}") from None
    if mode == "fixed":
        return max(0, min(matching, number))
    if not 0 <= number <= 100:
        raise PreflightRefused(f"mode {mode} needs a percentage 0-100, got {value!r}")
    return min(matching, math.ceil(matching * number / 100))


def int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """Resolve a PDB ``minAvailable``/``maxUnavailable`` against ``total`` pods."""
    if isinstance(value, str) and value.endswith("%"):
        exact = total * float(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def disruptions_allowed(pdb: Mapping[str, Any], covered_healthy: int) -> int:
    """``status.disruptionsAllowed`` when the disruption controller filled it, else from the spec."""
    status = pdb.get("status") or {}
    if "disruptionsAllowed" in status and status.get("observedGeneration") is not None:
        return int(status["disruptionsAllowed"])
    spec = pdb.get("spec") or {}
    if spec.get("minAvailable") is not None:
        return max(0, covered_healthy - int_or_percent(spec["minAvailable"], covered_healthy, True))
    if spec.get("maxUnavailable") is not None:
        return max(0, int_or_percent(spec["maxUnavailable"], covered_healthy, True))
    return covered_healthy
