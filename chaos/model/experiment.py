"""The experiment document: ``apiVersion: aftershock/v1alpha1``, ``kind: Experiment``.

Field names are the contract of ``shared/design/experiment-format.md``. Cross-references
(SLO names in policies and steadyState, duplicate names, blast radius) are checked by
``chaos.model.checks`` so every problem gets its own field path. Pure values.

The ``faults`` and ``policies`` items are the registered kinds' classes, told apart by ``type`` and
``action``: importing this module imports no kind. :class:`Experiment` holds every registered kind
(its unions are made when pydantic first builds its validator: the JSON Schema, direct
``model_validate``); the loader validates with :func:`experiment_model`, the same classes narrowed to
the kinds a file names, so a run or ``validate`` imports and builds only those.
"""

import functools
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, create_model, field_validator
from pydantic_core import CoreSchema

from chaos import registry
from chaos.model.alerting import Alerting
from chaos.model.base import DnsLabel, Model, check_cron
from chaos.model.faults import FaultBase
from chaos.model.policies import PolicyBase
from chaos.model.slos import Gate, MonitorSpec, ProbeBase, ProbeKinds, Recovery, Slo, probe_names


def _union(models: list[type[Any]], discriminator: str) -> Any:
    """The discriminated union of ``models`` (one model alone needs no discriminator)."""
    if not models:
        raise registry.UnusableKind(f"no kind is registered for {discriminator!r}: the aftershock "
                                    "distribution's entry points are missing (reinstall it)")
    union = reduce(or_, models)
    return Annotated[union, Field(discriminator=discriminator)] if len(models) > 1 else union


class KindUnion:
    """Annotation marker: the discriminated union of one registry group's kinds (``names``, or every
    registered one), made when pydantic builds the validator rather than when the module is imported
    — so importing the model imports no kind module, and a model narrowed to the kinds an experiment
    names (:func:`experiment_model`) imports and builds only those."""

    def __init__(self, group: str, discriminator: str, names: tuple[str, ...] | None = None) -> None:
        self.group = group
        """``faults`` or ``actions`` (the :mod:`chaos.registry` attribute)."""
        self.discriminator = discriminator
        self.names = names

    def models(self) -> tuple[type[Any], ...]:
        kinds: registry.KindGroup[Any] = getattr(registry, self.group)
        if self.names is None:
            return tuple(kind.model for kind in kinds.all().values())
        return tuple(kinds.require(name).model for name in self.names)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        if self.names == ():  # a narrowed model's empty list (no policies): its items are never validated
            return handler(source)
        return handler.generate_schema(_union(list(self.models()), self.discriminator))


if TYPE_CHECKING:
    Fault = FaultBase
    Policy = PolicyBase
else:
    Fault = Annotated[FaultBase, KindUnion("faults", "type")]
    """Every registered fault kind's class, told apart by ``type``."""
    Policy = Annotated[PolicyBase, KindUnion("actions", "action")]
    """Every registered action's policy class, told apart by ``action``."""

if TYPE_CHECKING:
    FAULT_TYPES: tuple[str, ...]
    ACTIONS: tuple[str, ...]


def __getattr__(name: str) -> Any:
    # read from the registry when asked for (the names only: no kind module is imported)
    if name == "FAULT_TYPES":
        return registry.faults.names()
    if name == "ACTIONS":
        return registry.actions.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # a schedule's time zone only (~3 ms to import)

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from exc
        return value


_FAULTS: dict[str, Any] = {"min_length": 1, "max_length": 64}
_SLOS: dict[str, Any] = {"default": [], "max_length": 1000}
_POLICIES: dict[str, Any] = {"default": [], "max_length": 100}
"""The list fields whose items are kinds: the same bounds on :class:`Spec` and its narrowed copies."""


class Spec(Model):
    parameters: dict[str, Any] = Field(default={})
    target: Target = Field(default_factory=Target)
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    faults: list[Fault] = Field(**_FAULTS)
    slos: list[Slo] = Field(**_SLOS)
    steady_state: list[str] = Field(default=[])
    policies: list[Policy] = Field(**_POLICIES)
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


def kinds_named(doc: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    """The fault types, actions and probe kinds an experiment document names — each a registered name
    — or None when one is not (unknown, missing, not a string: the whole model then says what is wrong,
    in the words it always used). Reads the names only: imports no kind."""
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        return None
    found: list[tuple[str, ...]] = []
    for key, tag, known in (("faults", "type", registry.faults.names()),
                            ("policies", "action", registry.actions.names())):
        items = spec.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get(tag) in known for i in items):
            return None
        found.append(_ordered((i[tag] for i in items), known))
    slos = spec.get("slos", [])
    if not isinstance(slos, list):
        return None
    probes: set[str] = set()
    known_probes = registry.probes.names()
    for slo in slos:
        probe = slo.get("probe") if isinstance(slo, dict) else None
        if probe is None:
            continue
        names = probe_names(probe)
        if names is None or not set(names) <= set(known_probes):
            return None
        probes.update(names)
    return found[0], found[1], _ordered(probes, known_probes)


def _ordered(names: Iterable[str], known: tuple[str, ...]) -> tuple[str, ...]:
    wanted = set(names)
    return tuple(name for name in known if name in wanted)


def experiment_model(doc: Any) -> type[Experiment]:
    """The model class to validate ``doc`` with: :class:`Experiment` narrowed to the kinds the document
    names (only their modules imported, only their validators built; one class per set of kinds), or
    :class:`Experiment` itself — every registered kind — when it names one that is not registered."""
    named = kinds_named(doc)
    return Experiment if named is None else _narrowed(*named)


@functools.cache
def _narrowed(faults: tuple[str, ...], actions: tuple[str, ...], probes: tuple[str, ...]) -> type[Experiment]:
    # same class names as the full model: pydantic's messages name them ("an instance of Slo")
    probe: Any = Annotated[ProbeBase, ProbeKinds(probes)]
    slo = create_model("Slo", __base__=Slo, __module__=Slo.__module__, probe=(probe | None, None))
    fault: Any = Annotated[FaultBase, KindUnion("faults", "type", faults)]
    policy: Any = Annotated[PolicyBase, KindUnion("actions", "action", actions)]
    spec = create_model("Spec", __base__=Spec, __module__=__name__, faults=(list[fault], Field(**_FAULTS)),
                        policies=(list[policy], Field(**_POLICIES)), slos=(list[slo], Field(**_SLOS)))
    return create_model("Experiment", __base__=Experiment, __module__=__name__, spec=(spec, ...))
