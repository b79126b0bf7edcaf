"""The Kubernetes target against the real API server: degrade patches and circuit-break weights
applied and reverted exactly (real merge / strategic-merge patches, resourceVersion, CRD
defaulting), pre-flight on real pods (percent rounding as Chaos Mesh, run-wide sums, the
disruption controller's PDB status) and server-side dry runs judged by the real CRD schemas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chaos.clients.kube import KubeClient, KubeSettings, RevertToken, WeightSnapshot, run_totals
from chaos.errors import ActuatorError, PreflightRefused, TargetError
from kube.realshop import read
from kube.testbed import Testbed


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return kube_testbed.namespace("act")


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    settings = KubeSettings(kubeconfig=str(kube_testbed.kubeconfig), namespace=ns, request_timeout=20,
                            poll_interval=0.05, finalizer_timeout=2, delete_attempts=2)
    t = KubeClient.from_settings(settings)
    try:
        yield t
    finally:
        await t.close()


def chaos(ns: str, name: str = "delay-web-ab12cd", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"action": "delay", "mode": "one", "duration": "2m",
                            "selector": {"namespaces": [ns], "labelSelectors": {"app": "web"}},
                            "delay": {"latency": "500ms"}}
    body.update(spec)
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "ab12cd"}},
            "spec": body}


async def test_configmap_patch_and_exact_revert(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    cm = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                             "data": {"payment_channel": "primary", "other": "x"}})
    token = await target.apply_patch("ConfigMap", ns, "flags", {"data": {"payment_channel": "backup", "fallback": True}})
    patched = read(kube_testbed, cm)
    assert patched is not None and patched["data"] == {"payment_channel": "backup", "other": "x", "fallback": "true"}
    await target.revert(RevertToken.from_dict(token.as_dict()))
    reverted = read(kube_testbed, cm)
    assert reverted is not None and reverted["data"] == cm["data"]


async def test_deployment_env_patch_and_exact_revert(kube_testbed: Testbed, target: KubeClient,
                                                     ns: str) -> None:
    dep = kube_testbed.apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "order", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "order"}},
                 "template": {"metadata": {"labels": {"app": "order"}},
                              "spec": {"containers": [
                                  {"name": "app", "image": "registry.invalid/order:1",
                                   "env": [{"name": "CHANNEL", "value": "primary"}, {"name": "KEEP", "value": "1"}]},
                                  {"name": "sidecar", "image": "registry.invalid/envoy:1"}]}}}})
    token = await target.apply_patch("Deployment", ns, "order", {"container": "app", "env": {"CHANNEL": "backup", "NEW": "on"}})
    env = read(kube_testbed, dep)["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert {e["name"]: e["value"] for e in env} == {"CHANNEL": "backup", "KEEP": "1", "NEW": "on"}
    await target.revert(token)
    after = read(kube_testbed, dep)
    assert after is not None and after["spec"]["template"] == dep["spec"]["template"]


async def test_revert_refuses_to_clobber_a_foreign_change(kube_testbed: Testbed, target: KubeClient,
                                                          ns: str) -> None:
    cm = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                             "data": {"payment_channel": "primary"}})
    token = await target.apply_patch("ConfigMap", ns, "flags", {"data": {"payment_channel": "backup"}})
    with kube_testbed.admin() as api:
        api.patch(f"/api/v1/namespaces/{ns}/configmaps/flags", json={"data": {"payment_channel": "manual"}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    with pytest.raises(ActuatorError, match=r"changed by someone else.*'manual'.*'primary'"):
        await target.revert(token)
    assert read(kube_testbed, cm)["data"] == {"payment_channel": "manual"}  # type: ignore[index]


def httproute(ns: str) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "payments", "namespace": ns},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/pay"}}],
                 "backendRefs": [{"name": "payment-gateway", "port": 8080, "weight": 90},
                                 {"name": "payment-canary", "port": 8080, "weight": 10}]},
                {"backendRefs": [{"name": "payment-gateway", "port": 8080}]}]}}


def virtualservice(ns: str) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "payments", "namespace": ns},
            "spec": {"hosts": ["payments"], "http": [
                {"route": [{"destination": {"host": f"payment-gateway.{ns}.svc.cluster.local"}},
                           {"destination": {"host": "payment-fallback"}, "weight": 20}]}]}}


@pytest.mark.parametrize("make", [httproute, virtualservice], ids=["HTTPRoute", "VirtualService"])
async def test_circuit_break_round_trips_weights_exactly(kube_testbed: Testbed, target: KubeClient, ns: str,
                                                         make: Any) -> None:
    before = kube_testbed.apply(make(ns))
    prior = await target.set_backend_weight(ns, "payment-gateway", 0)
    opened = read(kube_testbed, before)
    assert opened is not None
    if before["kind"] == "HTTPRoute":  # the CRD defaults an absent weight to 1 on the way in
        assert [[b.get("weight") for b in r["backendRefs"]] for r in opened["spec"]["rules"]] == [[0, 10], [0]]
    else:  # Istio keeps an absent weight absent: restore must remove it again
        assert [b.get("weight") for b in opened["spec"]["http"][0]["route"]] == [0, 20]
    await target.restore_weights(WeightSnapshot.from_dict(prior.as_dict()))
    after = read(kube_testbed, before)
    assert after is not None and after["spec"] == before["spec"]


async def test_served_route_kinds_come_from_discovery(target: KubeClient) -> None:
    assert await target.served_route_kinds() == ["HTTPRoute", "VirtualService"]


async def test_percent_modes_round_up_like_chaos_mesh(kube_testbed: Testbed, target: KubeClient,
                                                      ns: str) -> None:
    for i in range(3):
        kube_testbed.running_pod(ns, f"web-{i}", {"app": "web"})
    kube_testbed.running_pod(ns, "web-pending", {"app": "web"}, phase="Pending")
    half = await target.resolve_targets(chaos(ns, mode="fixed-percent", value="50"))
    assert half.affected == 2 and len(half.matching) == 3  # ceil(1.5), not 1
    one = await target.resolve_targets(chaos(ns, mode="fixed-percent", value="1"))
    assert one.affected == 1  # at least one pod
    with pytest.raises(PreflightRefused, match="more than maxTargets 1"):
        await target.check_blast_radius(chaos(ns, mode="fixed-percent", value="50"), max_targets=1)
    # Two faults of one run, each within maxTargets 2, together above it.
    assert run_totals([half], max_targets=2)[0].affected == 2
    with pytest.raises(PreflightRefused, match="together may affect 3 pods"):
        run_totals([half, one], max_targets=2)


async def test_pdb_status_from_the_real_disruption_controller(kube_testbed: Testbed, target: KubeClient,
                                                              ns: str) -> None:
    for i in range(3):
        kube_testbed.running_pod(ns, f"web-{i}", {"app": "web"})
    pdb = kube_testbed.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                              "metadata": {"name": "web", "namespace": ns},
                              "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})
    for _ in range(600):  # the disruption controller fills status.disruptionsAllowed
        status = (read(kube_testbed, pdb) or {}).get("status") or {}
        if status.get("observedGeneration") and status.get("currentHealthy") == 3:
            break
        await asyncio.sleep(0.1)
    assert status.get("disruptionsAllowed") == 1, status
    kill = chaos(ns, name="kill-web-ab12cd", mode="fixed", value="2")
    kill["kind"], kill["spec"] = "PodChaos", {"action": "pod-kill", "mode": "fixed", "value": "2",
                                             "selector": kill["spec"]["selector"], "duration": "1m"}
    with pytest.raises(PreflightRefused, match=r"allows 1 disruption\(s\) now, but pod-kill may disrupt 2"):
        await target.check_blast_radius(kill)


async def test_server_side_dry_run_uses_the_real_crd_schema(kube_testbed: Testbed, target: KubeClient,
                                                             ns: str) -> None:
    good = chaos(ns)
    await target.create(good, dry_run=True)
    assert read(kube_testbed, good) is None  # nothing persisted
    bad = chaos(ns, action="explode", delay={"latency": "1s500ms"})
    with pytest.raises(TargetError, match=r"Unsupported value: \"explode\"|spec.action"):
        await target.create(bad, dry_run=True)


async def test_create_list_and_remove_run(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    obj = chaos(ns)
    await target.create(obj)
    await target.create(obj)  # 409 of our own run's object counts as created
    assert [o["metadata"]["name"] for o in await target.list_ours("ab12cd", [ns])] == [obj["metadata"]["name"]]
    removed = await target.remove_run("ab12cd", [ns])
    assert removed == [f"NetworkChaos {ns}/{obj['metadata']['name']}"]
    assert read(kube_testbed, obj) is None


async def test_a_finalizer_that_stays_is_reported_not_stripped(kube_testbed: Testbed, target: KubeClient,
                                                               ns: str) -> None:
    obj = chaos(ns)
    obj["metadata"]["finalizers"] = ["chaos-mesh/records"]  # as Chaos Mesh's controller sets it
    kube_testbed.apply(obj)
    with pytest.raises(ActuatorError, match="finalizer chaos-mesh/records still set"):
        await target.delete(obj)
    stuck = read(kube_testbed, obj)
    assert stuck is not None and stuck["metadata"]["finalizers"] == ["chaos-mesh/records"]
    assert stuck["metadata"].get("deletionTimestamp")


def two_containers(ns: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "order", "namespace": ns},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "order"}},
                     "template": {"metadata": {"labels": {"app": "order"}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.invalid/order:1"},
                                                          {"name": "sidecar", "image": "registry.invalid/envoy:1"}]}}}}


async def test_env_patch_needs_the_container_when_ambiguous(kube_testbed: Testbed, target: KubeClient,
                                                            ns: str) -> None:
    dep = kube_testbed.apply(two_containers(ns))
    with pytest.raises(ActuatorError, match=r"name the container.*app, sidecar"):
        await target.apply_patch("Deployment", ns, "order", {"env": {"X": "1"}})
    after = read(kube_testbed, dep)
    assert after is not None and after["spec"]["template"] == dep["spec"]["template"]


async def test_pod_level_faults(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    dep = kube_testbed.apply(two_containers(ns))
    assert await target.scale_deployment(ns, "order", 1) == 3
    assert (read(kube_testbed, dep) or {})["spec"]["replicas"] == 1
    pod = kube_testbed.running_pod(ns, "order-0", {"app": "other"})
    await target.delete_pod(ns, "order-0", grace=0)
    assert read(kube_testbed, pod) is None  # no kubelet: grace 0 removes it at once
    with pytest.raises(ActuatorError, match="does not exist"):
        await target.delete_pod(ns, "order-0")
