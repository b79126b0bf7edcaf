"""The reaper's program: ``python3 -m chaos.clients.kube.reap`` in the aftershock image.

One sweep of the dead-man's switch of :mod:`chaos.clients.kube.reaper`: the CronJob an administrator
installs once per namespace (``manifests/reaper.yaml.j2``) runs it every minute with
``TARGET_NAMESPACE``, ``CHAOS_RESOURCES`` (comma-separated ``<plural>.chaos-mesh.org``) and
``GRACE_SECONDS``. It lists our chaos objects there (``app.kubernetes.io/managed-by=aftershock``) and
deletes those whose ``aftershock.io/deadline`` annotation is older than now - grace: what a killed
run left behind. It talks to the API server as the CronJob's ServiceAccount, whose Role grants
``list`` and ``delete`` on exactly those kinds in that one namespace. An object without a well-formed
deadline is left alone and said. A 404 on delete counts as done; any other API error exits non-zero
(the Job's ``backoffLimit`` retries). Prints one line per object deleted, never a credential.

It also reverts expired degrades: ``UNDO_OBJECTS`` (``Kind/name,...``: the ConfigMaps and workloads
the namespace's experiments degrade, the only objects its Role may ``get``/``patch``, by
``resourceNames``) are read, and every ``undo.aftershock.io/<run>.<n>`` annotation whose deadline is
older than now - grace is reverted from the token it holds (:func:`chaos.clients.kube.degrade.revert`:
the exact prior values, refused when someone changed the field since; the annotation removed in the
same patch). ``UNDO_OBJECTS`` may also name ``HTTPRoute``/``VirtualService`` routes (a circuit-break's
``with.routes``): their undo annotations hold the route's entries as they were before the run
(:func:`chaos.clients.kube.weights.revert_route`: restored exactly, refused when a weight was changed
since, the annotation removed in the same patch). A token that names another object, or a malformed
one, is left alone and said.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from chaos.clients.kube.context import CHAOS_GROUP, CHAOS_VERSION, DEADLINE_ANNOTATION, MANAGED_BY, MANAGER
from chaos.clients.kube.undo_record import DEADLINE_RE as _DEADLINE_RE

DEADLINE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How the compiler writes ``aftershock.io/deadline`` (UTC, fixed width: it compares as text)."""


