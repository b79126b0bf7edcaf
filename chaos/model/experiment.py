"""The experiment document: ``apiVersion: aftershock/v1alpha1``, ``kind: Experiment``.

Field names are the contract of ``shared/design/experiment-format.md``. Cross-references
(SLO names in policies and steadyState, duplicate names, blast radius) are checked by
``chaos.model.checks`` so every problem gets its own field path. Pure values.
"""

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from chaos import registry
from chaos.model.alerting import Alerting
from chaos.model.base import DnsLabel, Model, check_cron
from chaos.model.faults import FaultBase
from chaos.model.policies import PolicyBase
from chaos.model.slos import Gate, MonitorSpec, Recovery, Slo


def _union(models: list[type[Any]], discriminator: str) -> Any:
    """The discriminated union of ``models`` (one model alone needs no discriminator)."""
    if not models:
        raise registry.UnusableKind(f"no kind is registered for {discriminator!r}: the aftershock "
                                    "distribution's entry points are missing (reinstall it)")
    union = reduce(or_, models)
    return Annotated[union, Field(discriminator=discriminator)] if len(models) > 1 else union


if TYPE_CHECKING:
    Fault = FaultBase
else:
    Fault = _union([kind.model for kind in registry.faults.all().values()], "type")
    """Every registered fault kind's class, told apart by ``type``."""

if TYPE_CHECKING:
    Policy = PolicyBase
else:
    Policy = _union([kind.model for kind in registry.actions.all().values()], "action")
    """Every registered action's policy class, told apart by ``action``."""

FAULT_TYPES: tuple[str, ...] = registry.faults.names()
ACTIONS: tuple[str, ...] = registry.actions.names()


class Metadata(Model):
    name: DnsLabel
    description: str = ""
    labels: dict[str, str] = Field(default={})


class Target(Model):
    """Where faults go: a Kubernetes cluster (Chaos Mesh) or this host."""

    type: Literal["kubernetes", "host"] = "kubernetes"
    context: str | None = None
    """Kubernetes: kubeconfig context (default: current)."""
    namespace: str = "default"
    """Kubernetes: default namespace of selectors."""


class BlastRadius(Model):
    max_targets: int | None = Field(default=None, ge=1)
    max_percent: float | None = Field(default=None, gt=0, le=100)
    namespaces: list[str] = Field(default=[])
    """Selectors may only reach these (default: the target namespace)."""
    allow_system_namespaces: bool = False


class Schedule(Model):
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from exc
        return value


class Spec(Model):
    parameters: dict[str, Any] = Field(default={})
    target: Target = Field(default_factory=Target)
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    faults: list[Fault] = Field(min_length=1, max_length=64)
    slos: list[Slo] = Field(default=[], max_length=1000)
    steady_state: list[str] = Field(default=[])
    policies: list[Policy] = Field(default=[], max_length=100)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    schedule: Schedule | None = None
    gate: Gate | None = None
    recovery: Recovery = Field(default_factory=Recovery)
    alerting: Alerting | None = None

    @field_validator("gate", mode="before")
    @classmethod
    def _not_the_old_gate(cls, value: Any) -> Any:
        # Until this release, an experiment's `gate: {slo, minBudget}` read the remaining budget (%) from the
        # SLO's value. The same two keys now mean the budget computed from the SLO's objective (as in
        # a GameDay); a file written for the old meaning must not silently change meaning, so that
        # exact shape is refused with the fix.
        if isinstance(value, dict) and set(value) == {"slo", "minBudget"}:
            raise ValueError(
                "`gate: {slo, minBudget}` no longer reads a remaining budget (%) from the SLO's value: the gate "
                "now computes the error budget from the SLO's objective over a window, as a GameDay's gate does. "
                f"Fix: name an SLO whose objective the budget is about (not one returning a budget %) and write "
                f"`target:` (the share of time, %, its objective must hold), e.g. "
                f"`gate: {{slo: {value['slo']}, minBudget: {value['minBudget']}, target: 99}}`; window (default 24h) "
                "and maxBurnRate are optional")
        return value

    def slo(self, name: str) -> Slo:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(name)

    @property
    def fault_window_s(self) -> float:
        """Longest fault duration: how long the run injects (Chaos Toolkit export, in-cluster bounds)."""
        return max(f.duration_s for f in self.faults)


class Experiment(Model):
    api_version: Literal["aftershock/v1alpha1"]
    kind: Literal["Experiment"]
    metadata: Metadata
    spec: Spec

    @property
    def name(self) -> str:
        return self.metadata.name
