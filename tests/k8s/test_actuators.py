"""Degrade (patch + exact revert), circuit-break weights (HTTPRoute, VirtualService), pod-level faults."""

from __future__ import annotations

import copy
from typing import Any

import kmock
import pytest

from chaos.clients.kube import KubernetesTarget, RevertToken, WeightSnapshot
from chaos.errors import ActuatorError
from k8s.emulator import ClusterEmulator


def deployment(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "order", "namespace": "shop", "annotations": {"team": "checkout"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "order-service"}},
                     "template": {"metadata": {"labels": {"app": "order-service"}},
                                  "spec": {"containers": [{"name": "app", "image": "order:1", "env": env},
                                                          {"name": "sidecar", "image": "envoy"}]}}}}


async def test_configmap_patch_and_exact_revert(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    original = cluster.add({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "flags", "namespace": "shop"},
                            "data": {"payment_channel": "primary", "other": "x"}})
    token = await target.apply_patch("ConfigMap", "shop", "flags",
                                     {"data": {"payment_channel": "backup", "fallback": True},
                                      "annotations": {"aftershock.io/degraded": "yes"}})
    patched = cluster.get("ConfigMap", "shop", "flags")
    assert patched is not None
    assert patched["data"] == {"payment_channel": "backup", "other": "x", "fallback": "true"}
    # The token survives the journal round trip.
    token = RevertToken.from_dict(token.as_dict())
    await target.revert(token)
    reverted = cluster.get("ConfigMap", "shop", "flags")
    assert reverted is not None
    assert reverted["data"] == original["data"]  # "fallback" did not exist before: removed again
    assert "annotations" not in reverted["metadata"] or not reverted["metadata"]["annotations"]
    # Both writes carried the read resourceVersion (optimistic lock).
    patches = list(cluster[kmock.method.PATCH])
    assert len(patches) == 2 and all(p.data["metadata"]["resourceVersion"] for p in patches)


async def test_deployment_env_patch_and_revert(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    original = cluster.add(deployment([{"name": "CHANNEL", "value": "primary"}, {"name": "KEEP", "value": "1"}]))
    token = await target.apply_patch("Deployment", "shop", "order",
                                     {"container": "app", "env": {"CHANNEL": "backup", "NEW": "on"}})
    env = cluster.get("Deployment", "shop", "order")["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert env == [{"name": "CHANNEL", "value": "backup"}, {"name": "KEEP", "value": "1"},
                   {"name": "NEW", "value": "on"}]
    await target.revert(token)
    after = cluster.get("Deployment", "shop", "order")
    assert after is not None and after["spec"] == original["spec"]


async def test_env_patch_needs_container_when_ambiguous(cluster: ClusterEmulator,
                                                         target: KubernetesTarget) -> None:
    cluster.add(deployment([]))
    with pytest.raises(ActuatorError, match=r"name the container.*app, sidecar"):
        await target.apply_patch("Deployment", "shop", "order", {"env": {"X": "1"}})


async def test_revert_refuses_to_clobber_a_foreign_change(cluster: ClusterEmulator,
                                                          target: KubernetesTarget) -> None:
    cluster.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": "shop"},
                 "data": {"payment_channel": "primary"}})
    token = await target.apply_patch("ConfigMap", "shop", "flags", {"data": {"payment_channel": "backup"}})
    someone = cluster.get("ConfigMap", "shop", "flags")
    assert someone is not None
    someone["data"]["payment_channel"] = "manual"
    cluster.add(someone)
    with pytest.raises(ActuatorError, match=r"changed by someone else.*'manual'.*'primary'"):
        await target.revert(token)
    assert cluster.get("ConfigMap", "shop", "flags")["data"] == {"payment_channel": "manual"}  # type: ignore[index]


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


@pytest.mark.parametrize("route", [HTTPROUTE, VIRTUALSERVICE], ids=["HTTPRoute", "VirtualService"])
async def test_circuit_break_round_trips_weights(cluster: ClusterEmulator, target: KubernetesTarget,
                                                 route: dict[str, Any]) -> None:
    cluster.install_routes()
    cluster.add(route)
    before = copy.deepcopy(cluster.get(route["kind"], "shop", "payments"))
    assert before is not None
    prior = await target.set_backend_weight("shop", "payment-gateway", 0)
    opened = cluster.get(route["kind"], "shop", "payments")
    assert opened is not None
    rules = opened["spec"]["rules"] if route["kind"] == "HTTPRoute" else opened["spec"]["http"]
    key = "backendRefs" if route["kind"] == "HTTPRoute" else "route"
    weights = [[b.get("weight") for b in r[key]] for r in rules]
    assert weights == ([[0, 10], [0]] if route["kind"] == "HTTPRoute" else [[0, 20]])
    await target.restore_weights(WeightSnapshot.from_dict(prior.as_dict()))
    after = cluster.get(route["kind"], "shop", "payments")
    assert after is not None and after["spec"] == before["spec"]


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
