"""Strict JSON for what Aftershock reads from others: no ``NaN``/``Infinity``/``-Infinity`` (not JSON,
RFC 8259 §6, and an infinite ``deadline`` would be a fault without end), bounded nesting (deep nesting
is refused with a message, never a ``RecursionError``). Pure. Callers: the fault proxy's admin endpoint,
``aftershock import``.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""Nesting deeper than this is refused (Aftershock's own documents nest fewer than 10 levels)."""


class StrictJsonError(ValueError):
    """Text that is not strict JSON, or nested too deeply. ``line`` where the decoder knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number (RFC 8259 allows finite numbers only)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise StrictJsonError(f"{text} is out of range for a JSON number here")
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses non-finite numbers and nesting deeper than ``max_depth``."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise StrictJsonError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise StrictJsonError(f"not JSON: {exc.msg}", exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise StrictJsonError(f"not UTF-8 text (byte {exc.start})") from None
    _check_depth(value, max_depth)
    return value


def _check_depth(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise StrictJsonError(f"nested deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
