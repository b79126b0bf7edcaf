"""Go/Prometheus-style durations (``500ms``, ``30s``, ``2m``, ``1h30m``): parsing and formatting.
Windows and schedule fields (:func:`parse_window`) also take Prometheus' ``d``, ``w`` and ``y``.

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


_WINDOW_SECONDS = {**_UNIT_SECONDS, "d": 86_400.0, "w": 604_800.0, "y": 31_536_000.0}
WINDOW_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w|y))+$"
_WINDOW_RE = re.compile(WINDOW_PATTERN)
_WINDOW_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w|y)")


def parse_window(text: str) -> float:
    """Seconds in a window or schedule duration: :func:`parse_duration`'s units plus Prometheus' ``d``,
    ``w`` and ``y`` (``30d``, ``4w``; a year is 365 days). Chaos Mesh fields keep Go's units."""
    text = text.strip()
    if not _WINDOW_RE.match(text):
        raise ValueError(f"{text!r} is not a duration: use a number with a unit ms, s, m, h, d, w or y "
                         "(e.g. 30s, 10m, 24h, 30d, 4w)")
    return sum(float(num) * _WINDOW_SECONDS[unit] for num, unit in _WINDOW_PART_RE.findall(text))


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
