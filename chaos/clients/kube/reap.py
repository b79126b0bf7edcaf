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
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from chaos.clients.kube.context import CHAOS_GROUP, CHAOS_VERSION, DEADLINE_ANNOTATION, MANAGED_BY, MANAGER

DEADLINE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How the compiler writes ``aftershock.io/deadline`` (UTC, fixed width: it compares as text)."""
_DEADLINE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


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


def main() -> int:
    try:
        namespace = os.environ["TARGET_NAMESPACE"]
        resources = [r for r in os.environ["CHAOS_RESOURCES"].split(",") if r]
        grace = int(os.environ.get("GRACE_SECONDS", "300"))
    except (KeyError, ValueError) as exc:
        print(f"reaper: bad environment ({exc}); expected TARGET_NAMESPACE, CHAOS_RESOURCES, GRACE_SECONDS",
              file=sys.stderr)
        return 2
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    try:
        said = sweep(client.CustomObjectsApi(), namespace, resources, cutoff)
    except (ApiException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, ApiException) else str(exc)
        print(f"reaper: {namespace}: {reason}", file=sys.stderr)
        return 1
    for line in said:
        print(f"reaper: {line}", flush=True)
    print(f"reaper: {namespace}: swept ({sum(s.startswith('deleted') for s in said)} deleted)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
