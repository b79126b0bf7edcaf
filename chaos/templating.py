"""The one Jinja2 sandbox: experiment parameters (``{{ latency }}``, ``{{ env.X | default(..) }}``)
and the Chaos Mesh manifest templates in ``manifests/`` are rendered through it.

``SandboxedEnvironment`` + ``StrictUndefined``: attribute access to dunders is refused,
undefined variables are errors, and string/list multiplication and powers are bounded so a
template cannot blow up memory. Pure (reads templates given to it; the manifest directory
is resolved by the caller). Called by ``chaos.loading`` and ``chaos.compiling``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED_CHARS = 100_000
"""Longest string a template may produce."""

MANIFESTS_DIR = Path(__file__).resolve().parent.parent / "manifests"


class TemplateProblem(Exception):
    """A template could not be rendered; the message is for the user."""


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox that also bounds ``*`` and ``**`` (``'a' * 10**9`` is refused)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in template")
            return operator.pow(left, right)
        if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
            size = (len(left) if isinstance(left, str | list | tuple) else 1) * (
                right if isinstance(right, int) else left if isinstance(left, int) else 1)
            if isinstance(size, int) and size > MAX_RENDERED_CHARS:
                raise SecurityError("template output would be too large")
        return operator.mul(left, right)


def _to_yaml_value(value: Any) -> str:
    """Filter ``tojson`` that is also valid YAML (JSON ⊂ YAML), for manifest templates."""
    return json.dumps(value, sort_keys=False)


def make_environment(template_dir: Path | None = None) -> BoundedSandbox:
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        loader=FileSystemLoader(str(template_dir)) if template_dir else None,
    )
    env.filters["yaml"] = _to_yaml_value
    return env


def render_string(env: BoundedSandbox, text: str, context: Mapping[str, Any]) -> Any:
    """Render one string. A string that is only ``{{ expr }}`` yields a scalar of the right
    type (``"{{ percent }}"`` with percent=30 → 30); anything else yields a string."""
    if "{{" not in text and "{%" not in text and "{#" not in text:
        return text
    try:
        rendered = env.from_string(text).render(**context)
    except UndefinedError as exc:
        raise TemplateProblem(f"undefined template variable: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateProblem(f"refused by the template sandbox: {exc}") from exc
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc.message or exc}") from exc
    except (ArithmeticError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise TemplateProblem(f"template error: {exc}") from exc
    if len(rendered) > MAX_RENDERED_CHARS:
        raise TemplateProblem("template output too large")
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        try:
            scalar = yaml.safe_load(rendered)
        except yaml.YAMLError:
            return rendered
        if isinstance(scalar, bool | int | float) or scalar is None:
            return rendered if scalar is None else scalar
    return rendered
