"""Service-level objectives, the monitor's settings and the error-budget gate.

An :class:`Slo` is a PromQL query plus an objective; it is *breached* while the objective
does not hold. ``for`` and ``consecutive`` say how long a breach must persist before policies
see it (like a Prometheus alert's pending → firing). Pure values; evaluated by
``chaos.slo.evaluation`` and polled by ``chaos.slo.monitoring``.
"""

import functools
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema

from chaos import registry
from chaos.model.base import DnsLabel, Duration, Model, SecretHeaders, Window
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


class ProbeBase(Model):
    """``slos[].probe``: exactly one registered probe kind (``http``, ``kubernetes``, a plugin's) and
    its ``interval``. The class users get is built from the registry (:func:`probe_model`)."""

    interval: Duration | None = None
    """How often the probe runs during the fault window (default: ``monitor.interval``)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        kinds = [name for name in registry.probes.names() if getattr(self, _field(name), None) is not None]
        if len(kinds) != 1:
            names = " or ".join(registry.probes.names()) or "a registered probe"
            raise ValueError(f"a probe needs exactly one of {names}" + (f" (got {', '.join(kinds)})" if kinds else ""))
        return self

    @property
    def kind(self) -> str:
        """The probe kind's name (the key written under ``probe:``)."""
        return next(name for name in registry.probes.names() if getattr(self, _field(name), None) is not None)

    @property
    def block(self) -> BaseModel:
        """The kind's own settings (the block under its key)."""
        found = getattr(self, _field(self.kind))
        assert isinstance(found, BaseModel)
        return found

    def interval_s(self, default: float) -> float:
        return parse_duration(self.interval) if self.interval is not None else default

    def describe(self) -> str:
        return f"probe {self.kind}: {registry.probes.require(self.kind).describe(self.block)}"


def _field(name: str) -> str:
    """The attribute of a probe kind's block (``http``; ``my-probe`` → ``my_probe``)."""
    return name.replace("-", "_")


def probe_names(block: Any) -> tuple[str, ...] | None:
    """The probe kinds a ``probe:`` block names (its keys but ``interval``), or None when it is not a
    mapping of string keys."""
    if not isinstance(block, dict) or not all(isinstance(key, str) for key in block):
        return None
    return tuple(key for key in block if key != "interval")


@functools.cache
def probe_model(names: tuple[str, ...] | None = None) -> type[ProbeBase]:
    """The ``probe`` class of the probe kinds ``names`` (None: every registered one), each an optional
    key (exactly one set); the kinds' modules are imported now."""
    kinds = registry.probes.all() if names is None else {name: registry.probes.require(name) for name in names}
    fields: dict[str, Any] = {_field(name): (kind.model | None, Field(default=None, alias=name))
                              for name, kind in kinds.items()}
    return create_model("Probe", __base__=ProbeBase, __module__=__name__, **fields)


class ProbeKinds:
    """Annotation marker: the ``probe`` class of the probe kinds ``names`` (None: every registered
    one), made when pydantic builds the validator, not at import (see ``chaos.model.experiment.KindUnion``)."""

    def __init__(self, names: tuple[str, ...] | None = None) -> None:
        self.names = names

    def model(self) -> type[ProbeBase]:
        return probe_model(self.names)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self.model())


if TYPE_CHECKING:
    Probe = ProbeBase
else:
    Probe = Annotated[ProbeBase, ProbeKinds()]
    """Every registered probe kind as an optional key (exactly one set)."""

PROBE_OBJECTIVE = {"op": "==", "value": 1}
_PROBE_QUERY = "\x00probe"
"""Stands in for the query of a probe SLO while it is validated (an SLO needs one of the two)."""
"""A probe SLO's objective: its value is 1 while the probe holds, 0 when it fails."""


def _slo_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: ``objective`` is filled in for a probe SLO, so it is required only with a query."""
    schema["required"] = [r for r in schema.get("required", []) if r != "objective"]
    schema["anyOf"] = [{"required": ["probe"]}, {"required": ["query", "objective"]}]


class Slo(Model):
    """One objective over one PromQL query, or a probe (``probe``: holds while the probe succeeds)."""

    model_config = ConfigDict(**Model.model_config, json_schema_extra=_slo_schema)

    name: DnsLabel
    probe: Probe | None = None
    query: str = Field(default="", validate_default=True)
    """PromQL (empty for a probe SLO)."""
    objective: Objective
    for_: Duration = Field(default="0s", alias="for")
    """The breach must persist this long (evaluation time) before it fires; 0s = at once."""
    consecutive: int = Field(default=1, ge=1, le=1000)
    """Number of consecutive breaching ticks before it fires."""
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _probe_objective(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("probe") is not None:
            if data.get("objective") is not None and data["objective"] != PROBE_OBJECTIVE:
                raise ValueError("a probe SLO holds while its probe succeeds: leave out objective (put "
                                 "thresholds in the probe: timeout, expectStatus, minReady, maxRestarts)")
            if data.get("query"):
                raise ValueError("an SLO has either a query (PromQL) or a probe, not both")
            data = {**data, "objective": PROBE_OBJECTIVE, "query": _PROBE_QUERY}
        return data

    @field_validator("query")
    @classmethod
    def _query_or_probe(cls, value: str) -> str:
        if value == _PROBE_QUERY:
            return ""  # a probe SLO (even one whose probe block is refused: that is the problem to show)
        if not value:
            raise ValueError("String should have at least 1 character: an SLO needs a query (PromQL) or a "
                             "probe (e.g. probe: {http: {url: ...}})")
        return value

    @property
    def for_s(self) -> float:
        return parse_duration(self.for_)

    @property
    def is_probe(self) -> bool:
        return self.probe is not None

    @property
    def source(self) -> str:
        """What the SLO watches, in words: its PromQL, or its probe."""
        return self.probe.describe() if self.probe is not None else self.query


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
    """Error-budget gate: do not start while the error budget of ``slo`` is low or burning fast.

    The same in an Experiment (checked before `aftershock run` injects) and in a GameDay (checked
    before the game day starts). The budget is computed from the SLO's own objective: the bad ratio
    over a window is the share of time the objective did not hold; the budget is `1 - target/100`
    of that window."""

    slo: str
    """An SLO with a PromQL query (an experiment's own; in a GameDay, one of its experiments')."""
    experiment: str | None = None
    """GameDay only: the experiment (``metadata.name``) whose SLO it is, when several define one by that name."""
    min_budget: float | None = Field(default=None, ge=0, le=100)
    """Refuse while less than this % of the budget over ``window`` is left."""
    max_burn_rate: float | None = Field(default=None, gt=0)
    """Refuse while every burn window burns faster than this (1 = exactly on budget)."""
    target: float = Field(default=99.0, gt=0, lt=100)
    """Share of time (%) the SLO's objective must hold: the budget is the rest."""
    window: Window = "24h"
    """The budget window (minBudget)."""
    burn_windows: list[Window] = Field(default_factory=lambda: ["1h", "5m"], min_length=1, max_length=4)
    """Multi-window burn rate: every window must burn faster than maxBurnRate to refuse."""

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.min_budget is None and self.max_burn_rate is None:
            raise ValueError("a gate needs minBudget and/or maxBurnRate")
        return self


class Recovery(Model):
    timeout: Duration = "2m"
    """How long to wait for the steady state to return after faults are removed."""

    @property
    def timeout_s(self) -> float:
        return parse_duration(self.timeout)
