"""Where a field's value came from: a field filled from one parameter has its problems reported at
the parameter's line (or its ``--set``), where the user wrote the value. Pure. Caller:
:mod:`chaos.loading.experiment` (through :func:`chaos.loading.parameters.render_document`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from chaos.errors import Problem
from chaos.loading.paths import PathT, parse_path

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPR_RE = re.compile(r"\{\{(.*?)\}\}", re.S)


def parameters_used(text: str, params: Mapping[str, Any]) -> list[str]:
    """The parameters a template string refers to, in order of appearance."""
    names = [n for expr in _EXPR_RE.findall(text) for n in _NAME_RE.findall(expr) if n in params]
    return list(dict.fromkeys(names))


def record_origins(value: Any, path: PathT, params: Mapping[str, Any], origins: dict[PathT, str]) -> None:
    """Remember which field got its value from which parameter (a bad value is then reported at
    the parameter's line, where the user wrote it)."""
    if isinstance(value, str):
        used = parameters_used(value, params)
        if len(used) == 1:
            origins[path] = used[0]
    elif isinstance(value, dict):
        for k, v in value.items():
            record_origins(v, (*path, k), params, origins)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            record_origins(v, (*path, i), params, origins)


def from_parameter(problem: Problem, lines: dict[PathT, int], origins: Mapping[PathT, str],
                    overrides: Mapping[str, str]) -> Problem:
    """A problem in a field filled from one parameter: at the parameter's line (or its ``--set``)."""
    if not problem.path:
        return problem
    path = parse_path(problem.path)
    name = next((origins[path[:end]] for end in range(len(path), 0, -1) if path[:end] in origins), None)
    if name is None:
        return problem
    if name in overrides:
        return dataclasses.replace(problem, message=f"{problem.message} (the value comes from "
                                                    f"--set {name}={overrides[name]})")
    line = lines.get(("spec", "parameters", name), problem.line)
    where = f"line {problem.line}" if problem.line is not None else "the field"
    return dataclasses.replace(problem, line=line, path=f"spec.parameters.{name}",
                               message=f"{problem.message} (used by {problem.path}, {where})")
