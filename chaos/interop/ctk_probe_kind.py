"""``slos[].probe.chaostoolkit``: a Chaos Toolkit probe with its tolerance as an SLO source.

Each interval the probe (a ``python``, ``process`` or ``http`` provider, as Chaos Toolkit writes it)
runs through chaoslib and its result is judged by chaoslib's own ``within_tolerance`` — a value, a
range, a regex, a jsonpath or a probe tolerance, exactly as ``chaos run`` judges it: the SLO holds
while the tolerance is met, and is breached otherwise (a probe that fails is breached, with why).
The CTK ``configuration`` and ``secrets`` (references only) it carries are resolved by chaoslib when
the run starts. Registered by the entry point ``chaostoolkit`` of ``aftershock.probes``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from chaos.interop.ctk_fault_kind import check_activity, check_secrets, provider_words
from chaos.model.base import Model
from chaos.model.kinds import ProbeContext, ProbeKind, ProbeResult


class ChaosToolkitProbe(Model):
    activity: dict[str, Any]
    """The CTK probe, with its ``tolerance``."""
    configuration: dict[str, Any] = Field(default={})
    secrets: dict[str, Any] = Field(default={})

    @field_validator("activity")
    @classmethod
    def _activity(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_activity(value, "activity")
        if "tolerance" not in value:
            raise ValueError("activity.tolerance is required: it says when the probe holds")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_secrets(value)
        return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    if isinstance(value, Mapping) and isinstance(value.get("status"), int):  # an HTTP provider's result
        return float(value["status"])
    return None


class ChaosToolkitProbeRunner:
    """Runs the CTK probe through chaoslib on each ``observe`` (in a worker thread: chaoslib is synchronous)."""

    def __init__(self, block: ChaosToolkitProbe, ctx: ProbeContext) -> None:
        from chaoslib.configuration import load_configuration
        from chaoslib.secret import load_secrets

        self.block = block
        self.timeout_s = ctx.timeout_s
        self.configuration = load_configuration(dict(block.configuration))
        self.secrets = load_secrets(dict(block.secrets), self.configuration)

    def _observe(self) -> ProbeResult:
        from chaoslib.activity import run_activity
        from chaoslib.exceptions import ChaosException
        from chaoslib.hypothesis import within_tolerance

        activity = self.block.activity
        try:
            value = run_activity(dict(activity), self.configuration, self.secrets)
        except ChaosException as exc:
            return ProbeResult(ok=False, detail=f"the probe failed: {exc}")
        try:
            ok = bool(within_tolerance(activity["tolerance"], value, self.configuration, self.secrets))
        except (ChaosException, TypeError, ValueError, KeyError, AttributeError) as exc:  # chaoslib's, as it raises
            return ProbeResult(ok=False, value=_number(value), detail=f"the tolerance could not be judged: {exc}")
        detail = "" if ok else f"tolerance {activity['tolerance']!r} not met by {str(value)[:200]!r}"
        return ProbeResult(ok=ok, value=_number(value), detail=detail)

    async def observe(self) -> ProbeResult:
        import asyncio  # not at import: loading the kind (validate) stays without the event loop's modules

        from chaos import timers

        try:
            async with timers.timeout(self.timeout_s):  # not asyncio.wait_for: on 3.11 it can swallow a stop's cancel
                return await asyncio.to_thread(self._observe)
        except TimeoutError:
            return ProbeResult(ok=False, detail=f"no answer within {self.timeout_s:g}s")

    async def aclose(self) -> None:
        return None


def _runner(block: ChaosToolkitProbe, ctx: ProbeContext) -> ChaosToolkitProbeRunner:
    return ChaosToolkitProbeRunner(block, ctx)


def tolerance_words(tolerance: Any) -> str:
    """A CTK tolerance in words (what chaoslib's ``within_tolerance`` checks)."""
    if isinstance(tolerance, dict):
        kind, target = tolerance.get("type"), tolerance.get("target")
        of = f"{target} " if target else ""
        if kind == "regex":
            return f"{of}matches /{tolerance.get('pattern')}/"
        if kind == "jsonpath":
            expect = f" == {json.dumps(tolerance['expect'])}" if "expect" in tolerance else ""
            return f"{of}jsonpath {tolerance.get('path')!r}{expect}"
        if kind == "range":
            low, high = (tolerance.get("range") or [None, None])[:2]
            return f"{of}within [{low}, {high}]"
        if kind == "probe":
            return f"probe {(tolerance.get('provider') or {}).get('func') or tolerance.get('name')!r} says so"
    if isinstance(tolerance, list):
        return f"one of {json.dumps(tolerance)}"
    return f"== {json.dumps(tolerance)}"


def _describe(block: ChaosToolkitProbe) -> str:
    return f"{provider_words(block.activity)}, holds while {tolerance_words(block.activity.get('tolerance'))}"


KIND = ProbeKind(name="chaostoolkit", model=ChaosToolkitProbe, words="Chaos Toolkit probe", describe=_describe,
                 runner=_runner)
