"""Chaos Mesh objects on the cluster: discovery, create (dry-run), read status, delete, patch, list ours.

Synchronous single-shot operations over ``CustomObjectsApi``; the waiting loops (injection, finalizer)
live in :class:`chaos.clients.kube.target.KubernetesTarget`, which calls these in worker threads.
Callers: ``target`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.clients.kube.context import (
    CHAOS_API_VERSION,
    CHAOS_GROUP,
    CHAOS_VERSION,
    DEFAULT_CHAOS_KINDS,
    MANAGED_BY,
    MANAGER,
    RUN_LABEL,
    KubeContext,
    identity,
    is_ours,
    meta,
    ref,
)
from chaos.errors import ActuatorError, CapabilityMissing, TargetError

MERGE_PATCH = "application/merge-patch+json"

INSTALL_HINT = (
    "install Chaos Mesh first: `helm repo add chaos-mesh https://charts.chaos-mesh.org && "
    "helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh --create-namespace` "
    "(containerd clusters: add `--set chaosDaemon.runtime=containerd "
    "--set chaosDaemon.socketPath=/run/containerd/containerd.sock`), see https://chaos-mesh.org/docs/"
)


@dataclass(frozen=True)
class InjectionState:
    """What Chaos Mesh reported about one object at one read (kept in the run journal)."""

    injected: bool
    """AllInjected is True and every container record is in phase Injected."""
    conditions: dict[str, str] = field(default_factory=dict)
    """``status.conditions`` as type → status ("True"/"False")."""
    records: list[dict[str, str]] = field(default_factory=list)
    """``status.experiment.containerRecords`` as ``{id, phase}``."""
    failures: list[str] = field(default_factory=list)
    """Messages of Failed events Chaos Mesh recorded (why it could not inject)."""

    def as_dict(self) -> dict[str, Any]:
        return {"injected": self.injected, "conditions": dict(self.conditions),
                "records": [dict(r) for r in self.records], "failures": list(self.failures)}


def check_chaos_mesh(ctx: KubeContext, kinds: Iterable[str]) -> dict[str, str]:
    """Discover ``chaos-mesh.org/v1alpha1``; kind → plural. CapabilityMissing when absent."""
    reply = ctx.caller.call(f"discover {CHAOS_API_VERSION}", ctx.custom.get_api_resources,
                            CHAOS_GROUP, CHAOS_VERSION, accept=(404,))
    if reply.status == 404:
        raise CapabilityMissing(f"Chaos Mesh is not installed on this cluster: the API group "
                                f"{CHAOS_API_VERSION} is not served; {INSTALL_HINT}")
    found = {str(r["kind"]): str(r["name"]) for r in reply.body.get("resources") or []
             if isinstance(r, dict) and "/" not in str(r.get("name", "")) and r.get("kind")}
    missing = sorted(set(kinds) - set(found))
    if missing:
        raise CapabilityMissing(f"Chaos Mesh CRDs missing for {', '.join(missing)} "
                                f"(served: {', '.join(sorted(found)) or 'none'}); upgrade or reinstall "
                                f"Chaos Mesh with its CRDs; {INSTALL_HINT}")
    ctx.plurals.update(found)
    return found


def _require_ours(obj: Mapping[str, Any]) -> str:
    labels = meta(obj).get("labels") or {}
    run_id = labels.get(RUN_LABEL)
    if labels.get(MANAGED_BY) != MANAGER or not run_id:
        raise TargetError(f"{ref(obj)}: refusing to create an object without the labels "
                          f"{MANAGED_BY}={MANAGER} and {RUN_LABEL}=<run id>; "
                          "`aftershock recover` could not find it")
    return str(run_id)


def read(ctx: KubeContext, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as stored, or None when it does not exist."""
    reply = ctx.caller.call(f"read {kind} {namespace}/{name}", ctx.custom.get_namespaced_custom_object,
                            CHAOS_GROUP, CHAOS_VERSION, namespace, ctx.plural(kind), name,
                            accept=(404,))
    return None if reply.status == 404 else reply.body


