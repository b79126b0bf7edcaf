"""Dead-man's switch: the reaper, a CronJob installed once per namespace that deletes our chaos objects
whose deadline has passed, whoever created them and whether or not that process is still alive.

Least privilege shapes it: a run's identity creates no Job, ServiceAccount, Role or RoleBinding (that
would be "run any pod as any ServiceAccount" in the target namespace). An administrator installs the
reaper once per namespace — ``aftershock rbac FILE --reaper | kubectl apply -f -`` renders
:func:`reaper_manifests` from ``manifests/reaper.yaml.j2`` (jinja2 ``SandboxedEnvironment``,
``StrictUndefined``): its own ServiceAccount, a Role of ``list``/``delete`` on the Chaos Mesh kinds (and
``get``/``patch`` by name on the objects the experiments degrade, to revert an expired degrade), the
RoleBinding, and a CronJob that every minute deletes the objects labelled
``app.kubernetes.io/managed-by=aftershock`` whose ``aftershock.io/deadline`` annotation is older than
``reaper_grace`` seconds. A run only reads that CronJob (``get``, by name) to know the switch is armed
before it injects (:func:`create_reaper`, which refuses when it is missing or suspended). Callers:
``target`` (``create_reaper``, ``remove_reaper``), ``aftershock rbac --reaper``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from chaos.clients.kube.context import CHAOS_GROUP, MANAGED_BY, MANAGER, POD_CHAOS_KINDS, KubeContext, meta
from chaos.clients.kube.settings import KubeSettings
from chaos.clients.kube.weights import ROUTE_KINDS
from chaos.errors import TargetError

COMPONENT = "app.kubernetes.io/component"
REAPER_NAME = "aftershock-reaper"
"""The name of the reaper's ServiceAccount, Role, RoleBinding and CronJob in each namespace."""
REAPER_LABELS = {MANAGED_BY: MANAGER, COMPONENT: "reaper"}
REAPER_TEMPLATE = "reaper.yaml.j2"
JOB_DEADLINE_S = 300
"""How long one sweep may run before Kubernetes stops it."""


def reaper_manifests(settings: KubeSettings, namespace: str, kinds: Iterable[str] = POD_CHAOS_KINDS,
                     undo_objects: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """The reaper's ServiceAccount, Role, RoleBinding and CronJob for ``namespace`` (what an
    administrator applies once; pure apart from reading the template). ``undo_objects``: the
    ``(kind, name)`` the experiments degrade there, and the HTTPRoutes/VirtualServices their
    circuit-breaks may re-weight (``with.routes``); the Role may ``get``/``patch`` exactly those (by
    ``resourceNames``) so an expired degrade or route weight is reverted from its undo annotation."""
    plurals = sorted({k.lower() for k in kinds})
    objects = sorted(set(undo_objects))
    names: dict[tuple[str, str], list[str]] = {}
    for kind, name in objects:
        if kind in ROUTE_KINDS:
            group, _, resource, _, _ = ROUTE_KINDS[kind]
        else:
            group, resource = ("" if kind == "ConfigMap" else "apps"), kind.lower() + "s"
        names.setdefault((group, resource), []).append(name)
    values = {
        "undo_rules": [{"group": g, "resource": r, "names": n} for (g, r), n in sorted(names.items())],
        "undo_objects": ",".join(f"{k}/{n}" for k, n in objects),
        "name": REAPER_NAME, "namespace": namespace, "labels": REAPER_LABELS, "plurals": plurals,
        "resources": ",".join(f"{p}.{CHAOS_GROUP}" for p in plurals), "image": settings.reaper_image,
        "grace_seconds": settings.reaper_grace, "active_deadline_seconds": JOB_DEADLINE_S,
        "ttl_seconds_after_finished": settings.reaper_ttl,
    }
    path = Path(settings.manifests_dir) / REAPER_TEMPLATE
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        text = env.from_string(path.read_text(encoding="utf-8")).render(**values)
        return [d for d in yaml.safe_load_all(text) if d]
    except (OSError, TemplateError, yaml.YAMLError) as exc:
        raise TargetError(f"cannot render the reaper manifest {path}: {exc}") from exc


def create_reaper(ctx: KubeContext, run_id: str, namespace: str, deadline: datetime,
                  kinds: Iterable[str], now: datetime) -> dict[str, Any]:
    """Make sure the namespace's reaper is armed before a run injects there: its CronJob exists, is ours
    and is not suspended. Creates nothing. Returns what the journal records."""
    if deadline.tzinfo is None:
        raise TargetError("the reaper deadline must be timezone-aware (UTC)")
    fix = (f"have an administrator install it once: aftershock rbac FILE --reaper -n {namespace} | kubectl "
           "apply -f -  (or run with --no-reaper: then nothing removes the faults if aftershock is killed)")
    reply = ctx.caller.call(f"read reaper CronJob {namespace}/{REAPER_NAME}", ctx.batch.read_namespaced_cron_job,
                            REAPER_NAME, namespace, accept=(404,))
    if reply.status == 404:
        raise TargetError(f"no reaper in namespace {namespace}: {fix}")
    cron = reply.body
    labels = meta(cron).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER or labels.get(COMPONENT) != "reaper":
        raise TargetError(f"CronJob {namespace}/{REAPER_NAME} is not Aftershock's reaper (labels {labels}): {fix}")
    if (cron.get("spec") or {}).get("suspend"):
        raise TargetError(f"the reaper CronJob {namespace}/{REAPER_NAME} is suspended: resume it "
                          f"(kubectl -n {namespace} patch cronjob {REAPER_NAME} -p '{{\"spec\":{{\"suspend\":false}}}}')")
    return {"job": REAPER_NAME, "namespace": namespace, "deadline": deadline.isoformat(),
            "reaper": f"CronJob {namespace}/{REAPER_NAME}"}


def remove_reaper(ctx: KubeContext, run_id: str, namespaces: Iterable[str] | None = None) -> list[str]:
    """Nothing to remove: the reaper is the namespace's, not the run's (it outlives every run)."""
    return []
