"""Service-level objectives, the monitor's settings and the error-budget gate.

An :class:`Slo` is a PromQL query plus an objective; it is *breached* while the objective
does not hold. ``for`` and ``consecutive`` say how long a breach must persist before policies
see it (like a Prometheus alert's pending → firing). Pure values; evaluated by
``chaos.slo.evaluation`` and polled by ``chaos.slo.monitoring``.
"""

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from chaos.model.base import DnsLabel, Duration, Model, SecretHeaders
from chaos.model.durations import parse_duration
from chaos.secrets import Secret, split_userinfo

Op = Literal["<", "<=", ">", ">=", "==", "!="]


class Objective(Model):
    """What must hold: ``value <op> threshold``."""

    op: Op
    value: float

    def holds(self, observed: float) -> bool:
        """True when ``observed`` meets the objective. NaN never holds (it is 'no data')."""
        if math.isnan(observed):
            return False
        match self.op:
            case "<":
                return observed < self.value
            case "<=":
                return observed <= self.value
            case ">":
                return observed > self.value
            case ">=":
                return observed >= self.value
            case "==":
                return observed == self.value
            case "!=":
                return observed != self.value
        raise AssertionError(self.op)  # pragma: no cover

    def worse(self, a: float, b: float) -> bool:
        """True when ``a`` is further from holding than ``b`` (for 'worst value' reports)."""
        if self.op in ("<", "<="):
            return a > b
        if self.op in (">", ">="):
            return a < b
        return abs(a - self.value) > abs(b - self.value) if self.op == "==" else a == self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


class Slo(Model):
    """One objective over one PromQL query."""

    name: DnsLabel
    query: str = Field(min_length=1)
    objective: Objective
    for_: Duration = Field(default="0s", alias="for")
    """The breach must persist this long (evaluation time) before it fires; 0s = at once."""
    consecutive: int = Field(default=1, ge=1, le=1000)
    """Number of consecutive breaching ticks before it fires."""
    description: str = ""

    @property
    def for_s(self) -> float:
        return parse_duration(self.for_)


class BasicAuth(Model):
    username: str
    password_env: str | None = None
    password_file: str | None = None


class MonitorSpec(Model):
    """How SLOs are polled while a fault is live, and what a failing monitor means."""

    prometheus: str = "http://127.0.0.1:9090"
    """The URL without userinfo (stored and shown); userinfo goes to :attr:`prometheus_userinfo`."""
    prometheus_userinfo: Secret | None = Field(default=None, exclude=True, repr=False)
    """``user:password`` split off the written URL: sent as basic auth, never stored or shown."""
    interval: Duration = "1s"
    on_error: Literal["rollback", "abort", "continue"] = "rollback"
    """What happens after ``errorTolerance`` failed polls (fail closed by default)."""
    error_tolerance: int = Field(default=3, ge=1, le=1000)
    timeout: Duration = "5s"
    """Per-query timeout."""
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    headers: SecretHeaders = Field(default={})
    ca_bundle: str | None = None
    insecure: bool = False
    max_concurrency: int = Field(default=16, ge=1, le=256)

    @model_validator(mode="before")
    @classmethod
    def _split_userinfo(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("prometheus"), str):
            public, userinfo = split_userinfo(data["prometheus"])
            if userinfo is not None:
                data = {**data, "prometheus": public, "prometheus_userinfo": userinfo}
        return data

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_s(self) -> float:
        return parse_duration(self.timeout)


class Gate(Model):
    """Error-budget gate: do not start while the service is already burning budget."""

    slo: str
    """Name of an SLO whose query returns the remaining error budget (0-100 %)."""
    min_budget: float = Field(ge=0, le=100)


class Recovery(Model):
    timeout: Duration = "2m"
    """How long to wait for the steady state to return after faults are removed."""

    @property
    def timeout_s(self) -> float:
        return parse_duration(self.timeout)
