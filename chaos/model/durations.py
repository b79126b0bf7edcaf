"""Go/Prometheus-style durations (``500ms``, ``30s``, ``2m``, ``1h30m``): parsing and formatting.

Pure helpers used by the model (validation), the compiler (Chaos Mesh wants the text form)
and the engine (seconds). No I/O.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def is_duration(text: str) -> bool:
    """True when ``text`` is a valid duration string (units ns, us, ms, s, m, h)."""
    return bool(_DURATION_RE.match(text))


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ``ValueError`` with an explanation when it is not a duration."""
    text = text.strip()
    if not _DURATION_RE.match(text):
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit ns, us, ms, s, m or h (e.g. 500ms, 30s, 2m)"
        )
    return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART_RE.findall(text))


def format_duration(seconds: float) -> str:
    """Shortest exact text for ``seconds`` (``0.5`` → ``500ms``, ``120`` → ``2m``)."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    if ms % 3_600_000 == 0:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"
