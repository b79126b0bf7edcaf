"""The Kubernetes target of a run: Chaos Mesh objects created, watched and deleted through
``chaos.clients.kube``, with pre-flight (CRDs, RBAC, blast radius, collisions, server-side dry
run), the reaper Job as dead-man's switch, and the recovery actuators (shrink by patch, degrade
by ConfigMap/Deployment patch, circuit-break by HTTPRoute/VirtualService weights).

``remove_kube_realisation`` deletes a recorded object from the state store's record alone (for
``aftershock recover``). Called by ``chaos.engine.driver`` and ``chaos.commands.recover``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chaos.clients.kube import (
    KubernetesTarget,
    KubeSettings,
    Permission,
    RevertToken,
    circuit_break_permissions,
    degrade_permissions,
)
from chaos.compiling.kubernetes import CompiledFault, compile_experiment
from chaos.errors import ActuatorError
from chaos.loading import Loaded
from chaos.model.policies import CircuitBreakPolicy, DegradePolicy
from chaos.policy.actions import Decision, Degrade, RevertHandle, WeightTarget
from chaos.policy.actuators import Actuators, RoutingDegrader

if TYPE_CHECKING:
    from chaos.clients.state import StateStore
    from chaos.engine.driver import EngineSettings

INJECT_TIMEOUT_S = 60.0


def kube_settings(kubeconfig: str | None, context: str | None, namespace: str | None,
                  reaper: bool = True) -> KubeSettings:
    return KubeSettings(kubeconfig=kubeconfig, context=context, namespace=namespace or "default", reaper=reaper)


class KubernetesRunTarget:
    def __init__(self, settings: EngineSettings, store: StateStore, run_id: str, loaded: Loaded) -> None:
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.loaded = loaded
        exp = loaded.experiment
        self.kube = kube_settings(settings.kubeconfig, settings.context or exp.spec.target.context,
                                  settings.namespace or exp.spec.target.namespace, settings.reaper)
        self.client = KubernetesTarget.from_settings(self.kube)
        self.objects: dict[str, CompiledFault] = {}
        self._reaper_created = False

    async def preflight(self) -> tuple[list[str], list[str]]:
        exp = self.loaded.experiment
        objects = compile_experiment(exp, self.run_id, source=self.loaded.source, started_at=datetime.now(UTC))
        self.objects = {o.fault: o for o in objects}
        kinds = sorted({o.kind for o in objects})
        checks = [f"Chaos Mesh CRDs present: {', '.join(sorted(await self.client.check_chaos_mesh(kinds)))}"]
        namespaces = sorted({o.namespace for o in objects})
        extra: list[Permission] = []
        for policy in exp.spec.policies:
            if isinstance(policy, DegradePolicy) and policy.with_.kubernetes is not None:
                patch = policy.with_.kubernetes.patch
                extra += degrade_permissions(patch.kind, patch.namespace or exp.spec.target.namespace)
            if isinstance(policy, CircuitBreakPolicy):
                extra += circuit_break_permissions(policy.with_.namespace or exp.spec.target.namespace)
        checked = await self.client.preflight_access(namespaces, extra, kinds=kinds)
        checks.append(f"RBAC: {len(checked)} permission(s) granted in {', '.join(namespaces)}")
        br = exp.spec.blast_radius
        targets: list[str] = []
        for obj in objects:
            resolution = await self.client.check_blast_radius(
                obj.body, max_targets=br.max_targets, max_percent=br.max_percent,
                allowed_namespaces=br.namespaces or [exp.spec.target.namespace],
                allow_system_namespaces=br.allow_system_namespaces)
            info = resolution.as_dict()
            targets.append(f"{obj.kind} {obj.namespace}/{obj.name}: {info.get('affected')} of "
                           f"{len(info.get('matching') or [])} matching pod(s)")
            for warning in await self.client.collision_check(obj.body, force=self.settings.force):
                checks.append(f"warning: {warning}")
            await self.client.create(obj.body, dry_run=True)
        checks.append("server-side dry run (dryRun=All) accepted every object")
        return checks, targets

    def planned_realisation(self, name: str) -> dict[str, Any]:
        obj = self.objects[name]
        return {"kind": "kubernetes", "object": obj.body, "description": f"{obj.kind} {obj.namespace}/{obj.name}",
                "kube": {"kubeconfig": self.kube.kubeconfig, "context": self.kube.context,
                         "namespace": self.kube.namespace}}

    async def inject(self, name: str, deadline: float) -> dict[str, Any]:
        obj = self.objects[name]
        realisation = self.planned_realisation(name)
        if not self._reaper_created:
            when = datetime.fromtimestamp(max(deadline, *(deadline for _ in self.objects)), tz=UTC)
            reaper = await self.client.create_reaper(self.run_id, obj.namespace, when,
                                                     kinds=sorted({o.kind for o in self.objects.values()}))
            realisation["reaper"] = (reaper or {}).get("metadata", {}).get("name", "") if reaper else ""
            self._reaper_created = True
        await self.client.create(obj.body)
        try:
            status = await self.client.wait_injected(obj.body, INJECT_TIMEOUT_S)
        except Exception:
            await self.client.delete(obj.body)
            raise
        realisation["status"] = status
        return realisation

    async def remove(self, realisation: Mapping[str, Any]) -> str:
        report = await self.client.delete(realisation["object"])
        return str(report)

    async def shrink(self, realisation: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        obj = dict(realisation["object"])
        patch: dict[str, Any] = {}
        spec = obj.get("spec", {})
        if params.get("percent") is not None:
            for key in ("loss", "duplicate", "corrupt"):
                if key in spec:
                    patch[key] = {**spec[key], key: f"{float(params['percent']):g}"}
        if params.get("latency") is not None and "delay" in spec:
            patch["delay"] = {**spec["delay"], "latency": str(params["latency"])}
        if params.get("mode") is not None:
            patch["mode"] = str(params["mode"])
        if params.get("value") is not None:
            patch["value"] = str(params["value"])
        updated = await self.client.patch_fault(obj, patch)
        return {**realisation, "object": updated}

    def actuators(self, http_impls: list[object]) -> Actuators:
        http_degrader = next((i for i in http_impls if hasattr(i, "apply_degrade")), None)
        degrader = RoutingDegrader(http=http_degrader, kubernetes=_KubeDegrader(self))  # type: ignore[arg-type]
        return Actuators.of(_KubeShrinker(self), degrader, _KubeWeights(self), *http_impls)

    async def close(self) -> None:
        await self.client.close()


class _KubeShrinker:
    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        rows = [r for r in self.target.store.faults(self.target.run_id) if r.fault == fault]
        if not rows:
            raise ActuatorError(f"fault {fault} is not live")
        updated = await self.target.shrink(rows[0].realisation, params)
        self.target.store.update_fault(self.target.run_id, fault, "injected", updated)


class _KubeDegrader:
    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target

    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        action = decision.action
        assert isinstance(action, Degrade) and action.kubernetes is not None
        p = action.kubernetes
        ns = p.namespace or self.target.loaded.experiment.spec.target.namespace
        patch: dict[str, Any] = {}
        if p.data:
            patch["data"] = dict(p.data)
        if p.env:
            patch["env"] = dict(p.env)
            if p.container:
                patch["container"] = p.container
        if p.annotations:
            patch["annotations"] = dict(p.annotations)
        token = await self.target.client.apply_patch(p.kind, ns, p.name, patch)
        return RevertHandle(decision.id, target=f"{p.kind}/{ns}/{p.name}", backend="kubernetes",
                            payload=token.as_dict(), description=f"revert {p.kind} {ns}/{p.name}")

    async def revert_degrade(self, handle: RevertHandle) -> None:
        await self.target.client.revert(RevertToken.from_dict(handle.payload))


class _KubeWeights:
    def __init__(self, target: KubernetesRunTarget) -> None:
        self.target = target

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        ns = target.namespace or self.target.loaded.experiment.spec.target.namespace
        snapshot = await self.target.client.set_backend_weight(ns, target.service, weight)
        befores = [c.before for c in snapshot.changes if c.before is not None]
        return befores[0] if befores else 1


async def remove_kube_realisation(realisation: Mapping[str, Any]) -> str:
    """Delete a recorded Chaos Mesh object (and its run's reaper) from the record alone."""
    kube = realisation.get("kube", {})
    settings = kube_settings(kube.get("kubeconfig"), kube.get("context"), kube.get("namespace"))
    target = KubernetesTarget.from_settings(settings)
    try:
        report = await target.delete(realisation["object"])
        run_id = realisation["object"]["metadata"]["labels"].get("aftershock.io/run-id", "")
        if run_id:
            await target.remove_reaper(run_id)
        return str(report)
    finally:
        await target.close()
