"""Runs the actions of plugin action kinds (``ActionKind.apply``) for one run: the
:class:`~chaos.policy.actuators.ActionRunner` the driver gives every target's actuators.

A plugin's own failure becomes an :class:`~chaos.errors.ActuatorError` (the decider escalates it),
never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chaos import registry
from chaos.errors import ActuatorError, ChaosError
from chaos.model.kinds import ActionIO
from chaos.policy.actions import Decision, PluginAction


class PluginActions:
    def __init__(self, run_id: str, experiment: str, environ: Mapping[str, str], state_dir: Path) -> None:
        self.run_id = run_id
        self.experiment = experiment
        self.environ = environ
        self.state_dir = state_dir

    async def run_action(self, decision: Decision) -> str:
        action = decision.action
        if not isinstance(action, PluginAction):
            raise ActuatorError(f"{decision.id} is not a plugin action")
        kind = registry.actions.get(action.action)
        if kind is None or kind.apply is None:
            raise ActuatorError(f"{decision.id}: no action kind {action.action!r} with an apply is installed")
        io = ActionIO(run_id=self.run_id, experiment=self.experiment, decision_id=decision.id,
                      environ=self.environ, state_dir=self.state_dir)
        try:
            return await kind.apply(action.with_, io)
        except ChaosError:
            raise
        except Exception as exc:  # a plugin's own bug: an action that failed, escalated like any other
            origin = registry.actions.origin(action.action)
            by = f" ({origin.distribution})" if origin is not None else ""
            raise ActuatorError(f"action {action.action}{by} failed: {type(exc).__name__}: {exc}") from exc