def create(ctx: KubeContext, obj: Mapping[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """Create (or server-side validate with ``dryRun=All``); 409 is fine only for our own run."""
    run_id = _require_ours(obj)
    kind, namespace, name = identity(obj, ctx.settings.namespace)
    body = copy.deepcopy(dict(obj))
    body.setdefault("apiVersion", CHAOS_API_VERSION)
    body["metadata"]["namespace"] = namespace
    extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    what = f"{'dry-run ' if dry_run else ''}create {ref(body)}"
    reply = ctx.caller.call(what, ctx.custom.create_namespaced_custom_object, CHAOS_GROUP,
                            CHAOS_VERSION, namespace, ctx.plural(kind), body, accept=(409,), **extra)
    if reply.status != 409:
        return reply.body
    existing = read(ctx, kind, namespace, name)
    if existing is None:
        raise TargetError(f"{what}: conflict, but the object vanished meanwhile; retry the run")
    if is_ours(existing, run_id):
        return existing
    labels = meta(existing).get("labels") or {}
    raise TargetError(f"{what}: an object with this name already exists and is not this run's "
                      f"(its labels: {labels}); remove it or rename the fault")


def injection_state(obj: Mapping[str, Any]) -> InjectionState:
    """Interpret ``status`` of a chaos object (pure)."""
    status = obj.get("status") or {}
    conditions = {str(c.get("type")): str(c.get("status")) for c in status.get("conditions") or []
                  if isinstance(c, dict)}
    records: list[dict[str, str]] = []
    failures: list[str] = []
    for rec in (status.get("experiment") or {}).get("containerRecords") or []:
        records.append({"id": str(rec.get("id", "")), "phase": str(rec.get("phase", ""))})
        for event in rec.get("events") or []:
            if event.get("type") == "Failed" and event.get("message"):
                failures.append(f"{rec.get('id', '?')}: {event['message']}")
    injected = (conditions.get("AllInjected") == "True" and bool(records)
                and all(r["phase"] == "Injected" for r in records))
    return InjectionState(injected, conditions, records, failures)


def delete_once(ctx: KubeContext, kind: str, namespace: str, name: str) -> bool:
    """Issue a delete; True when the object is already gone (404)."""
    reply = ctx.caller.call(f"delete {kind} {namespace}/{name}",
                            ctx.custom.delete_namespaced_custom_object, CHAOS_GROUP, CHAOS_VERSION,
                            namespace, ctx.plural(kind), name, accept=(404,))
    return reply.status == 404


def patch_spec(ctx: KubeContext, obj: Mapping[str, Any], spec_patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch ``spec`` (shrink a running fault); ``spec.duration`` is never touched."""
    if "duration" in spec_patch:
        raise ActuatorError(f"{ref(obj)}: patch_fault may not change spec.duration (the fault's "
                            "deadline); remove the fault instead")
    kind, namespace, name = identity(obj, ctx.settings.namespace)
    before = read(ctx, kind, namespace, name)
    if before is None:
        raise ActuatorError(f"{ref(obj)}: cannot patch, the object no longer exists")
    body = {"spec": dict(spec_patch)}
    reply = ctx.caller.call(f"patch {ref(obj)}", ctx.custom.patch_namespaced_custom_object,
                            CHAOS_GROUP, CHAOS_VERSION, namespace, ctx.plural(kind), name, body,
                            _content_type=MERGE_PATCH)
    old_duration = (before.get("spec") or {}).get("duration")
    if old_duration is not None and (reply.body.get("spec") or {}).get("duration") != old_duration:
        raise ActuatorError(f"{ref(obj)}: the server dropped spec.duration while patching; "
                            "remove the fault now (`aftershock recover`)")
    return reply.body


def list_ours(ctx: KubeContext, run_id: str | None = None, namespaces: Iterable[str] | None = None,
              kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Chaos objects labelled ``managed-by=aftershock`` (and ``run-id`` when given)."""
    selector = f"{MANAGED_BY}={MANAGER}" + (f",{RUN_LABEL}={run_id}" if run_id else "")
    return list_chaos(ctx, selector, namespaces, kinds)


def list_chaos(ctx: KubeContext, label_selector: str = "", namespaces: Iterable[str] | None = None,
               kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Chaos objects of ``kinds`` (default: discovered, else the four we compile) in ``namespaces``."""
    kinds = list(kinds or ctx.plurals or DEFAULT_CHAOS_KINDS)
    out: list[dict[str, Any]] = []
    for kind in kinds:
        plural = ctx.plural(kind)
        replies = []
        if namespaces is None:
            replies.append(ctx.caller.call(f"list {kind}", ctx.custom.list_cluster_custom_object,
                                           CHAOS_GROUP, CHAOS_VERSION, plural,
                                           label_selector=label_selector, accept=(404,)))
        else:
            for ns in namespaces:
                replies.append(ctx.caller.call(f"list {kind} in {ns}",
                                               ctx.custom.list_namespaced_custom_object, CHAOS_GROUP,
                                               CHAOS_VERSION, ns, plural,
                                               label_selector=label_selector, accept=(404,)))
        for reply in replies:
            for item in reply.body.get("items") or [] if reply.status != 404 else []:
                item.setdefault("apiVersion", CHAOS_API_VERSION)
                item.setdefault("kind", kind)
                out.append(item)
    return out
