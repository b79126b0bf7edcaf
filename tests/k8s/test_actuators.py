"""Actuator paths the real API server cannot stage (kept on the kmock emulator): an injected 409 on
revert, no route CRDs installed at all, and pod-level faults. Patch + exact revert and route
weights run against the real control plane in tests/kube/test_actuators.py."""

from __future__ import annotations

from typing import Any

import kmock
import pytest

from chaos.clients.kube import KubernetesTarget
from chaos.errors import ActuatorError
from k8s.emulator import ClusterEmulator


def deployment(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "order", "namespace": "shop", "annotations": {"team": "checkout"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "order-service"}},
                     "template": {"metadata": {"labels": {"app": "order-service"}},
                                  "spec": {"containers": [{"name": "app", "image": "order:1", "env": env},
                                                          {"name": "sidecar", "image": "envoy"}]}}}}


async def test_env_patch_needs_container_when_ambiguous(cluster: ClusterEmulator,
                                                         target: KubernetesTarget) -> None:
    cluster.add(deployment([]))
    with pytest.raises(ActuatorError, match=r"name the container.*app, sidecar"):
        await target.apply_patch("Deployment", "shop", "order", {"env": {"X": "1"}})


async def test_revert_retries_on_resource_version_conflict(cluster: ClusterEmulator,
                                                           target: KubernetesTarget) -> None:
    cluster.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": "shop"},
                 "data": {"a": "1"}})
    token = await target.apply_patch("ConfigMap", "shop", "flags", {"data": {"a": "2"}})
    conflict = cluster[kmock.method.PATCH][1:2] << 409  # the first revert write loses a race
    await target.revert(token)
    assert len(conflict) == 1
    assert cluster.get("ConfigMap", "shop", "flags")["data"] == {"a": "1"}  # type: ignore[index]


HTTPROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "payments", "namespace": "shop"},
    "spec": {"parentRefs": [{"name": "gw"}], "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/pay"}}],
         "backendRefs": [{"name": "payment-gateway", "port": 8080, "weight": 90},
                         {"name": "payment-canary", "port": 8080, "weight": 10}]},
        {"backendRefs": [{"name": "payment-gateway", "port": 8080}]},  # weight absent (defaults to 1)
    ]},
}
VIRTUALSERVICE = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
    "metadata": {"name": "payments", "namespace": "shop"},
    "spec": {"hosts": ["payments"], "http": [
        {"route": [{"destination": {"host": "payment-gateway.shop.svc.cluster.local"}, "weight": 80},
                   {"destination": {"host": "payment-fallback"}, "weight": 20}]}]},
}


async def test_circuit_break_refuses_without_routes(cluster: ClusterEmulator,
                                                    target: KubernetesTarget) -> None:
    with pytest.raises(ActuatorError, match="neither HTTPRoute nor VirtualService CRDs are installed"):
        await target.set_backend_weight("shop", "payment-gateway", 0)
    cluster.install_routes(["HTTPRoute"])
    cluster.add(HTTPROUTE)
    with pytest.raises(ActuatorError, match=r"routes to service 'inventory' \(installed: HTTPRoute\)"):
        await target.set_backend_weight("shop", "inventory", 0)


async def test_pod_level_faults(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    cluster.add(deployment([]))
    assert await target.scale_deployment("shop", "order", 1) == 3
    assert cluster.get("Deployment", "shop", "order")["spec"]["replicas"] == 1  # type: ignore[index]
    cluster.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "order-0", "namespace": "shop"}})
    await target.delete_pod("shop", "order-0", grace=0)
    assert cluster.get("Pod", "shop", "order-0") is None
    assert next(iter(cluster[kmock.method.DELETE])).params["gracePeriodSeconds"] == "0"
    with pytest.raises(ActuatorError, match="does not exist"):
        await target.delete_pod("shop", "order-0")
