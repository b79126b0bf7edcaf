"""Shared helpers of the tests that run against the real control plane (:mod:`kube.testbed`).

``shop_namespace`` seeds a fresh namespace with the pods every end-to-end experiment selects (four
``order-service``, two ``payment-gateway``); ``read`` / ``chaos_items`` / ``names`` read the real
server back as the admin (never through a fault proxy); :class:`Watch` is a real watch in a thread
(the base of :class:`kube.standin.ChaosMeshStandIn` and of the state-store probe of
tests/kube/test_ctk_extension_real.py).

Callers: tests/kube/*, tests/k8s_run/* (the tests against the real API server).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from kube.testbed import Testbed, collection_path

MANAGED = "app.kubernetes.io/managed-by=aftershock"


def shop_namespace(bed: Testbed, prefix: str) -> str:
    """A fresh namespace holding order-0..3 (app=order-service) and payment-0..1 (app=payment-gateway)."""
    name = bed.namespace(prefix)
    for i in range(4):
        bed.running_pod(name, f"order-{i}", {"app": "order-service"})
    for i in range(2):
        bed.running_pod(name, f"payment-{i}", {"app": "payment-gateway"})
    return name


def read(bed: Testbed, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The stored object (by apiVersion/kind/namespace/name), or None when it does not exist."""
    with bed.admin() as api:
        reply = api.get(f"{collection_path(api, obj)}/{obj['metadata']['name']}")
        return None if reply.status_code == 404 else dict(reply.raise_for_status().json())


def items(bed: Testbed, path: str, selector: str = "") -> list[dict[str, Any]]:
    with bed.admin() as api:
        params = {"labelSelector": selector} if selector else {}
        return list(api.get(path, params=params).raise_for_status().json()["items"])


def names(bed: Testbed, path: str, selector: str = "") -> list[str]:
    return sorted(o["metadata"]["name"] for o in items(bed, path, selector))


def chaos_items(bed: Testbed, ns: str, plural: str = "networkchaos", selector: str = "") -> list[dict[str, Any]]:
    return items(bed, f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/{plural}", selector)


class Watch:
    """A real watch on a collection ``path`` in a daemon thread; :meth:`event` gets each event.

    Use as a context manager: entering returns once the watch is established."""

    def __init__(self, bed: Testbed, path: str) -> None:
        self.bed, self.path = bed, path
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        if not self.ready.wait(30):
            raise AssertionError(f"the watch on {self.path} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def event(self, api: httpx.Client, kind: str, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def _watch(self) -> None:
        with self.bed.admin(timeout=None) as api:  # type: ignore[arg-type]
            version = api.get(self.path).raise_for_status().json()["metadata"]["resourceVersion"]
            while not self.stop.is_set():
                params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "2",
                          "allowWatchBookmarks": "false"}
                with api.stream("GET", self.path, params=params) as reply:
                    self.ready.set()
                    for line in reply.iter_lines():
                        if self.stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        version = event["object"]["metadata"]["resourceVersion"]
                        try:
                            self.event(api, event["type"], event["object"])
                        except httpx.HTTPError as exc:  # recorded; the next event retries
                            self.errors.append(str(exc))
