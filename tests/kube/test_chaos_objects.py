"""Chaos Mesh objects through the real ``kubernetes`` client against the real API server (moved from the
kmock emulator): create / wait for injection / delete with the Chaos Mesh controller's bookkeeping
played by :class:`kube.standin.ChaosMeshStandIn` (including a chaos-daemon that never injects and a
finalizer that never clears), the same-run 409 rule, the label guard, run-scoped removal, shrinking a
live fault, and a cluster whose Chaos Mesh group is not served (the fault proxy answers 404 for
``/apis/chaos-mesh.org/``, as kube-apiserver does for a group it does not serve).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chaos.clients.kube import KubeClient, KubeSettings
from chaos.errors import ActuatorError, CapabilityMissing, TargetError
from kube.apiproxy import ApiProxy
from kube.realshop import chaos_items, read, shop_namespace
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

NAME = "payment-latency-payment-delay-ab12cd"


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return shop_namespace(kube_testbed, "objs")


def settings(config: Path, ns: str) -> KubeSettings:
    return KubeSettings(kubeconfig=str(config), namespace=ns, request_timeout=20, retry_attempts=3,
                        retry_initial=0.01, retry_max_wait=0.05, poll_interval=0.05, finalizer_timeout=0.5,
                        delete_attempts=2)


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, ns)) as t:
        yield t


def chaos(ns: str, name: str = NAME, run_id: str = "ab12cd", kind: str = "NetworkChaos", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action": "delay", "mode": "one", "direction": "to", "duration": "2m",
        "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}},
        "delay": {"latency": "500ms", "jitter": "0ms", "correlation": "0"},
        "target": {"mode": "all", "selector": {"namespaces": [ns], "labelSelectors": {"app": "payment-gateway"}}},
    } if kind == "NetworkChaos" else {"action": "pod-kill", "mode": "one", "duration": "2m",
                                      "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}}}
    base.update(spec)
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id},
                         "annotations": {"aftershock.io/deadline": "2026-11-21T21:40:00Z"}},
            "spec": base}


async def test_create_wait_injected_delete(kube_testbed: Testbed, target: KubeClient, ns: str,
                                           standin: ChaosMeshStandIn) -> None:
    assert (await target.check_chaos_mesh(["NetworkChaos", "PodChaos"]))["NetworkChaos"] == "networkchaos"
    obj = chaos(ns)
    created = await target.create(obj)
    assert created["metadata"]["uid"]
    report = await target.wait_injected(obj, timeout=30)
    assert report["injected"] is True and report["conditions"]["AllInjected"] == "True"
    assert [r["phase"] for r in report["records"]] == ["Injected"]
    stored = read(kube_testbed, obj)
    assert stored is not None and stored["metadata"]["finalizers"] == ["chaos-mesh/records"]
    deleted = await target.delete(obj)
    assert deleted.gone
    assert read(kube_testbed, obj) is None  # the stand-in let the finalizer go
    assert not standin.errors


async def test_never_injected_raises_with_the_controllers_reason(kube_testbed: Testbed, target: KubeClient,
                                                                 ns: str) -> None:
    with ChaosMeshStandIn(kube_testbed, inject=False) as broken:
        obj = chaos(ns)
        await target.create(obj)
        with pytest.raises(TargetError, match=r"not injected within 5s.*chaos-daemon unreachable \(stand-in\)"):
            await target.wait_injected(obj, timeout=5)
        assert (await target.delete(obj)).gone
    assert not broken.errors


async def test_a_finalizer_that_never_clears_is_reported_not_stripped(kube_testbed: Testbed,
                                                                      target: KubeClient, ns: str) -> None:
    obj = chaos(ns)
    with ChaosMeshStandIn(kube_testbed, release=False) as stuck:
        await target.create(obj)
        await target.wait_injected(obj, timeout=30)
        with pytest.raises(ActuatorError, match=r"finalizer chaos-mesh/records still set.*chaos-controller-manager"):
            await target.delete(obj)
    still = read(kube_testbed, obj)
    assert still is not None and still["metadata"]["finalizers"] == ["chaos-mesh/records"]
    assert still["metadata"]["deletionTimestamp"]
    records = still["status"]["experiment"]["containerRecords"]
    assert records[0]["events"][0]["operation"] == "Recover"  # the controller reported its failure
    assert not stuck.errors
    with kube_testbed.admin() as api:  # a human clears it after checking the pods
        api.patch(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos/{NAME}",
                  json={"metadata": {"finalizers": None}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    assert read(kube_testbed, obj) is None


async def test_conflict_is_fine_for_the_same_run_only(kube_testbed: Testbed, target: KubeClient,
                                                      ns: str) -> None:
    first = await target.create(chaos(ns))
    again = await target.create(chaos(ns))  # e.g. a retried create whose first answer was lost
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    with pytest.raises(TargetError, match="not this run's"):
        await target.create(chaos(ns, run_id="zz99"))  # same name, another run
    assert [o["metadata"]["labels"]["aftershock.io/run-id"] for o in chaos_items(kube_testbed, ns)] == ["ab12cd"]


async def test_objects_without_our_labels_are_refused(kube_testbed: Testbed, target: KubeClient,
                                                      ns: str) -> None:
    obj = chaos(ns)
    del obj["metadata"]["labels"]["aftershock.io/run-id"]
    with pytest.raises(TargetError, match="refusing to create"):
        await target.create(obj)
    assert chaos_items(kube_testbed, ns) == []


async def test_remove_run_removes_only_that_run(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    await target.create(chaos(ns, name="a-ab12cd"))
    await target.create(chaos(ns, name="b-ab12cd", kind="PodChaos"))
    await target.create(chaos(ns, name="c-other1", run_id="other1"))
    assert {o["metadata"]["name"] for o in await target.list_ours("ab12cd", [ns])} == {"a-ab12cd", "b-ab12cd"}
    removed = await target.remove_run("ab12cd", [ns])
    assert sorted(removed) == [f"NetworkChaos {ns}/a-ab12cd", f"PodChaos {ns}/b-ab12cd"]
    assert [o["metadata"]["name"] for o in await target.list_ours(namespaces=[ns])] == ["c-other1"]
    assert chaos_items(kube_testbed, ns, "podchaos") == []


async def test_patch_fault_shrinks_and_keeps_duration(kube_testbed: Testbed, target: KubeClient,
                                                      ns: str) -> None:
    obj = chaos(ns, action="loss", loss={"loss": "50", "correlation": "0"})
    del obj["spec"]["delay"]
    await target.create(obj)
    patched = await target.patch_fault(obj, {"loss": {"loss": "10"}, "mode": "fixed", "value": "1"})
    assert patched["spec"]["loss"] == {"loss": "10", "correlation": "0"}
    stored = read(kube_testbed, obj)
    assert stored is not None and (stored["spec"]["mode"], stored["spec"]["value"]) == ("fixed", "1")
    assert stored["spec"]["duration"] == "2m"
    assert stored["metadata"]["annotations"]["aftershock.io/deadline"] == "2026-11-21T21:40:00Z"
    with pytest.raises(ActuatorError, match="duration"):
        await target.patch_fault(obj, {"duration": None})


async def test_a_kind_the_cluster_does_not_serve_is_capability_missing(target: KubeClient) -> None:
    with pytest.raises(CapabilityMissing, match=r"CRDs missing for FutureChaos \(served: .*NetworkChaos"):
        await target.check_chaos_mesh(["NetworkChaos", "FutureChaos"])


async def test_an_unserved_group_is_capability_missing(api_proxy: ApiProxy, ns: str, tmp_path: Path) -> None:
    """The proxy answers 404 for the Chaos Mesh and route groups: a cluster without those CRDs."""
    for group in ("chaos-mesh.org", "gateway.networking.k8s.io", "networking.istio.io"):
        api_proxy.add("http-abort", group, code=404, path_prefix=f"/apis/{group}/")
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    async with KubeClient.from_settings(settings(config, ns)) as target:
        with pytest.raises(CapabilityMissing, match=r"Chaos Mesh is not installed.*helm install chaos-mesh"):
            await target.check_chaos_mesh()
        assert await target.served_route_kinds() == []
        with pytest.raises(ActuatorError, match="neither HTTPRoute nor VirtualService CRDs are installed"):
            await target.set_backend_weight(ns, "payment-gateway", 0)
        api_proxy.proxy.remove_fault("networking.istio.io")  # Gateway API still absent, Istio served
        assert await target.served_route_kinds() == ["VirtualService"]
        with pytest.raises(ActuatorError, match=r"routes to service 'inventory' \(installed: VirtualService\)"):
            await target.set_backend_weight(ns, "inventory", 0)
