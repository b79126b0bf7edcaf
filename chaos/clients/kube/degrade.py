"""Degrade actuator: patch a ConfigMap data key, a workload container env var, or an annotation, and
revert it to the exact prior value.

Every write reads first and sends the read ``resourceVersion`` (optimistic lock: the API server answers
409 if the object changed in between; we re-read a bounded number of times). Revert refuses, with a
clear :class:`ActuatorError`, when someone else changed the field after us, instead of clobbering it.
:class:`RevertToken` is plain data (``as_dict``/``from_dict``) so the run journal can keep it and
``aftershock recover`` can revert after a crash. With ``undo=(run, deadline)`` the same patch also
writes the token and its deadline into an annotation of the patched object
(``undo.aftershock.io/<run>.<n>``), removed again by :func:`revert`: the namespace's reaper
(:mod:`chaos.clients.kube.reap`) reverts an expired one even if the machine that ran Aftershock is
gone. Callers: ``target`` (the run engine's degrade policy), the reaper's sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chaos.clients.kube.context import KubeContext, meta
from chaos.clients.kube.undo_record import UNDO_PREFIX, encode, undo_key
from chaos.errors import ActuatorError

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
SUPPORTED_KINDS = ("ConfigMap", *WORKLOAD_KINDS)
CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class FieldChange:
    """One value we changed: ``before``/``after`` None means the key was / is absent."""

    field: str
    """``data``, ``annotations`` or ``env``."""
    key: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class RevertToken:
    """Everything needed to undo one :func:`apply_patch` exactly."""

    kind: str
    namespace: str
    name: str
    changes: tuple[FieldChange, ...]
    container: str | None = None
    resource_version: str = ""
    """The object's resourceVersion right after our write (for the journal; revert re-reads)."""
    annotation: str = ""
    """The undo annotation written with the patch (removed by the revert), or empty."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RevertToken:
        changes = tuple(FieldChange(**c) for c in data.get("changes") or [])
        return cls(kind=str(data["kind"]), namespace=str(data["namespace"]), name=str(data["name"]),
                   changes=changes, container=data.get("container"),
                   resource_version=str(data.get("resource_version", "")),
                   annotation=str(data.get("annotation", "")))


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ActuatorError(f"degrade values must be strings, numbers or booleans, got {value!r}")


def _api(ctx: KubeContext, kind: str) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """(read, patch, content type) for ``kind``."""
    if kind == "ConfigMap":
        return ctx.core.read_namespaced_config_map, ctx.core.patch_namespaced_config_map, MERGE_PATCH
    apps = ctx.apps
    table = {"Deployment": (apps.read_namespaced_deployment, apps.patch_namespaced_deployment),
             "StatefulSet": (apps.read_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
             "DaemonSet": (apps.read_namespaced_daemon_set, apps.patch_namespaced_daemon_set)}
    if kind not in table:
        raise ActuatorError(f"degrade cannot patch kind {kind!r}; supported: {', '.join(SUPPORTED_KINDS)}")
    read, patch = table[kind]
    return read, patch, STRATEGIC_PATCH


def read_object(ctx: KubeContext, kind: str, namespace: str, name: str) -> dict[str, Any]:
    read, _, _ = _api(ctx, kind)
    reply = ctx.caller.call(f"read {kind} {namespace}/{name}", read, name, namespace, accept=(404,))
    if reply.status == 404:
        raise ActuatorError(f"degrade: {kind} {namespace}/{name} does not exist")
    return reply.body


def _containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((((obj.get("spec") or {}).get("template") or {}).get("spec") or {})
                 .get("containers")) or [])


def _pick_container(obj: Mapping[str, Any], wanted: str | None, what: str) -> dict[str, Any]:
    containers = _containers(obj)
    names = [str(c.get("name")) for c in containers]
    if wanted is None and len(containers) == 1:
        return containers[0]
    for c in containers:
        if c.get("name") == wanted:
            return c
    raise ActuatorError(f"{what}: {'name the container (patch.container)' if wanted is None else f'no container {wanted!r}'}"
                        f"; containers: {', '.join(names) or 'none'}")


def current_value(obj: Mapping[str, Any], change_field: str, key: str,
                  container: str | None, what: str) -> str | None:
    """The value a field holds now (None: absent); env vars set via valueFrom are refused."""
    if change_field == "data":
        return (obj.get("data") or {}).get(key)
    if change_field == "annotations":
        return (meta(obj).get("annotations") or {}).get(key)
    for var in _pick_container(obj, container, what).get("env") or []:
        if var.get("name") == key:
            if "valueFrom" in var:
                raise ActuatorError(f"{what}: env var {key} is set via valueFrom; degrade only "
                                    "replaces literal values")
            return str(var.get("value", ""))
    return None


def _body(kind: str, rv: str, container: str | None,
          values: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    """A patch setting ``(field, key, value)`` triples (value None deletes the key)."""
    body: dict[str, Any] = {"metadata": {"resourceVersion": rv}}
    env: list[dict[str, Any]] = []
    for change_field, key, value in values:
        if change_field == "data":
            body.setdefault("data", {})[key] = value
        elif change_field == "annotations":
            body["metadata"].setdefault("annotations", {})[key] = value
        else:
            env.append({"name": key, "value": value} if value is not None
                       else {"name": key, "$patch": "delete"})
    if env:
        body["spec"] = {"template": {"spec": {"containers": [{"name": container, "env": env}]}}}
    return body


def _write(ctx: KubeContext, kind: str, namespace: str, name: str, body: dict[str, Any],
           what: str) -> dict[str, Any] | None:
    """Patch; None on 409 (resourceVersion moved on), so the caller re-reads and retries."""
    _, patch, content_type = _api(ctx, kind)
    reply = ctx.caller.call(what, patch, name, namespace, body, accept=(409,), _content_type=content_type)
    return None if reply.status == 409 else reply.body


def apply_patch(ctx: KubeContext, kind: str, namespace: str, name: str,
                patch: Mapping[str, Any], undo: tuple[str, str] | None = None) -> RevertToken:
    """Set ``patch`` = ``{data: {k: v}}`` (ConfigMap), ``{env: {NAME: v}, container: c}`` (workloads),
    and/or ``{annotations: {k: v}}``; returns the token that undoes exactly this. ``undo``: ``(run id,
    deadline)``: the token and its deadline go into an undo annotation in the same patch."""
    what = f"degrade {kind} {namespace}/{name}"
    unknown = set(patch) - {"data", "env", "annotations", "container"}
    if unknown:
        raise ActuatorError(f"{what}: unsupported patch keys {sorted(unknown)}; use data (ConfigMap), "
                            "env + container (Deployment/StatefulSet/DaemonSet) or annotations")
    if "data" in patch and kind != "ConfigMap":
        raise ActuatorError(f"{what}: `data` applies to ConfigMaps only")
    if "env" in patch and kind not in WORKLOAD_KINDS:
        raise ActuatorError(f"{what}: `env` applies to {', '.join(WORKLOAD_KINDS)} only")
    wanted = [(f, str(k), _as_text(v)) for f in ("data", "annotations", "env")
              for k, v in (patch.get(f) or {}).items()]
    if not wanted:
        raise ActuatorError(f"{what}: empty patch")
    for _ in range(CONFLICT_RETRIES):
        obj = read_object(ctx, kind, namespace, name)
        container = None
        if any(f == "env" for f, _, _ in wanted):
            container = str(_pick_container(obj, patch.get("container"), what).get("name"))
        changes = tuple(FieldChange(f, k, current_value(obj, f, k, container, what), v)
                        for f, k, v in wanted)
        body = _body(kind, str(meta(obj).get("resourceVersion", "")), container, wanted)
        key = ""
        if undo is not None:
            key = undo_key(obj, undo[0])
            token = asdict(RevertToken(kind, namespace, name, changes, container, annotation=key))
            body["metadata"].setdefault("annotations", {})[key] = encode(undo[1], token)
        written = _write(ctx, kind, namespace, name, body, what)
        if written is not None:
            return RevertToken(kind, namespace, name, changes, container,
                               str(meta(written).get("resourceVersion", "")), key)
    raise ActuatorError(f"{what}: the object kept changing under us ({CONFLICT_RETRIES} conflicts); "
                        "nothing was changed")


def revert(ctx: KubeContext, token: RevertToken) -> None:
    """Restore every ``before`` value of ``token`` (absent keys are removed again)."""
    what = f"revert degrade of {token.kind} {token.namespace}/{token.name}"
    for _ in range(CONFLICT_RETRIES):
        obj = read_object(ctx, token.kind, token.namespace, token.name)
        drift = []
        for c in token.changes:
            now = current_value(obj, c.field, c.key, token.container, what)
            if now != c.after:
                drift.append(f"{c.field}.{c.key}: we set {c.after!r}, it is now {now!r}; "
                             f"its value before the run was {c.before!r}")
        if drift:
            raise ActuatorError(f"{what}: changed by someone else since Aftershock patched it; not "
                                f"overwriting their change. Restore by hand if needed: {'; '.join(drift)}")
        undone = [(c.field, c.key, c.before) for c in token.changes]
        if token.annotation.startswith(UNDO_PREFIX):
            undone.append(("annotations", token.annotation, None))  # the undo record goes with the change
        body = _body(token.kind, str(meta(obj).get("resourceVersion", "")), token.container, undone)
        if _write(ctx, token.kind, token.namespace, token.name, body, what) is not None:
            return
    raise ActuatorError(f"{what}: resourceVersion conflict {CONFLICT_RETRIES} times in a row; "
                        f"the object is being changed concurrently, revert by hand: "
                        + "; ".join(f"{c.field}.{c.key} -> {c.before!r}" for c in token.changes))


def delete_pod(ctx: KubeContext, namespace: str, name: str, grace: int | None = None) -> None:
    """Delete one pod (a pod-kill without Chaos Mesh)."""
    reply = ctx.caller.call(f"delete pod {namespace}/{name}", ctx.core.delete_namespaced_pod, name,
                            namespace, grace_period_seconds=grace, accept=(404,))
    if reply.status == 404:
        raise ActuatorError(f"pod {namespace}/{name} does not exist")


def scale_deployment(ctx: KubeContext, namespace: str, name: str, replicas: int) -> int:
    """Set ``spec.replicas``; returns the previous count for the journal (scale back with it)."""
    obj = read_object(ctx, "Deployment", namespace, name)
    previous = int((obj.get("spec") or {}).get("replicas", 1))
    ctx.caller.call(f"scale Deployment {namespace}/{name} to {replicas}",
                    ctx.apps.patch_namespaced_deployment, name, namespace,
                    {"spec": {"replicas": int(replicas)}}, _content_type=MERGE_PATCH)
    return previous
