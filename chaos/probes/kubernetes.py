"""``kubernetes`` probe: the workload's health straight from the API server (no Prometheus needed).

Three checks, one per probe (each one breached evaluation of its SLO when it does not hold):

* ``{kind: Deployment|StatefulSet, name, condition: Available}``: the object's status condition of
  that type is ``True`` (a StatefulSet has no such conditions: ``condition: Ready`` there means
  every replica ready);
* ``{selector: {app: order}, minReady: 2}`` (or ``{kind, name, minReady}``): at least N ready pods;
* ``{selector: {app: order}, maxRestarts: 0}``: the matching pods' containers restarted at most N
  times since the probe started (its first observation is the baseline).

The namespace defaults to the experiment's ``target.namespace``. The runner is
:class:`chaos.clients.kube.probe.KubeProbeRunner` (the official client, in a worker thread).
"""

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from chaos.model.base import Model
from chaos.model.kinds import ProbeContext, ProbeKind, ProbeRunner


class KubernetesProbe(Model):
    kind: Literal["Deployment", "StatefulSet"] | None = None
    name: str | None = None
    namespace: str | None = None
    condition: str | None = None
    """A status condition type of the workload that must be ``True`` (``Available``, ``Progressing``)."""
    selector: dict[str, str] | None = None
    """Pod labels (``minReady``/``maxRestarts``); default: the workload's own selector."""
    min_ready: int | None = Field(default=None, ge=0, le=100_000)
    max_restarts: int | None = Field(default=None, ge=0, le=100_000)

    @model_validator(mode="after")
    def _one_check(self) -> Self:
        checks = [c for c in ("condition", "min_ready", "max_restarts") if getattr(self, c) is not None]
        if len(checks) != 1:
            raise ValueError("a kubernetes probe checks exactly one of condition, minReady, maxRestarts")
        if (self.kind is None) != (self.name is None):
            raise ValueError("kind and name go together (a Deployment or StatefulSet by name)")
        if self.condition is not None and self.kind is None:
            raise ValueError("condition needs kind and name (the workload whose condition is read)")
        if self.condition is None and self.kind is None and not self.selector:
            raise ValueError("minReady/maxRestarts need selector (pod labels) or kind and name")
        return self

    @property
    def check(self) -> str:
        if self.condition is not None:
            return "condition"
        return "min-ready" if self.min_ready is not None else "max-restarts"


def _describe(block: Any) -> str:
    assert isinstance(block, KubernetesProbe)
    where = f"{block.kind} {block.namespace + '/' if block.namespace else ''}{block.name}" if block.kind else \
        "pods " + ",".join(f"{k}={v}" for k, v in sorted((block.selector or {}).items()))
    if block.condition is not None:
        return f"{where} condition {block.condition}=True"
    if block.min_ready is not None:
        return f"{where}: at least {block.min_ready} ready pod(s)"
    return f"{where}: at most {block.max_restarts} container restart(s)"


def _runner(block: Any, ctx: ProbeContext) -> ProbeRunner:
    from chaos.clients.kube.probe import KubeProbeRunner

    assert isinstance(block, KubernetesProbe)
    return KubeProbeRunner(block, ctx)


KIND = ProbeKind(name="kubernetes", model=KubernetesProbe, words="Kubernetes probe", describe=_describe,
                 runner=_runner, needs=("kubernetes",))
