"""How an engine reaches its state, Prometheus and targets: :class:`EngineSettings` (a leaf value).

Built by the commands (``run``, ``demo``, ``tui``) from their options; read by
``chaos.engine.driver`` and the targets (``chaos.targets``). No I/O, no imports of clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EngineSettings:
    """How the engine reaches its state, Prometheus and targets."""

    state_dir: Path | None = None
    """State directory (SQLite, journals, watchdog pid files); default: the user's state dir."""
    prometheus: str | None = None
    """Overrides ``spec.monitor.prometheus`` of every experiment."""
    prometheus_token_file: str | None = None
    """Overrides ``spec.monitor.bearerTokenFile`` of every experiment (``AFTERSHOCK_PROMETHEUS_TOKEN_FILE``:
    the in-cluster Job reads its token from a Secret mounted there)."""
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    reaper: bool = True
    """Kubernetes: create the dead-man's-switch reaper Job with each run."""
    force: bool = False
    """Kubernetes: warn instead of refusing when other chaos objects target the same pods."""
    environ: Mapping[str, str] | None = None