def sweep(api: client.CustomObjectsApi, namespace: str, resources: list[str], cutoff: datetime) -> list[str]:
    """Delete our objects of ``resources`` in ``namespace`` whose deadline is before ``cutoff``; what was
    deleted and what was left alone, in words."""
    said = []
    stamp = cutoff.astimezone(UTC).strftime(DEADLINE_FORMAT)
    for resource in resources:
        plural, _, group = resource.partition(".")
        if group != CHAOS_GROUP:
            raise ValueError(f"not a Chaos Mesh resource: {resource!r}")
        found = cast(dict[str, Any], api.list_namespaced_custom_object(
            CHAOS_GROUP, CHAOS_VERSION, namespace, plural, label_selector=f"{MANAGED_BY}={MANAGER}"))
        for item in found.get("items", []):
            name = item["metadata"]["name"]
            deadline = (item["metadata"].get("annotations") or {}).get(DEADLINE_ANNOTATION)
            if not isinstance(deadline, str) or not _DEADLINE_RE.fullmatch(deadline):
                said.append(f"left {plural}/{name}: no well-formed {DEADLINE_ANNOTATION} annotation")
                continue
            if deadline >= stamp:
                continue  # its run may still be going
            try:
                api.delete_namespaced_custom_object(CHAOS_GROUP, CHAOS_VERSION, namespace, plural, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            said.append(f"deleted {plural}/{name} (deadline {deadline})")
    return said


def revert_expired(ctx: Any, namespace: str, objects: list[tuple[str, str]], cutoff: datetime) -> list[str]:
    """Revert every undo annotation of ``objects`` (``(kind, name)`` in ``namespace``: degraded objects
    and routes) whose deadline is before ``cutoff``; what was reverted and what was left, in words.
    ``ctx``: a ``KubeContext``."""
    from chaos.clients.kube.degrade import RevertToken, read_object, revert
    from chaos.clients.kube.undo_record import UNDO_PREFIX, decode
    from chaos.clients.kube.weights import ROUTE_KINDS, WeightSnapshot, read_route, revert_route
    from chaos.errors import ChaosError

    said: list[str] = []
    stamp = cutoff.astimezone(UTC).strftime(DEADLINE_FORMAT)
    for kind, name in objects:
        route = kind in ROUTE_KINDS
        try:
            obj = read_route(ctx, kind, namespace, name)[1] if route else read_object(ctx, kind, namespace, name)
        except ChaosError as exc:  # gone, or not ours to read: said, the others still swept
            said.append(f"left {kind}/{name}: {exc}")
            continue
        for key, value in sorted(((obj.get("metadata") or {}).get("annotations") or {}).items()):
            if not key.startswith(UNDO_PREFIX):
                continue
            try:
                deadline, raw = decode(value)
                if route:
                    snapshot = WeightSnapshot.from_dict(raw)
                    named = {(c.kind, c.namespace, c.name) for c in snapshot.changes} | {(kind, snapshot.namespace, name)}
                else:
                    token = RevertToken.from_dict({**raw, "annotation": key})
                    named = {(token.kind, token.namespace, token.name)}
            except (ValueError, KeyError, TypeError) as exc:
                said.append(f"left {kind}/{name} {key}: malformed undo record ({exc})")
                continue
            if named != {(kind, namespace, name)}:
                said.append(f"left {kind}/{name} {key}: its token names another object")  # never patched
                continue
            if deadline >= stamp:
                continue  # its run may still be going
            try:
                if route:
                    revert_route(ctx, kind, namespace, name, key, snapshot)
                else:
                    revert(ctx, token)
            except ChaosError as exc:  # changed by someone since (never clobbered), or refused
                said.append(f"left {kind}/{name} {key}: {exc}")
                continue
            said.append(f"reverted {kind}/{name} ({key}, deadline {deadline})")
    return said


def _undo_objects(text: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, text.split(",")):
        kind, _, name = item.partition("/")
        if not kind or not name:
            raise ValueError(f"UNDO_OBJECTS entry {item!r} is not Kind/name")
        out.append((kind, name))
    return out


def main() -> int:
    try:
        namespace = os.environ["TARGET_NAMESPACE"]
        resources = [r for r in os.environ["CHAOS_RESOURCES"].split(",") if r]
        grace = int(os.environ.get("GRACE_SECONDS", "300"))
        undo_objects = _undo_objects(os.environ.get("UNDO_OBJECTS", ""))
    except (KeyError, ValueError) as exc:
        print(f"reaper: bad environment ({exc}); expected TARGET_NAMESPACE, CHAOS_RESOURCES, GRACE_SECONDS",
              file=sys.stderr)
        return 2
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    try:
        said = sweep(client.CustomObjectsApi(), namespace, resources, cutoff)
        if undo_objects:
            from chaos.clients.kube.calls import Caller
            from chaos.clients.kube.context import KubeContext
            from chaos.clients.kube.settings import KubeSettings

            settings = KubeSettings()
            api = client.ApiClient()
            ctx = KubeContext(settings, api, Caller(settings, str(api.configuration.host)))
            said += revert_expired(ctx, namespace, undo_objects, cutoff)
    except (ApiException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, ApiException) else str(exc)
        print(f"reaper: {namespace}: {reason}", file=sys.stderr)
        return 1
    for line in said:
        print(f"reaper: {line}", flush=True)
    print(f"reaper: {namespace}: swept ({sum(s.startswith('deleted') for s in said)} deleted, "
          f"{sum(s.startswith('reverted') for s in said)} reverted)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
