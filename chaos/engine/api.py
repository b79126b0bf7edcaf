"""What a front end (CLI, TUI) may ask of an engine: the ``EngineAPI`` protocol.

The implementation is ``chaos.engine.driver.Engine`` (the TUI tests run it over a scripted world
of injected collaborators). Front ends never reach below this (no clients, no Prometheus):
they launch, subscribe to :mod:`chaos.engine.events`, abort, and read history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos.engine.events import Event, RunFinished
from chaos.loading import Loaded

Listener = Callable[[Event], None]


@dataclass(frozen=True)
class PlannedFault:
    """One fault as it would be injected (what ``--dry-run`` and the TUI's detail view show)."""

    fault: str
    fault_type: str
    description: str
    """One line: e.g. ``NetworkChaos shop/payment-latency-... delay 500ms`` or ``proxy 127.0.0.1:18080 latency 500ms``."""
    manifest: str = ""
    """YAML of the object (Kubernetes) or the rule/proxy fault (host)."""
    targets: tuple[str, ...] = ()
    """Resolved targets where known (pods, listeners, ports)."""


@dataclass(frozen=True)
class Plan:
    """What a dry run shows: the faults as they would be applied and the SLOs' current values."""

    run_id: str
    experiment: str
    target: str
    faults: tuple[PlannedFault, ...] = ()
    slo_values: dict[str, float | None] = field(default_factory=dict)
    """Current value of each SLO (None without data / Prometheus unreachable)."""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """One row of the run history."""

    run_id: str
    experiment: str
    verdict: str
    started: float
    duration: float
    source: str = ""
    alive: bool = False


class EngineAPI(Protocol):
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event of every run (from the engine's loop); returns an unsubscribe."""
        ...

    async def plan(self, loaded: Loaded) -> Plan:
        """What a run would do, changing nothing."""
        ...

    async def launch(self, loaded: Loaded, *, run_id: str | None = None) -> str:
        """Start a run in the background; returns its id at once."""
        ...

    async def wait(self, run_id: str) -> RunFinished:
        ...

    async def abort(self, run_id: str) -> None:
        """Stop the run now: faults removed first, then everything else (verdict aborted)."""
        ...

    async def rollback_now(self, run_id: str) -> None:
        """Remove every fault of the run now and continue into recovery (like a rollback policy)."""
        ...

    def history(self, limit: int = 100) -> list[RunSummary]:
        ...

    def journal(self, run_id: str) -> dict[str, Any]:
        ...
