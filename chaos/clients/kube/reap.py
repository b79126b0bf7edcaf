"""The reaper Job's program: ``python3 -m chaos.clients.kube.reap`` in the aftershock image.

Waits until the run's deadline, then deletes this run's chaos objects that still exist (the
dead-man's switch of :mod:`chaos.clients.kube.reaper`, whose template ``manifests/reaper-job.yaml.j2``
sets the environment read here: ``DEADLINE_EPOCH``, ``RUN_ID``, ``TARGET_NAMESPACE`` and
``CHAOS_RESOURCES``, comma-separated ``<plural>.chaos-mesh.org``). It talks to the API server as the
pod's ServiceAccount, whose Role grants ``list`` and ``delete`` on exactly those kinds in that one
namespace; the label selector scopes it to the run. A 404 counts as done; any other API error exits
non-zero so the Job retries (``backoffLimit``). Prints one line per object deleted, no credentials.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from chaos.clients.kube.context import CHAOS_GROUP, CHAOS_VERSION, RUN_LABEL


def reap(api: client.CustomObjectsApi, namespace: str, run_id: str, resources: list[str]) -> list[str]:
    """Delete every object of ``resources`` in ``namespace`` labelled with ``run_id``; their names."""
    deleted = []
    for resource in resources:
        plural, _, group = resource.partition(".")
        if group != CHAOS_GROUP:
            raise ValueError(f"not a Chaos Mesh resource: {resource!r}")
        found = cast(dict[str, Any], api.list_namespaced_custom_object(
            CHAOS_GROUP, CHAOS_VERSION, namespace, plural, label_selector=f"{RUN_LABEL}={run_id}"))
        for item in found.get("items", []):
            name = item["metadata"]["name"]
            try:
                api.delete_namespaced_custom_object(CHAOS_GROUP, CHAOS_VERSION, namespace, plural, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            deleted.append(f"{plural}/{name}")
    return deleted


def main() -> int:
    try:
        deadline = int(os.environ["DEADLINE_EPOCH"])
        run_id, namespace = os.environ["RUN_ID"], os.environ["TARGET_NAMESPACE"]
        resources = [r for r in os.environ["CHAOS_RESOURCES"].split(",") if r]
    except (KeyError, ValueError) as exc:
        print(f"reaper: bad environment ({exc}); expected DEADLINE_EPOCH, RUN_ID, TARGET_NAMESPACE, "
              "CHAOS_RESOURCES", file=sys.stderr)
        return 2
    wait = deadline - time.time()
    if wait > 0:
        print(f"reaper: run {run_id} in {namespace}: waiting {wait:.0f}s for its deadline", flush=True)
        time.sleep(wait)
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    try:
        deleted = reap(client.CustomObjectsApi(), namespace, run_id, resources)
    except (ApiException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, ApiException) else str(exc)
        print(f"reaper: run {run_id} in {namespace}: {reason}", file=sys.stderr)
        return 1
    for name in deleted:
        print(f"reaper: deleted {name} of run {run_id}", flush=True)
    print(f"reaper: run {run_id} in {namespace}: {len(deleted)} object(s) deleted, none left", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
