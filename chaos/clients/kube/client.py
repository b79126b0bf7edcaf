"""The Kubernetes target of the run engine: :class:`KubeClient`, an asyncio façade.

It owns one ``ApiClient`` (built from :class:`KubeSettings`, nothing global) and runs the synchronous
official client in worker threads (``asyncio.to_thread``) so the engine's loop never blocks. Bounded
waits (injection, finalizers) are loops here. Every method raises only :mod:`chaos.errors` classes.
Callers: the run engine (inject / monitor / recover policies), ``aftershock recover`` (``list_ours``,
``remove_run``) and ``aftershock doctor`` (``check_chaos_mesh``, ``preflight_access``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from chaos.clients.kube import blast, chaosmesh, degrade, rbac, reaper, weights
from chaos.clients.kube.calls import Caller
from chaos.clients.kube.context import (
    DEFAULT_CHAOS_KINDS,
    FINALIZER,
    RUN_LABEL,
    KubeContext,
    identity,
    meta,
    ref,
)
from chaos.clients.kube.settings import KubeSettings, build_api_client
from chaos.errors import ActuatorError, ChaosError, PermissionMissing, TargetError

P = ParamSpec("P")
T = TypeVar("T")

# Re-exported so callers need one import.
Resolution = blast.Resolution
NamespaceTotal = blast.NamespaceTotal
run_totals = blast.run_totals
InjectionState = chaosmesh.InjectionState
Permission = rbac.Permission
RevertToken = degrade.RevertToken
WeightSnapshot = weights.WeightSnapshot


@dataclass(frozen=True)
class DeleteReport:
    """How a removal went (kept in the run journal)."""

    object: str
    gone: bool
    attempts: int
    waited: float
    finalizers: list[str] = field(default_factory=list)
    forced: bool = False
    """Never injected: Chaos Mesh was told to drop its finalizer (``cleanFinalizer: forced``)."""
    cleared: list[str] = field(default_factory=list)
    """Pods (``ns/name``) whose PodNetworkChaos records were rid of this object's entries (forced clean)."""


