"""The one Chaos Mesh piece the testbed lacks, played against the real API server: its controller's
bookkeeping. For every chaos object it sees (a real watch), it adds the ``chaos-mesh/records``
finalizer and reports the selected pods in ``status`` (the status subresource), and when the object is
being deleted it lets the finalizer go. Nothing is injected into any pod: there is no chaos-daemon.

Two failure modes, as a broken Chaos Mesh shows them: ``inject=False`` reports every selected pod
``Not Injected`` with a ``Failed`` Apply event (a chaos-daemon that cannot be reached), and
``release=False`` keeps the finalizer of a deleted object while reporting a ``Failed`` Recover event.

Used by tests/k8s_run (the CLI end to end), tests/kube/test_ctk_extension_real.py and
tests/kube/test_chaos_objects.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kube.realshop import Watch
from kube.testbed import Testbed

FINALIZER = "chaos-mesh/records"
MERGE = {"Content-Type": "application/merge-patch+json"}
UNREACHABLE = "rpc error: chaos-daemon unreachable (stand-in)"


class ChaosMeshStandIn(Watch):
    def __init__(self, bed: Testbed, plural: str = "networkchaos", *, inject: bool = True,
                 release: bool = True) -> None:
        super().__init__(bed, f"/apis/chaos-mesh.org/v1alpha1/{plural}")
        self.plural = plural
        self.inject = inject
        self.release = release

    def __enter__(self) -> ChaosMeshStandIn:
        super().__enter__()
        return self

    def event(self, api: httpx.Client, kind: str, obj: dict[str, Any]) -> None:
        if kind in ("ADDED", "MODIFIED"):
            try:
                self._reconcile(api, obj)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise
                # the event was older than the object's deletion: gone, nothing to reconcile (a
                # controller ignores NotFound the same way)

    def _reconcile(self, api: httpx.Client, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        path = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{meta['namespace']}/{self.plural}/{meta['name']}"
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FINALIZER not in finalizers:
                return
            if self.release:
                api.patch(path, headers=MERGE, json={"metadata": {
                    "finalizers": [f for f in finalizers if f != FINALIZER] or None}}).raise_for_status()
            elif not _has_event(obj, "Recover"):
                self._status(api, path, self._report(api, obj, "Injected", ("Recover", UNREACHABLE)))
            return
        if FINALIZER not in finalizers:
            api.patch(path, headers=MERGE,
                      json={"metadata": {"finalizers": [*finalizers, FINALIZER]}}).raise_for_status()
            return
        if (obj.get("status") or {}).get("conditions"):
            return
        if self.inject:
            self._status(api, path, self._report(api, obj, "Injected"))
        else:
            self._status(api, path, self._report(api, obj, "Not Injected", ("Apply", UNREACHABLE)))

    def _report(self, api: httpx.Client, obj: dict[str, Any], phase: str,
                failed: tuple[str, str] | None = None) -> dict[str, Any]:
        meta = obj["metadata"]
        selector = obj["spec"].get("selector") or {}
        labels = ",".join(f"{k}={v}" for k, v in (selector.get("labelSelectors") or {}).items())
        pods = []
        for ns in selector.get("namespaces") or [meta["namespace"]]:
            pods += api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": labels}).json()["items"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        events = [{"type": "Failed", "operation": failed[0], "message": failed[1], "timestamp": now}] if failed else []
        records = [{"id": f"{p['metadata']['namespace']}/{p['metadata']['name']}", "phase": phase,
                    "selectorKey": ".", "injectedCount": int(phase == "Injected"), "recoveredCount": 0,
                    "events": events} for p in pods[:1]]
        injected = "True" if phase == "Injected" else "False"
        return {"status": {
            "experiment": {"desiredPhase": "Stop" if meta.get("deletionTimestamp") else "Run",
                           "containerRecords": records},
            "conditions": [{"type": t, "status": s} for t, s in (
                ("Selected", "True"), ("AllInjected", injected), ("AllRecovered", "False"), ("Paused", "False"))]}}

    @staticmethod
    def _status(api: httpx.Client, path: str, status: dict[str, Any]) -> None:
        # The CRDs generated from the chaos-mesh api module declare no status subresource: the
        # controller writes status with the object.
        reply = api.patch(f"{path}/status", headers=MERGE, json=status)
        if reply.status_code == 404:
            reply = api.patch(path, headers=MERGE, json=status)
        reply.raise_for_status()


def _has_event(obj: dict[str, Any], operation: str) -> bool:
    records = ((obj.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    return any(e.get("operation") == operation for r in records for e in r.get("events") or [])


@pytest.fixture
def standin(kube_testbed: Testbed) -> Iterator[ChaosMeshStandIn]:
    """The stand-in on NetworkChaos objects for the duration of a test."""
    with ChaosMeshStandIn(kube_testbed) as s:
        yield s
