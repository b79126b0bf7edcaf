"""Chaos Mesh objects on the cluster: discovery, create (dry-run), read status, delete, patch, list ours.

Synchronous single-shot operations over ``CustomObjectsApi``; the waiting loops (injection, finalizer)
live in :class:`chaos.clients.kube.client.KubeClient`, which calls these in worker threads.
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
    CLEAN_FINALIZER_ANNOTATION,
    CLEAN_FINALIZER_FORCED,
    DEFAULT_CHAOS_KINDS,
    FINALIZER,
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
            said = f"{rec.get('id', '?')}: {event.get('message')}"
            if event.get("type") == "Failed" and event.get("message") and said not in failures:
                failures.append(said)  # Chaos Mesh retries: the same reason once
    injected = (conditions.get("AllInjected") == "True" and bool(records)
                and all(r["phase"] == "Injected" for r in records))
    return InjectionState(injected, conditions, records, failures)


NOT_INJECTED = "Not Injected"
"""Chaos Mesh's record phase before any injection; ``Not Injected/<step>`` while an Apply is pending."""


def never_injected(obj: Mapping[str, Any]) -> bool:
    """True when Chaos Mesh's records show the object was never injected on any target (pure): it
    has records, every one is in a ``Not Injected`` phase (``Not Injected/Wait`` included: an Apply
    that never completed) and none counts an injection. An object without records is not judged."""
    records = ((obj.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    return bool(records) and all(
        isinstance(r, dict) and str(r.get("phase", "")).startswith(NOT_INJECTED) and not r.get("injectedCount")
        for r in records)


def failing_apply(obj: Mapping[str, Any]) -> bool:
    """True when some record was never injected and its latest event is a failed Apply: Chaos Mesh is
    retrying an injection that keeps failing (pure)."""
    records = ((obj.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    for r in records:
        if not isinstance(r, dict) or not str(r.get("phase", "")).startswith(NOT_INJECTED) or r.get("injectedCount"):
            continue
        events = r.get("events") or []
        if events and events[-1].get("type") == "Failed" and events[-1].get("operation") == "Apply":
            return True
    return False


def needs_forced_clean(obj: Mapping[str, Any]) -> bool:
    """A deleted object of ours (managed-by + run-id) that Chaos Mesh holds by its records finalizer
    and would hold forever: its records show it was never injected on any target, or (NetworkChaos)
    an injection that keeps failing. Chaos Mesh's pipeline requeues the failed Apply before its
    finalizer step, so those (and only those) get ``cleanFinalizer: forced`` and, for a NetworkChaos,
    their entries cleared from the per-pod PodNetworkChaos records, which is exactly the recovery
    Chaos Mesh would commit for every record of it. A PodChaos/StressChaos/... injected somewhere
    keeps its finalizer: only Chaos Mesh can recover it."""
    m = meta(obj)
    labels = m.get("labels") or {}
    stuck = never_injected(obj) or (obj.get("kind") == "NetworkChaos" and failing_apply(obj))
    return (labels.get(MANAGED_BY) == MANAGER and bool(labels.get(RUN_LABEL))
            and bool(m.get("deletionTimestamp")) and FINALIZER in (m.get("finalizers") or [])
            and (m.get("annotations") or {}).get(CLEAN_FINALIZER_ANNOTATION) != CLEAN_FINALIZER_FORCED
            and stuck)


def force_clean_finalizer(ctx: KubeContext, kind: str, namespace: str, name: str) -> None:
    """Annotate ``cleanFinalizer: forced`` so Chaos Mesh drops its finalizer itself (never-injected
    objects of ours only: the caller checks :func:`needs_forced_clean`)."""
    body = {"metadata": {"annotations": {CLEAN_FINALIZER_ANNOTATION: CLEAN_FINALIZER_FORCED}}}
    ctx.caller.call(f"annotate {kind} {namespace}/{name} {CLEAN_FINALIZER_ANNOTATION}={CLEAN_FINALIZER_FORCED}",
                    ctx.custom.patch_namespaced_custom_object, CHAOS_GROUP, CHAOS_VERSION, namespace,
                    ctx.plural(kind), name, body, accept=(404,), _content_type=MERGE_PATCH)


POD_NETWORK_CHAOS = "podnetworkchaos"
_PNC_LISTS = ("ipsets", "iptables", "tcs")


def without_source(pnc: Mapping[str, Any], source: str) -> dict[str, list[Any]] | None:
    """The ``spec`` lists of a PodNetworkChaos with the entries of ``source`` (``ns/name`` of a
    NetworkChaos) taken out, or None when it has none (pure)."""
    spec = pnc.get("spec") or {}
    kept = {k: [e for e in spec.get(k) or [] if not (isinstance(e, dict) and e.get("source") == source)]
            for k in _PNC_LISTS}
    return None if all(len(kept[k]) == len(spec.get(k) or []) for k in _PNC_LISTS) else kept


def network_record_pods(obj: Mapping[str, Any]) -> list[str]:
    """The pods (``ns/name``) a NetworkChaos's records name: where its PodNetworkChaos entries live (pure)."""
    if obj.get("kind") != "NetworkChaos":
        return []
    records = ((obj.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    return sorted({str(r.get("id", "")) for r in records if str(r.get("id", "")).count("/") == 1})


def clear_pod_network_entries(ctx: KubeContext, obj: Mapping[str, Any]) -> list[str]:
    """For a forced clean of a NetworkChaos: take its entries out of the per-pod PodNetworkChaos
    records Chaos Mesh keeps (what its own Recover commits), so the daemon stops retrying them and
    Chaos Mesh's Apply stops failing. Only entries whose ``source`` is this object; returns the pods
    whose record changed."""
    _, namespace, name = identity(obj, ctx.settings.namespace)
    source = f"{namespace}/{name}"
    cleared = []
    for pod in network_record_pods(obj):
        pod_ns, pod_name = pod.split("/")
        for _ in range(5):  # optimistic concurrency: the controller updates the same object
            reply = ctx.caller.call(f"read podnetworkchaos {pod}", ctx.custom.get_namespaced_custom_object,
                                    CHAOS_GROUP, CHAOS_VERSION, pod_ns, POD_NETWORK_CHAOS, pod_name,
                                    accept=(404,))
            kept = None if reply.status == 404 else without_source(reply.body, source)
            if kept is None:
                break
            body = {"metadata": {"resourceVersion": meta(reply.body).get("resourceVersion")}, "spec": kept}
            patched = ctx.caller.call(f"clear {source} from podnetworkchaos {pod}",
                                      ctx.custom.patch_namespaced_custom_object, CHAOS_GROUP, CHAOS_VERSION,
                                      pod_ns, POD_NETWORK_CHAOS, pod_name, body, accept=(404, 409),
                                      _content_type=MERGE_PATCH)
            if patched.status == 409:
                continue
            if patched.status != 404:
                cleared.append(pod)
            break
        else:
            raise ActuatorError(f"{ref(obj)}: podnetworkchaos {pod} kept changing; its entries of {source} "
                                "are still there")
    return cleared


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
