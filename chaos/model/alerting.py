"""The alerting loop's settings (``spec.alerting``): which Alertmanager, the alerts an experiment
expects (silenced for the fault window) and the labels of the alerts Aftershock sends. Pure values.

Matchers are written as Alertmanager/amtool writes them: ``alertname="CheckoutLatencyHigh"``,
``service=~"payment.*"``, ``severity!="info"``, ``team!~"ops|sre"``. Every matcher of ``silence``
must match for an alert to be silenced (one Alertmanager silence).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from chaos.model.base import Model, PublicUrl, SecretHeaders

_MATCHER_RE = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$')


def parse_matcher(text: str) -> dict[str, Any]:
    """``name="value"`` (``=``, ``!=``, ``=~``, ``!~``) → Alertmanager's API v2 matcher object."""
    found = _MATCHER_RE.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a matcher: write name=\"value\" (or !=, =~, !~), "
                         "e.g. alertname=\"CheckoutLatencyHigh\"")
    name, op, quoted, bare = found.groups()
    value = bytes(quoted, "utf-8").decode("unicode_escape") if quoted is not None else bare
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text!r}: the regular expression does not compile ({exc})") from exc
    return {"name": name, "value": value, "isRegex": op in ("=~", "!~"), "isEqual": op in ("=", "=~")}


def _check_matcher(text: str) -> str:
    parse_matcher(text)
    return text


Matcher = Annotated[str, AfterValidator(_check_matcher)]


class AlertReceiver(Model):
    """Where Aftershock's alerts go (a GameDay's ``alerting``; the base of an Experiment's)."""

    alertmanager: PublicUrl = Field(pattern=r"^https?://")
    """Alertmanager's base URL (API v2 under ``/api/v2``)."""
    labels: dict[str, str] = Field(default={})
    """Extra labels on every alert Aftershock sends (e.g. ``team``, ``severity``)."""
    report_url: str | None = None
    """Link put on alerts; ``{run_id}`` is replaced (default: the run's report file)."""
    headers: SecretHeaders = Field(default={})
    """Sent to Alertmanager (e.g. ``Authorization``), values from the environment."""


class Alerting(AlertReceiver):
    """``spec.alerting``: silence the expected alerts during the run; alert on what nobody answered."""

    silence: list[Matcher] = Field(default=[], max_length=64)
    """The alerts this experiment expects: silenced from before the first injection until the run
    ends (and at the latest when its faults and recovery could have ended)."""

    def matchers(self) -> list[dict[str, Any]]:
        return [parse_matcher(m) for m in self.silence]
