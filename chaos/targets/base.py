"""The one seam between the driver and the place faults are realised: :class:`RunTarget`.

A target is built per run from a :class:`TargetContext` (by the driver's target factory) and
answers everything the driver needs of it — pre-flight, the write-ahead record of a fault,
inject, present, remove (the steps :mod:`chaos.targets.lifecycle` runs), the recovery actuators (shrink, degrade, weights), the context ``recover``
needs to undo its mitigations, close. The driver never branches on the target type.
Implemented by :class:`chaos.targets.host.HostRunTarget`,
:class:`chaos.targets.kubernetes.KubernetesRunTarget` and the tests' in-memory target; used by
``chaos.engine.driver``. A leaf module: types only, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chaos.engine.settings import EngineSettings
from chaos.loading import Loaded
from chaos.policy.actuators import Actuators

if TYPE_CHECKING:
    from chaos.clients.state import StateStore
    from chaos.targets.lifecycle import Removal

Realisation = dict[str, Any]
"""How one injected fault exists (what the state store records, so ``recover`` can remove it)."""


@dataclass(frozen=True)
class TargetContext:
    """What a target of one run is built from."""

    run_id: str
    loaded: Loaded
    store: StateStore
    settings: EngineSettings = field(default_factory=EngineSettings)
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.store.dir


@dataclass(frozen=True)
class UndoContext:
    """Where a target's mitigations are undone from later (``recover`` of a dead run)."""

    default_proxy: Mapping[str, Any] | None = None
    """Host: the fault proxy whose admin endpoint carries circuit-break weights without ``with.admin``."""
    kube: Mapping[str, Any] | None = None
    """Kubernetes: kubeconfig, context and namespace of the run."""


class RunTarget(Protocol):
    @property
    def recover_kinds(self) -> tuple[str, ...]:
        """Realisation kinds (``proxy``, ``iptables``, ``tc``, ``kubernetes``) of dead runs this
        target's pre-flight recovers first."""
        ...

    async def preflight(self) -> tuple[list[str], list[str]]:
        """Checks passed and concrete targets; raises a ChaosError naming what is missing."""
        ...

    def planned_realisation(self, fault: str, deadline: float) -> Realisation:
        """The write-ahead record of ``fault`` (before it exists anywhere)."""
        ...

    async def inject(self, fault: str, deadline: float) -> Realisation:
        """Inject ``fault`` bounded by ``deadline`` (epoch seconds); returns its realisation."""
        ...

    async def remove(self, realisation: Mapping[str, Any]) -> Removal:
        """Remove one recorded fault (idempotent): :class:`~chaos.targets.lifecycle.Removed` or
        :class:`~chaos.targets.lifecycle.AlreadyGone`, with what was done in words."""
        ...

    async def present(self, realisation: Mapping[str, Any]) -> bool | None:
        """Whether the injector still has this fault (None: cannot tell), to notice one removed under us."""
        ...

    def actuators(self, http: Sequence[object]) -> Actuators:
        """The recovery actuators of this target, with the HTTP ones (degrade, notify) of the run."""
        ...

    def undo_context(self) -> UndoContext:
        ...

    async def close(self) -> None:
        ...
