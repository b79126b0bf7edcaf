"""Dead-man's switch: a Kubernetes Job that deletes a run's chaos objects at its deadline if the
engine died before removing them.

Rendered from ``manifests/reaper-job.yaml.j2`` and ``manifests/reaper-rbac.yaml.j2`` with a jinja2
``SandboxedEnvironment(undefined=StrictUndefined)``. Order of creation avoids leaks and races: the Job
is created suspended, its ServiceAccount/Role/RoleBinding are created owned by it (garbage-collected
with it after ``ttlSecondsAfterFinished``), then the Job is released. Everything carries our labels,
so ``aftershock recover`` removes it too. Callers: ``target`` (``create_reaper``, ``remove_run``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from chaos.clients.kube.context import (
    CHAOS_GROUP,
    DEADLINE_ANNOTATION,
    MANAGED_BY,
    MANAGER,
    RUN_LABEL,
    KubeContext,
    is_ours,
    meta,
)
from chaos.errors import ChaosError, TargetError

MERGE_PATCH = "application/merge-patch+json"
COMPONENT = "app.kubernetes.io/component"


def reaper_name(run_id: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-") or "run"
    return f"aftershock-reaper-{slug}"[:63].rstrip("-")


def render(ctx: KubeContext, template: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render one of ``manifests/*.yaml.j2`` into its YAML documents."""
    path = ctx.settings.manifests_dir / template
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        text = env.from_string(path.read_text(encoding="utf-8")).render(**values)
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, TemplateError, yaml.YAMLError) as exc:
        raise TargetError(f"cannot render the reaper manifest {path}: {exc}") from exc
    return docs


def build_job(ctx: KubeContext, run_id: str, namespace: str, deadline: datetime, plurals: list[str],
              now: datetime) -> dict[str, Any]:
    """The suspended reaper Job for ``run_id`` (pure apart from reading the template)."""
    if deadline.tzinfo is None:
        raise TargetError("the reaper deadline must be timezone-aware (UTC)")
    remaining = max(0, math.ceil((deadline - now).total_seconds()))
    labels = {MANAGED_BY: MANAGER, RUN_LABEL: run_id, COMPONENT: "reaper"}
    values = {
        "name": reaper_name(run_id), "namespace": namespace, "run_id": run_id, "labels": labels,
        "annotations": {DEADLINE_ANNOTATION: deadline.isoformat()},
        "active_deadline_seconds": remaining + ctx.settings.reaper_grace,
        "ttl_seconds_after_finished": ctx.settings.reaper_ttl,
        "image": ctx.settings.reaper_image, "deadline_epoch": int(deadline.timestamp()),
        "resources": ",".join(f"{p}.{CHAOS_GROUP}" for p in plurals),
    }
    return render(ctx, "reaper-job.yaml.j2", values)[0]


def create_reaper(ctx: KubeContext, run_id: str, namespace: str, deadline: datetime,
                  kinds: Iterable[str], now: datetime) -> dict[str, Any]:
    """Create the reaper Job + least-privilege RBAC; returns what was created (for the journal)."""
    plurals = sorted({ctx.plural(k) for k in kinds})
    job = build_job(ctx, run_id, namespace, deadline, plurals, now)
    name = job["metadata"]["name"]
    batch, core, rbac = ctx.batch, ctx.core, ctx.rbac
    reply = ctx.caller.call(f"create reaper Job {namespace}/{name}", batch.create_namespaced_job,
                            namespace, job, accept=(409,))
    if reply.status == 409:
        existing = ctx.caller.call(f"read Job {namespace}/{name}", batch.read_namespaced_job, name,
                                   namespace).body
        if not is_ours(existing, run_id):
            raise TargetError(f"Job {namespace}/{name} exists and is not this run's reaper")
        created = existing
    else:
        created = reply.body
    owner = [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
              "uid": meta(created).get("uid", ""), "controller": False, "blockOwnerDeletion": False}]
    docs = render(ctx, "reaper-rbac.yaml.j2", {
        "name": name, "namespace": namespace, "labels": job["metadata"]["labels"],
        "owner_references": owner, "plurals": plurals})
    creators: dict[str, Callable[..., Any]] = {"ServiceAccount": core.create_namespaced_service_account,
                "Role": rbac.create_namespaced_role, "RoleBinding": rbac.create_namespaced_role_binding}
    try:
        for doc in docs:
            r = ctx.caller.call(f"create reaper {doc['kind']} {namespace}/{name}", creators[doc["kind"]],
                                namespace, doc, accept=(409,))
            if r.status == 409:
                continue  # a retried create of this very run (same name, owned by our Job)
        ctx.caller.call(f"release reaper Job {namespace}/{name}", batch.patch_namespaced_job, name,
                        namespace, {"spec": {"suspend": False}}, _content_type=MERGE_PATCH)
    except ChaosError:
        remove_reaper(ctx, run_id, [namespace])
        raise
    return {"job": name, "namespace": namespace, "deadline": deadline.isoformat(),
            "activeDeadlineSeconds": job["spec"]["activeDeadlineSeconds"]}


def remove_reaper(ctx: KubeContext, run_id: str, namespaces: Iterable[str] | None = None) -> list[str]:
    """Delete this run's reaper Jobs, ServiceAccounts, Roles, RoleBindings; returns what was removed."""
    selector = f"{MANAGED_BY}={MANAGER},{RUN_LABEL}={run_id}"
    batch, core, rbac = ctx.batch, ctx.core, ctx.rbac
    kinds: list[tuple[str, Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = [
        ("Job", batch.list_namespaced_job, batch.list_job_for_all_namespaces, batch.delete_namespaced_job),
        ("ServiceAccount", core.list_namespaced_service_account,
         core.list_service_account_for_all_namespaces, core.delete_namespaced_service_account),
        ("Role", rbac.list_namespaced_role, rbac.list_role_for_all_namespaces, rbac.delete_namespaced_role),
        ("RoleBinding", rbac.list_namespaced_role_binding, rbac.list_role_binding_for_all_namespaces,
         rbac.delete_namespaced_role_binding),
    ]
    removed = []
    for kind, list_ns, list_all, delete in kinds:
        items: list[dict[str, Any]] = []
        if namespaces is None:
            items = ctx.caller.call(f"list {kind}", list_all, label_selector=selector).body.get("items") or []
        else:
            for ns in namespaces:
                items += ctx.caller.call(f"list {kind} in {ns}", list_ns, ns,
                                         label_selector=selector).body.get("items") or []
        for item in items:
            m = meta(item)
            extra = {"propagation_policy": "Background"} if kind == "Job" else {}
            ctx.caller.call(f"delete {kind} {m.get('namespace')}/{m.get('name')}", delete,
                            m.get("name"), m.get("namespace"), accept=(404,), **extra)
            removed.append(f"{kind} {m.get('namespace')}/{m.get('name')}")
    return removed
