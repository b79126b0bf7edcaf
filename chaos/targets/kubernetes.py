"""The Kubernetes target of a run: Chaos Mesh objects created, watched and deleted through
``chaos.clients.kube``, with pre-flight (CRDs, RBAC, blast radius, collisions, server-side dry
run), the reaper Job as dead-man's switch, and the recovery actuators (shrink by patch, degrade
by ConfigMap/Deployment patch, circuit-break by HTTPRoute/VirtualService weights).

:class:`KubernetesRunTarget` is the :class:`~chaos.targets.base.RunTarget` of a Kubernetes run
(built by ``chaos.engine.driver``); ``remove_kube_realisation`` deletes a recorded object from the
state store's record alone (for ``aftershock recover``, through :mod:`chaos.targets.recovery`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chaos import registry
from chaos.actions.circuit_break import CircuitBreakPolicy
from chaos.clients.kube import (
    DeleteReport,
    KubeClient,
    KubeSettings,
    Permission,
    RevertToken,
    WeightSnapshot,
    run_totals,
)
from chaos.clients.kube.rbac import policy_permissions
from chaos.compiling.kubernetes import CompiledFault, compile_experiment
from chaos.compiling.naming import RUN_LABEL
from chaos.errors import ActuatorError, ChaosError
from chaos.model.experiment import Experiment
from chaos.policy.actions import Decision, Degrade, RevertHandle, WeightTarget
from chaos.policy.actuators import Actuators, Degrader, RoutingDegrader
from chaos.targets.base import Realisation, TargetContext, UndoContext
from chaos.targets.lifecycle import Removal, Removed
from chaos.targets.realisations import KubeRealisation, realisation_from_record, realisation_to_record

log = logging.getLogger("aftershock.kubernetes")
INJECT_TIMEOUT_S = 60.0
"""Longest wait for Chaos Mesh to report a fault injected (never longer than the fault's duration)."""


REAPER_IMAGE_ENV = "AFTERSHOCK_REAPER_IMAGE"
"""Names the reaper's image (default :data:`chaos.version.RELEASE_IMAGE`); also read by
``aftershock rbac --reaper-image``."""


def kube_settings(kubeconfig: str | None, context: str | None, namespace: str | None,
                  reaper: bool = True) -> KubeSettings:
    settings = KubeSettings(kubeconfig=kubeconfig, context=context, namespace=namespace or "default",
                            reaper=reaper)
    image = os.environ.get(REAPER_IMAGE_ENV, "").strip()
    return dataclasses.replace(settings, reaper_image=image) if image else settings


def _with_namespace(exp: Experiment, namespace: str | None) -> Experiment:
    """``exp`` with ``-n/--namespace`` applied to ``spec.target.namespace`` (the selectors' default)."""
    if not namespace or namespace == exp.spec.target.namespace:
        return exp
    target = exp.spec.target.model_copy(update={"namespace": namespace})
    return exp.model_copy(update={"spec": exp.spec.model_copy(update={"target": target})})


class KubernetesRunTarget:
    recover_kinds = ("kubernetes",)

    def __init__(self, ctx: TargetContext) -> None:
        settings = ctx.settings
        self.settings = settings
        self.store = ctx.store
        self.run_id = ctx.run_id
        self._undo_deadline: str | None = None
        self.loaded = ctx.loaded
        self.experiment = _with_namespace(ctx.loaded.experiment, settings.namespace)
        exp = self.experiment
        self.namespace = exp.spec.target.namespace
        self.kube = kube_settings(settings.kubeconfig, settings.context or exp.spec.target.context,
                                  self.namespace, settings.reaper)
        # Recorded with every fault so `aftershock recover` reaches the same cluster later, even
        # when it runs with another KUBECONFIG.
        self.kubeconfig = self.kube.resolved_kubeconfig()
        self.client = KubeClient.from_settings(self.kube)
        self.objects: dict[str, CompiledFault] = {}
        self._reapers: dict[str, str] = {}
        """namespace → reaper Job name, for the namespaces this run has created one in."""
        self._created: set[str] = set()
        self._removed: set[str] = set()
        self.weight_undo: dict[str, dict[str, Any]] = {}
        """ns/service → the routes' snapshot before the first change, ``after`` = the weight in force
        now: what ``aftershock recover`` restores exactly after a crash (see chaos.targets.undo)."""

    async def preflight(self) -> tuple[list[str], list[str]]:
        exp = self.experiment
        objects = compile_experiment(exp, self.run_id, source=self.loaded.source, started_at=datetime.now(UTC))
        self.objects = {o.fault: o for o in objects}
        kinds = sorted({o.kind for o in objects})
        await self.client.check_chaos_mesh(kinds)
        checks = [f"Chaos Mesh CRDs present for {', '.join(kinds)}"]
        namespaces = sorted({o.namespace for o in objects})
        routes = (await self.client.served_route_kinds()
                  if any(isinstance(p, CircuitBreakPolicy) for p in exp.spec.policies) else [])
        extra: list[Permission] = policy_permissions(exp, self.namespace, routes)
        checked = await self.client.preflight_access(namespaces, extra, kinds=kinds)
        checks.append(f"RBAC: {len(checked)} permission(s) granted in {', '.join(namespaces)}")
        br = exp.spec.blast_radius
        targets: list[str] = []
        resolutions = []
        for obj in objects:
            resolution = await self.client.check_blast_radius(
                obj.body, max_targets=br.max_targets, max_percent=br.max_percent,
                allowed_namespaces=br.namespaces or [self.namespace],
                allow_system_namespaces=br.allow_system_namespaces)
            line = (f"{obj.kind} {obj.namespace}/{obj.name}: up to {resolution.affected} of "
                    f"{len(resolution.matching)} matching pod(s) ({', '.join(resolution.matching)})")
            if resolution.peers:
                line += f"; peers {', '.join(resolution.peers)}"
            targets.append(line)
            resolutions.append(resolution)
            for warning in await self.client.collision_check(obj.body, force=self.settings.force):
                checks.append(f"warning: {warning}")
            await self.client.create(obj.body, dry_run=True)
        checks.append("server-side dry run (dryRun=All) accepted every object")
        targets += [t.describe() for t in run_totals(resolutions, br.max_targets, br.max_percent)]
        return checks, targets

    def undo_deadline(self) -> str:
        """The deadline of this run's mitigations in the reaper's format (UTC), fixed with the first: the
        same bound as the undo plan's (:func:`chaos.targets.undo.undo_window`)."""
        if self._undo_deadline is None:
            from chaos.clients.kube.reap import DEADLINE_FORMAT
            from chaos.targets.undo import undo_window

            at = datetime.fromtimestamp(time.time() + undo_window(self.experiment), tz=UTC)
            self._undo_deadline = at.strftime(DEADLINE_FORMAT)
        return self._undo_deadline

    def planned_realisation(self, name: str, deadline: float = 0.0) -> Realisation:
        return realisation_to_record(self._planned(name))

    def _planned(self, name: str) -> KubeRealisation:
        obj = self.objects[name]
        return KubeRealisation(object=obj.body, description=f"{obj.kind} {obj.namespace}/{obj.name}",
                               kube={"kubeconfig": self.kubeconfig, "context": self.kube.context,
                                     "namespace": self.kube.namespace})

    def _reaper_deadline(self, name: str, deadline: float) -> datetime:
        """When the reaper of ``name``'s namespace fires: the latest deadline of the faults there,
        counted from this one's (faults are recorded one after the other, each with its own duration)."""
        obj = self.objects[name]
        durations = {f.name: f.duration_s for f in self.experiment.spec.faults}
        longest = max(durations[f] for f, o in self.objects.items() if o.namespace == obj.namespace)
        return datetime.fromtimestamp(deadline - durations[name] + longest, tz=UTC)

    async def inject(self, name: str, deadline: float) -> Realisation:
        obj = self.objects[name]
        planned = self._planned(name)
        if self.kube.reaper and obj.namespace not in self._reapers:
            kinds = sorted({o.kind for o in self.objects.values() if o.namespace == obj.namespace})
            reaper = await self.client.create_reaper(self.run_id, obj.namespace,
                                                     self._reaper_deadline(name, deadline), kinds=kinds)
            self._reapers[obj.namespace] = str((reaper or {}).get("job", ""))
        if obj.namespace in self._reapers:
            planned = dataclasses.replace(planned, reaper=self._reapers[obj.namespace])
        self._created.add(name)
        await self.client.create(obj.body)
        try:
            duration = next(f.duration_s for f in self.experiment.spec.faults if f.name == name)
            status = await self.client.wait_injected(obj.body, min(INJECT_TIMEOUT_S, duration))
        except ChaosError:
            try:
                await self.client.delete(obj.body)
                self._removed.add(name)
            except ChaosError as exc:  # the engine removes it again; keep the first error
                log.warning("removing %s after a failed injection: %s", name, exc)
            raise
        return realisation_to_record(dataclasses.replace(planned, status=status))

    async def remove(self, realisation: Mapping[str, Any]) -> Removal:
        body = _kube(realisation).object
        report = await self.client.delete(body)
        self._removed.update(n for n, o in self.objects.items() if o.name == body["metadata"]["name"])
        return Removed(f"{report.object} deleted (attempts {report.attempts}, {report.waited:g}s)"
                       + _forced_words(report))

    async def present(self, realisation: Mapping[str, Any]) -> bool | None:
        return None  # Chaos Mesh reports its own state; the driver does not poll the API server for it

    async def shrink(self, realisation: Mapping[str, Any], params: Mapping[str, Any],
                     fault_type: str = "chaos-mesh") -> dict[str, Any]:
        """Patch the live object smaller, as its fault kind's rendering says (``KubeRendering.shrink``)."""
        typed = _kube(realisation)
        obj = dict(typed.object)
        kind = registry.faults.get(fault_type)
        if kind is None or kind.kube is None:
            raise ActuatorError(f"shrink of {obj.get('kind')} {obj['metadata']['name']}: no installed fault kind "
                                f"{fault_type!r} renders it")
        patch = kind.kube.shrink(obj.get("spec", {}), params)
        if not patch:
            raise ActuatorError(f"shrink of {obj.get('kind')} {obj['metadata']['name']}: none of "
                                f"{sorted(params)} applies to this fault")
        updated = await self.client.patch_fault(obj, patch)
        return realisation_to_record(dataclasses.replace(typed, object=updated))

    def actuators(self, http: Sequence[object]) -> Actuators:
        http_degrader = next((i for i in http if isinstance(i, Degrader)), None)
        degrader = RoutingDegrader(http=http_degrader, kubernetes=_KubeDegrader(self))
        return Actuators.of(_KubeShrinker(self), degrader, _KubeWeights(self), *http)

    def undo_context(self) -> UndoContext:
        return UndoContext(kube={"kubeconfig": self.kubeconfig, "context": self.kube.context,
                                 "namespace": self.kube.namespace, "weights": dict(self.weight_undo)})

    async def close(self) -> None:
        """Remove the reaper once every object of the run is gone (else it stays as the backstop)."""
        try:
            if self._reapers and self._created <= self._removed:
                await self.client.remove_reaper(self.run_id, sorted(self._reapers))
            elif self._reapers:
                log.warning("run %s: reaper kept, %s not confirmed removed", self.run_id,
                            ", ".join(sorted(self._created - self._removed)))
        except ChaosError as exc:
            log.warning("run %s: removing the reaper failed (it ends by itself at its deadline): %s",
                        self.run_id, exc)
        finally:
            await self.client.close()


def _forced_words(report: DeleteReport) -> str:
    if not report.forced:
        return ""
    words = "; Chaos Mesh never injected it, so it was told to drop its finalizer (cleanFinalizer: forced)"
    return words + (f"; its entries cleared from podnetworkchaos {', '.join(report.cleared)}" if report.cleared else "")


class _KubeShrinker:
    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        row = self.target.store.fault(self.target.run_id, fault)
        if row is None or not row.live:
            raise ActuatorError(f"fault {fault} is not live")
        fault_type = next((f.type for f in self.target.experiment.spec.faults if f.name == fault), "chaos-mesh")
        updated = await self.target.shrink(row.realisation, params, fault_type)
        self.target.store.update_fault(self.target.run_id, fault, "injected", updated)


class _KubeDegrader:
    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target

    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        action = decision.action
        if not isinstance(action, Degrade) or action.kubernetes is None:
            raise ActuatorError(f"{decision.id} is not a Kubernetes degrade")
        p = action.kubernetes
        ns = p.namespace or self.target.namespace
        patch: dict[str, Any] = {}
        if p.data:
            patch["data"] = dict(p.data)
        if p.env:
            patch["env"] = dict(p.env)
            if p.container:
                patch["container"] = p.container
        if p.annotations:
            patch["annotations"] = dict(p.annotations)
        token = await self.target.client.apply_patch(p.kind, ns, p.name, patch,
                                                     undo=(self.target.run_id, self.target.undo_deadline()))
        return RevertHandle(decision.id, target=f"{p.kind}/{ns}/{p.name}", backend="kubernetes",
                            payload=token.as_dict(), description=f"revert {p.kind} {ns}/{p.name}")

    async def revert_degrade(self, handle: RevertHandle) -> None:
        await self.target.client.revert(RevertToken.from_dict(handle.payload))


class _KubeWeights:
    """Circuit-break on route weights. The policy engine speaks one integer per backend; routes may
    hold several entries for the service, some without a weight. So the first change keeps the
    complete prior snapshot, and setting the weight reported as "before" puts that snapshot back
    exactly (absent weights removed again), whatever half-open weights were set in between."""

    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target
        self._original: dict[str, tuple[WeightSnapshot, int]] = {}
        """ns/service → (weights before the first change, the weight reported as 'before')."""
        self._current: dict[str, int] = {}
        self._done: dict[str, int] = {}

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        if action_id in self._done:  # a repeated action id is a no-op
            return self._done[action_id]
        ns = target.namespace or self.target.namespace
        key = f"{ns}/{target.service}"
        client = self.target.client
        opened = self._original.get(key)
        if opened is not None and weight == opened[1]:
            original, reported = opened
            now = self._current[key]
            await client.restore_weights(dataclasses.replace(
                original, changes=tuple(dataclasses.replace(c, after=now) for c in original.changes)))
            del self._original[key], self._current[key]
            self.target.weight_undo.pop(key, None)
            previous = now
        else:
            snapshot = await client.set_backend_weight(ns, target.service, weight,
                                                       undo=(self.target.run_id, self.target.undo_deadline()))
            if opened is None:
                befores = [c.before for c in snapshot.changes if c.before is not None]
                reported = befores[0] if befores else 1  # an absent weight counts as 1 (Gateway API)
                if reported == weight:  # keep "close" distinguishable from this change
                    reported = weight + 1 if weight < 100 else weight - 1
                self._original[key] = (snapshot, reported)
                previous = reported
            else:
                previous = self._current[key]
            self._current[key] = weight
            original = self._original[key][0]
            self.target.weight_undo[key] = dataclasses.replace(
                original, changes=tuple(dataclasses.replace(c, after=weight) for c in original.changes)).as_dict()
        self._done[action_id] = previous
        return previous


def _kube(realisation: Mapping[str, Any]) -> KubeRealisation:
    record = realisation_from_record(realisation)
    if not isinstance(record, KubeRealisation):
        raise ActuatorError(f"a {type(record).__name__} is not removed by the Kubernetes target")
    return record


async def remove_kube_realisation(realisation: Mapping[str, Any],
                                  clients: dict[tuple[str | None, str | None, str | None], KubeClient] | None = None
                                  ) -> Removal:
    """Delete a recorded Chaos Mesh object (and its run's reaper in that namespace) from the record alone.
    ``clients``: the pass's clients by (kubeconfig, context, namespace), reused and kept open."""
    from chaos.clients.record_trust import check_kubeconfig

    record = _kube(realisation)
    kube = record.kube
    check_kubeconfig(kube.get("kubeconfig"))  # a record never chooses which exec plugin runs
    settings = kube_settings(kube.get("kubeconfig"), kube.get("context"), kube.get("namespace"))
    key = (settings.resolved_kubeconfig(), settings.context, settings.namespace)
    target = clients.get(key) if clients is not None else None
    own = target is None and clients is None
    if target is None:
        target = KubeClient.from_settings(settings)
        if clients is not None:
            clients[key] = target
    try:
        obj = dict(record.object)
        report = await target.delete(obj)
        detail = f"{report.object} deleted" + _forced_words(report)
        run_id = (obj["metadata"].get("labels") or {}).get(RUN_LABEL, "")
        namespace = obj["metadata"].get("namespace") or settings.namespace
        if run_id:
            removed = await target.remove_reaper(run_id, [namespace])
            if removed:
                detail += f"; reaper removed ({', '.join(removed)})"
        return Removed(detail)
    finally:
        if own:
            await target.close()