class KubeClient:
    """One cluster. Build with :meth:`from_settings`; call :meth:`close` (or ``async with``) at the end."""

    def __init__(self, settings: KubeSettings, ctx: KubeContext,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(cls, settings: KubeSettings,
                      clock: Callable[[], datetime] | None = None) -> KubeClient:
        api = build_api_client(settings)
        host = str(api.configuration.host)
        return cls(settings, KubeContext(settings, api, Caller(settings, host)), clock)

    async def close(self) -> None:
        await asyncio.to_thread(self._ctx.api.close)

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # --- capability and permissions -------------------------------------------------------------

    async def check_chaos_mesh(self, kinds: Iterable[str] = DEFAULT_CHAOS_KINDS) -> dict[str, str]:
        """Discover ``chaos-mesh.org/v1alpha1``; returns kind → plural. CapabilityMissing if absent."""
        return await self._run(chaosmesh.check_chaos_mesh, self._ctx, list(kinds))

    async def preflight_access(self, namespaces: Iterable[str], extra: Iterable[Permission] = (),
                               kinds: Iterable[str] = DEFAULT_CHAOS_KINDS,
                               reaper: bool | None = None, concurrency: int = 8) -> list[Permission]:
        """SelfSubjectAccessReview for everything the run needs in every namespace involved.

        ``extra``: e.g. :func:`rbac.degrade_permissions`, :func:`rbac.circuit_break_permissions`.
        Returns the checked permissions; raises PermissionMissing whose ``details`` are the lines of
        a ready-to-apply Role YAML granting exactly what is missing.
        """
        use_reaper = self.settings.reaper if reaper is None else reaper
        plurals = sorted({self._ctx.plural(k) for k in kinds})
        needed = sorted(set(rbac.required_permissions(namespaces, plurals, use_reaper)) | set(extra))
        gate = asyncio.Semaphore(concurrency)

        async def check(perm: Permission) -> bool:
            async with gate:
                return await self._run(rbac.allowed, self._ctx, perm)

        answers = await asyncio.gather(*(check(p) for p in needed))
        missing = [p for p, ok in zip(needed, answers, strict=True) if not ok]
        if missing:
            raise PermissionMissing(
                f"missing {len(missing)} Kubernetes permission(s): "
                + ", ".join(p.describe() for p in missing)
                + ". Apply this Role and bind it to the identity running aftershock:",
                rbac.role_yaml(missing).splitlines())
        return needed

    async def served_route_kinds(self) -> list[str]:
        """``HTTPRoute`` / ``VirtualService``: the route APIs this cluster serves (discovery)."""
        return await self._run(weights.served_route_kinds, self._ctx)

    # --- pre-flight on pods ---------------------------------------------------------------------

    async def resolve_targets(self, obj: Mapping[str, Any]) -> Resolution:
        """Running pods ``spec.selector`` matches now and how many ``mode``/``value`` affects."""
        return await self._run(blast.resolve, self._ctx, obj)

    async def check_blast_radius(self, obj: Mapping[str, Any], max_targets: int | None = None,
                                 max_percent: float | None = None,
                                 allowed_namespaces: Iterable[str] | None = None,
                                 allow_system_namespaces: bool = False) -> Resolution:
        """PreflightRefused (every reason at once) for count, percent, PDB or namespace violations."""
        allowed = list(allowed_namespaces) if allowed_namespaces is not None else None
        return await self._run(blast.check_blast_radius, self._ctx, obj, max_targets, max_percent,
                               allowed, allow_system_namespaces)

    async def collision_check(self, obj: Mapping[str, Any], force: bool = False) -> list[str]:
        """Refuse when other live chaos already selects the same pods; with force, return warnings."""
        return await self._run(blast.collisions, self._ctx, obj, force)

    # --- chaos objects --------------------------------------------------------------------------

    async def create(self, obj: Mapping[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Create a compiled chaos object (``dry_run``: ``dryRun=All``, nothing persisted)."""
        return await self._run(chaosmesh.create, self._ctx, obj, dry_run)

    async def wait_injected(self, obj: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Poll until Chaos Mesh reports AllInjected and every record Injected; returns the report.

        TargetError when it is not injected within ``timeout`` (the caller then removes it).
        """
        kind, ns, name = identity(obj, self.settings.namespace)
        loop = asyncio.get_running_loop()
        start = loop.time()
        state = InjectionState(False)
        while True:
            current = await self._run(chaosmesh.read, self._ctx, kind, ns, name)
            if current is None:
                raise TargetError(f"{ref(obj)} disappeared while waiting for injection")
            state = chaosmesh.injection_state(current)
            waited = loop.time() - start
            if state.injected:
                return {"object": ref(obj), "waited": round(waited, 3), **state.as_dict()}
            if waited >= timeout:
                break
            await asyncio.sleep(min(self.settings.poll_interval, max(0.0, timeout - waited)))
        why = "; ".join(state.failures) or (
            f"conditions {state.conditions or 'none'}, records "
            f"{[r['phase'] for r in state.records] or 'none'}")
        raise TargetError(f"{ref(obj)} was not injected within {timeout:g}s ({why}); check the "
                          "chaos-daemon and chaos-controller-manager logs in the chaos-mesh namespace")

    async def delete(self, obj: Mapping[str, Any]) -> DeleteReport:
        """Delete and wait until it is gone; 404 is success. When Chaos Mesh's records show our object
        was never injected on any target (a failed Apply it would retry forever), it is annotated
        ``cleanFinalizer: forced`` so Chaos Mesh drops its finalizer itself, and a NetworkChaos's
        entries in the per-pod PodNetworkChaos records are taken out once it is gone. A
        ``chaos-mesh/records`` finalizer on an object that was injected somewhere and outlives every
        round is reported (ActuatorError), never stripped."""
        kind, ns, name = identity(obj, self.settings.namespace)
        loop = asyncio.get_running_loop()
        start = loop.time()
        s = self.settings
        finalizers: list[str] = []
        forced: dict[str, Any] | None = None
        for attempt in range(1, max(1, s.delete_attempts) + 1):
            if await self._run(chaosmesh.delete_once, self._ctx, kind, ns, name):
                return await self._gone(obj, attempt, loop.time() - start, forced)
            round_end = loop.time() + s.finalizer_timeout
            while True:
                current = await self._run(chaosmesh.read, self._ctx, kind, ns, name)
                if current is None:
                    return await self._gone(obj, attempt, loop.time() - start, forced)
                finalizers = list(meta(current).get("finalizers") or [])
                if chaosmesh.needs_forced_clean(current):
                    # Never injected anywhere: Chaos Mesh retries the failed Apply forever, and its
                    # pipeline requeues before the finalizer step; with our PodNetworkChaos entries
                    # gone the Apply stops failing and the forced clean drops the finalizer.
                    await self._run(chaosmesh.force_clean_finalizer, self._ctx, kind, ns, name)
                    forced = current
                    await self._run(chaosmesh.clear_pod_network_entries, self._ctx, forced)
                    continue
                if loop.time() >= round_end:
                    break
                await asyncio.sleep(s.poll_interval)
        waited = loop.time() - start
        hint = (f"Chaos Mesh has not confirmed recovery (finalizer {FINALIZER} still set after "
                f"{waited:.0f}s): check the chaos-controller-manager and chaos-daemon "
                "(`kubectl -n chaos-mesh get pods`, `kubectl -n chaos-mesh logs deploy/"
                "chaos-controller-manager`). Only after verifying the affected pods are healthy "
                f"(tc/iptables rules gone, stress processes ended) remove the finalizer by hand: "
                f"`kubectl -n {ns} patch {kind.lower()} {name} --type=merge "
                "-p '{\"metadata\":{\"finalizers\":null}}'`")
        if FINALIZER not in finalizers:
            hint = f"it is still present with finalizers {finalizers or 'none'} after {waited:.0f}s"
        raise ActuatorError(f"{ref(obj)} could not be removed: {hint}")

    async def _gone(self, obj: Mapping[str, Any], attempt: int, waited: float,
                    forced: dict[str, Any] | None) -> DeleteReport:
        """The object is gone; after a forced clean, its entries in Chaos Mesh's per-pod records are
        cleared once more (an Apply that was in flight may have committed them again)."""
        cleared = chaosmesh.network_record_pods(forced) if forced else []
        if forced:
            await self._run(chaosmesh.clear_pod_network_entries, self._ctx, forced)
        return DeleteReport(ref(obj), True, attempt, round(waited, 3), forced=forced is not None,
                            cleared=cleared)

    async def patch_fault(self, obj: Mapping[str, Any], spec_patch: Mapping[str, Any]) -> dict[str, Any]:
        """Shrink a running fault (e.g. ``{"loss": {"loss": "10"}}``, ``{"mode": "fixed", "value": "1"}``);
        ``spec.duration`` and the deadline annotation are kept."""
        return await self._run(chaosmesh.patch_spec, self._ctx, obj, spec_patch)

    async def list_ours(self, run_id: str | None = None,
                        namespaces: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Chaos objects labelled ``app.kubernetes.io/managed-by=aftershock`` (optionally one run)."""
        ns = list(namespaces) if namespaces is not None else None
        return await self._run(chaosmesh.list_ours, self._ctx, run_id, ns)

    async def remove_run(self, run_id: str, namespaces: Iterable[str] | None = None) -> list[str]:
        """Remove every chaos object and reaper resource of ``run_id``; returns what was removed.

        All removals are attempted; failures are reported together as one ActuatorError.
        """
        ns = list(namespaces) if namespaces is not None else None
        objs = await self.list_ours(run_id, ns)
        results = await asyncio.gather(*(self.delete(o) for o in objs), return_exceptions=True)
        removed: list[str] = []
        problems: list[str] = []
        for obj, result in zip(objs, results, strict=True):
            if isinstance(result, ChaosError):
                problems.append(str(result))
            elif isinstance(result, BaseException):
                raise result
            else:
                removed.append(ref(obj))
        try:
            removed += await self._run(reaper.remove_reaper, self._ctx, run_id, ns)
        except ChaosError as exc:
            problems.append(f"reaper resources of run {run_id}: {exc}")
        if problems:
            raise ActuatorError(f"run {run_id} was not fully removed ({len(removed)} removed): "
                                + " | ".join(problems))
        return removed

    # --- dead-man's switch ----------------------------------------------------------------------

    async def create_reaper(self, run_id: str, namespace: str, deadline: datetime,
                            kinds: Iterable[str] = DEFAULT_CHAOS_KINDS) -> dict[str, Any] | None:
        """Create the reaper Job for ``run_id`` in ``namespace`` (None when settings.reaper is off)."""
        if not self.settings.reaper:
            return None
        return await self._run(reaper.create_reaper, self._ctx, run_id, namespace, deadline,
                               list(kinds), self._clock())

    async def remove_reaper(self, run_id: str, namespaces: Iterable[str] | None = None) -> list[str]:
        """Remove the reaper of a run that ended normally (``remove_run`` does this too)."""
        ns = list(namespaces) if namespaces is not None else None
        return await self._run(reaper.remove_reaper, self._ctx, run_id, ns)

    # --- pod-level faults without Chaos Mesh ----------------------------------------------------

    async def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> None:
        await self._run(degrade.delete_pod, self._ctx, namespace, name, grace)

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> int:
        """Returns the previous replica count."""
        return await self._run(degrade.scale_deployment, self._ctx, namespace, name, replicas)

    # --- recovery actuators ---------------------------------------------------------------------

    async def apply_patch(self, kind: str, namespace: str, name: str,
                          patch: Mapping[str, Any], undo: tuple[str, str] | None = None) -> RevertToken:
        """Degrade: ConfigMap ``data``, workload ``env`` (+ ``container``), or ``annotations``; ``undo``
        = ``(run id, deadline)`` writes the undo annotation the reaper reverts after the deadline."""
        return await self._run(degrade.apply_patch, self._ctx, kind, namespace, name, patch, undo)

    async def revert(self, token: RevertToken) -> None:
        await self._run(degrade.revert, self._ctx, token)

    async def set_backend_weight(self, namespace: str, service: str, weight: int,
                                 undo: tuple[str, str] | None = None) -> WeightSnapshot:
        """Circuit-break: set ``service``'s weight on HTTPRoutes / VirtualServices routing to it; ``undo``
        = ``(run id, deadline)`` writes the undo annotation on each route (the reaper's record)."""
        return await self._run(weights.set_backend_weight, self._ctx, namespace, service, weight, undo)

    async def restore_weights(self, prior: WeightSnapshot) -> None:
        await self._run(weights.restore_weights, self._ctx, prior)


def run_label_selector(run_id: str) -> str:
    """``aftershock.io/run-id=<id>`` (for users' kubectl commands in messages and docs)."""
    return f"{RUN_LABEL}={run_id}"
