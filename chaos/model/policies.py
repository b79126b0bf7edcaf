"""Recovery policies: what every policy has (:class:`PolicyBase`: ``name``, ``when``, ``escalate``,
``keep``) and the ``with`` blocks of the product's actions. Each ``action`` is one kind module
(``chaos.actions.<name>``, or a plugin's) holding its policy class; the union ``Policy`` is built from
the kinds registry.

Evaluated in file order on every monitor tick by ``chaos.policy.decisions`` (pure); the
``with`` block of each action is typed here so a bad policy is refused before anything is
injected. Pure values.
"""

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from chaos.model.base import DnsLabel, Duration, Model, PublicUrl, SecretHeaders
from chaos.model.faults import Mode, Percent


class When(Model):
    """Trigger of a policy: an SLO (or ``monitor`` for 'Prometheus unavailable')."""

    slo: str
    consecutive: int | None = Field(default=None, ge=1, le=1000)
    """Overrides the SLO's own ``consecutive``."""
    for_: Duration | None = Field(default=None, alias="for")
    """Overrides the SLO's own ``for``."""


class Escalate(Model):
    """If the action did not bring its SLO back within ``after``, fire ``to``."""

    after: Duration
    to: str = "rollback"
    """A registered action (``chaos.registry.actions``)."""

    @field_validator("to")
    @classmethod
    def _known_action(cls, value: str) -> str:
        from chaos import registry

        kind = registry.actions.get(value)
        if kind is None or not kind.escalation_target:
            names = [k.name for k in registry.actions.all().values() if k.escalation_target]
            problem = registry.actions.unknown(value)
            hint = problem.hint if "did you mean" in problem.hint else f"one of {', '.join(names)}"
            raise ValueError(f"{problem.message} ({hint})")
        return value


class HttpCall(Model):
    """An HTTP request made by degrade, its revert, or notify."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: PublicUrl = Field(pattern=r"^https?://")
    headers: SecretHeaders = Field(default={})
    json_: Any = Field(default=None, alias="json")
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: Duration = "5s"
    retries: int = Field(default=2, ge=0, le=10)


class KubePatch(Model):
    """A Kubernetes patch for degrade: ConfigMap data, Deployment env or annotations."""

    kind: Literal["ConfigMap", "Deployment"]
    name: str
    namespace: str | None = None
    data: dict[str, str] = Field(default={})
    env: dict[str, str] = Field(default={})
    """Deployment container env vars to set."""
    container: str | None = None
    annotations: dict[str, str] = Field(default={})

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.data or self.env or self.annotations):
            raise ValueError("a patch needs data, env or annotations")
        if self.kind == "ConfigMap" and self.env:
            raise ValueError("env applies to a Deployment, not a ConfigMap")
        if self.kind == "Deployment" and self.data:
            raise ValueError("data applies to a ConfigMap, not a Deployment")
        return self


class KubeDegrade(Model):
    patch: KubePatch


class RollbackWith(Model):
    faults: list[str] | None = None
    """Only these faults (default: every fault of the run)."""


class DegradeWith(Model):
    http: HttpCall | None = None
    kubernetes: KubeDegrade | None = None
    revert: HttpCall | None = None
    """How to undo an HTTP degrade (Kubernetes patches compute their own inverse)."""

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.http is None) == (self.kubernetes is None):
            raise ValueError("degrade needs exactly one of 'http' or 'kubernetes'")
        return self


class NotifyWith(Model):
    url: PublicUrl = Field(pattern=r"^https?://")
    headers: SecretHeaders = Field(default={})
    timeout: Duration = "5s"


class CircuitBreakWith(Model):
    service: str
    """Backend to take out of traffic (proxy upstream name, HTTPRoute/VirtualService backend)."""
    namespace: str | None = None
    weight: int = Field(default=0, ge=0, le=100)
    open_for: Duration = "30s"
    half_open_weight: int = Field(default=10, ge=1, le=100)
    half_open_probes: int = Field(default=3, ge=1, le=100)
    reset_after: Duration = "60s"
    """Closed: failure counts are cleared this long after the breaker (re)closed, then every period
    (gobreaker's ``Interval``); ``0s`` = never."""
    notify: NotifyWith | None = None
    """A webhook told of every state change (closed → open → half-open → closed), besides the
    ``BreakerChanged`` event and the ``aftershock_breaker_state`` metric."""
    admin: PublicUrl | None = None
    """Host target: admin URL of the proxy whose upstream weight is set (default: the fault's proxy)."""
    token_env: str | None = None
    token_file: str | None = None


class ShrinkWith(Model):
    fault: str
    percent: Percent | None = None
    latency: Duration | None = None
    jitter: Duration | None = None
    mode: Mode | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(v is None for v in (self.percent, self.latency, self.jitter, self.mode, self.value)):
            raise ValueError("shrink needs at least one of percent, latency, jitter, mode, value")
        return self


class EmptyWith(Model):
    pass


class PolicyBase(Model):
    """Fields every policy has; each action's class adds ``action: Literal["<its name>"]`` and ``with_``."""

    if TYPE_CHECKING:
        action: str
        with_: Any

    name: DnsLabel
    when: When
    escalate: Escalate | None = None
    keep: bool = False
    """Leave this action in place at the end of the run (the journal says so loudly)."""


def __getattr__(name: str) -> Any:
    """``Policy``: the union of every registered action's policy class (built in ``chaos.model.experiment``,
    since the action modules import this one)."""
    if name == "Policy":
        from chaos.model import experiment

        return experiment.Policy
    raise AttributeError(name)


if TYPE_CHECKING:
    Policy = PolicyBase
