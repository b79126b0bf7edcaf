"""Mitigations: a decision applied with its undo written ahead (and the undo watchdog armed before
it), the run's record of open mitigations kept current, plugin actions' undos reverted at the end.

A part of :class:`chaos.engine.driver.Engine` (the ``Apply`` and ``ApplyRevert`` steps of
:func:`chaos.engine.runs.lifecycle`, and the end of a run); callers: the driver package only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.driver.state import EngineParts, RunState
from chaos.engine.policy_bridge import action_name
from chaos.errors import ChaosError
from chaos.policy.actions import CircuitBreak, Decision, ShrinkFault
from chaos.policy.actions import Revert as UndoStep

if TYPE_CHECKING:  # the undo records come with the first mitigation, not on a run's way to injection
    from chaos.targets.undo import UndoItem


class Mitigations(EngineParts):
    """Applying decisions and keeping their undo plan."""

    async def _apply(self, run: RunState, decision: Decision) -> rm.ApplyOutcome:
        from chaos.targets.undo import PluginUndo, write_ahead

        try:
            ahead = write_ahead(decision, run.experiment.name)
        except ChaosError as exc:  # a plugin's undo that cannot be recorded: the action is not applied
            self.store.record_action(run.run_id, decision.id, action_name(decision),
                                     {"summary": decision.action.summary(), "ok": False, "error": str(exc)}, "failed")
            return rm.ApplyOutcome(at=self.clock.wall(), ok=False, detail=decision.action.summary(), error=str(exc))
        plugin = [i for i in ahead if isinstance(i, PluginUndo)]
        ahead = [i for i in ahead if not isinstance(i, PluginUndo)]
        run.plugin_undos += plugin  # kept in every plan from now on, until the run reverts them
        if ahead or plugin:  # a kill -9 between the call and the record below must not leave it unrecorded
            self._save_undo(run, ahead)
        from chaos.policy import executor  # after the first injection: the policy engine's own

        out = await executor.apply(decision, run.actuators, run.bridge.ledger, at=self.clock.wall())
        action = decision.action
        self.store.record_action(run.run_id, decision.id, action_name(decision),
                                 {"summary": action.summary(), "ok": out.ok, "error": out.error},
                                 "applied" if out.ok else "failed")
        self._save_undo(run)
        at, detail = self.clock.wall(), out.note or action.summary()
        if isinstance(action, CircuitBreak):
            return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error, breaker=action.phase,
                                   weight=action.weight if action.weight is not None else 100)
        if isinstance(action, ShrinkFault):
            return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error, shrunk=action.as_params)
        return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error)

    def _save_undo(self, run: RunState, ahead: Sequence[UndoItem] = ()) -> None:
        """Keep the store's record of open mitigations current (``recover`` reverts a dead run's);
        ``ahead``: items of a mitigation about to be applied (written before it, like a fault)."""
        from chaos.targets import undo_watchdog
        from chaos.targets.undo import credential_hosts, describe_open, undo_to_record, undo_window

        if run.dry_run or run.target is None:
            return
        context = run.target.undo_context()
        items = describe_open(run.bridge.ledger, default_proxy=context.default_proxy,
                              namespace=self.settings.namespace or run.experiment.spec.target.namespace,
                              kube=context.kube)
        items = [*items, *run.plugin_undos]
        if (items or ahead) and run.undo_deadline is None:
            # the run's bound, fixed with its first mitigation (all of them come after the first injection);
            # real time, not the run's clock: a detached process enforces it
            run.undo_deadline = time.time() + undo_window(run.experiment)
        self.store.record_undo(run.run_id, [undo_to_record(i, run.undo_deadline) for i in [*items, *ahead]])
        if (items or ahead) and run.undo_watchdog is None:
            # armed after the write-ahead record and before the mitigation is applied: enforced after a kill -9
            run.undo_watchdog = undo_watchdog.arm(self.store.dir, run.run_id, credential_hosts(run.experiment))

    async def _revert_plugins(self, run: RunState) -> list[str]:
        """Revert the applied plugin actions that declared an undo (the run is ending) → what is left."""
        from chaos.targets.undo import PluginUndo, describe, execute

        left: list[str] = []
        kept: list[UndoItem] = []
        for item in run.plugin_undos:
            assert isinstance(item, PluginUndo)
            try:
                detail = await execute(item, self.environ, run.run_id, state_dir=self.store.dir)
            except ChaosError as exc:
                kept.append(item)
                left.append(f"{describe(item)}: {exc}")
                self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(), level="error",
                                             message=f"revert of {describe(item)} failed: {exc}; "
                                                     "`aftershock recover` tries again"))
                continue
            self._publish(run, ev.Reverted(run_id=run.run_id, at=self.clock.wall(), decision_id=item.decision_id,
                                           action=item.action, detail=detail))
        if run.plugin_undos:
            run.plugin_undos = kept
            self._save_undo(run)
        return left

    @staticmethod
    def _restored(run: RunState, item: UndoStep) -> rm.RestoredWeight | None:
        """For a restored weight: the service, the weight and the policy (for ``BreakerChanged``)."""
        if item.kind != "restore-weight" or item.weight_target is None:
            return None
        issued = run.bridge.decider.issued(item.id.removeprefix("revert:"))
        return rm.RestoredWeight(policy=issued.policy if issued is not None else "",
                                 service=item.weight_target.service,
                                 weight=item.weight if item.weight is not None else 100)
