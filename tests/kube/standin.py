"""The one Chaos Mesh piece the testbed lacks, played against the real API server: its controller's
bookkeeping. For every chaos object it sees (a real watch), it adds the ``chaos-mesh/records``
finalizer and reports the selected pods as injected in ``status`` (the status subresource), and when
the object is being deleted it lets the finalizer go. Nothing is injected into any pod: there is no
chaos-daemon here. Used by tests/k8s_run/test_run_real.py.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from kube.testbed import Testbed

FINALIZER = "chaos-mesh/records"
MERGE = {"Content-Type": "application/merge-patch+json"}


class ChaosMeshStandIn:
    def __init__(self, bed: Testbed, plural: str = "networkchaos") -> None:
        self.bed = bed
        self.plural = plural
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.errors: list[str] = []
        self.ready = threading.Event()

    def __enter__(self) -> ChaosMeshStandIn:
        self.thread.start()
        if not self.ready.wait(30):
            raise AssertionError("the Chaos Mesh stand-in did not start watching")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def _watch(self) -> None:
        with self.bed.admin(timeout=None) as api:  # type: ignore[arg-type]
            base = f"/apis/chaos-mesh.org/v1alpha1/{self.plural}"
            version = api.get(base).raise_for_status().json()["metadata"]["resourceVersion"]
            while not self.stop.is_set():
                params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "2",
                          "allowWatchBookmarks": "false"}
                with api.stream("GET", base, params=params) as reply:
                    self.ready.set()
                    for line in reply.iter_lines():
                        if self.stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            try:
                                self._reconcile(api, obj)
                            except httpx.HTTPError as exc:  # recorded; the next event retries
                                self.errors.append(str(exc))

    def _reconcile(self, api: httpx.Client, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        path = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{meta['namespace']}/{self.plural}/{meta['name']}"
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FINALIZER in finalizers:
                api.patch(path, headers=MERGE, json={"metadata": {
                    "finalizers": [f for f in finalizers if f != FINALIZER] or None}}).raise_for_status()
            return
        if FINALIZER not in finalizers:
            api.patch(path, headers=MERGE,
                      json={"metadata": {"finalizers": [*finalizers, FINALIZER]}}).raise_for_status()
            return
        if (obj.get("status") or {}).get("conditions"):
            return
        selector = obj["spec"].get("selector") or {}
        labels = ",".join(f"{k}={v}" for k, v in (selector.get("labelSelectors") or {}).items())
        pods = []
        for ns in selector.get("namespaces") or [meta["namespace"]]:
            pods += api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": labels}).json()["items"]
        records = [{"id": f"{p['metadata']['namespace']}/{p['metadata']['name']}", "phase": "Injected",
                    "selectorKey": ".", "injectedCount": 1, "recoveredCount": 0} for p in pods[:1]]
        status = {"status": {
            "experiment": {"desiredPhase": "Run", "containerRecords": records},
            "conditions": [{"type": t, "status": s} for t, s in (
                ("Selected", "True"), ("AllInjected", "True"), ("AllRecovered", "False"), ("Paused", "False"))]}}
        # The CRDs generated from the chaos-mesh api module declare no status subresource: the
        # controller writes status with the object.
        reply = api.patch(f"{path}/status", headers=MERGE, json=status)
        if reply.status_code == 404:
            reply = api.patch(path, headers=MERGE, json=status)
        reply.raise_for_status()
