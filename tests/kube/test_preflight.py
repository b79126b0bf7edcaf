"""Pre-flight against the real API server: pods resolved by the real label/field selectors, blast
radius limits, namespaces, collisions with objects the real server stores, and missing RBAC
answered by the real authorizer for a restricted ServiceAccount (moved from the kmock emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.clients.kube import KubeClient, KubeSettings, rbac
from chaos.errors import PermissionMissing, PreflightRefused
from kube.realshop import shop_namespace
from kube.testbed import Testbed


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return shop_namespace(kube_testbed, "pre")


def settings(kubeconfig: Path, ns: str) -> KubeSettings:
    return KubeSettings(kubeconfig=str(kubeconfig), namespace=ns, request_timeout=20, poll_interval=0.05)


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    t = KubeClient.from_settings(settings(kube_testbed.kubeconfig, ns))
    try:
        yield t
    finally:
        await t.close()


def chaos(ns: str, name: str = "payment-latency-payment-delay-ab12cd", run_id: str = "ab12cd",
          **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action": "delay", "mode": "one", "direction": "to", "duration": "2m",
        "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}},
        "delay": {"latency": "500ms", "jitter": "0ms", "correlation": "0"},
        "target": {"mode": "all", "selector": {"namespaces": [ns], "labelSelectors": {"app": "payment-gateway"}}},
    }
    base.update(spec)
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id}},
            "spec": base}


async def test_resolve_targets_counts_running_pods(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    kube_testbed.running_pod(ns, "order-pending", {"app": "order-service"}, phase="Pending")
    res = await target.resolve_targets(chaos(ns, mode="fixed-percent", value="50"))
    assert res.matching == [f"{ns}/order-{i}" for i in range(4)]
    assert res.affected == 2 and res.percent == 50
    assert res.peers == [f"{ns}/payment-0", f"{ns}/payment-1"]
    by_name = await target.resolve_targets(chaos(ns, selector={"pods": {ns: ["order-1", "gone"]}}))
    assert by_name.matching == [f"{ns}/order-1"]
    expr = await target.resolve_targets(chaos(ns, mode="all", selector={
        "namespaces": [ns], "expressionSelectors": [{"key": "app", "operator": "In", "values": ["payment-gateway"]}]}))
    assert expr.matching == [f"{ns}/payment-0", f"{ns}/payment-1"]


async def test_blast_radius_limits(target: KubeClient, ns: str) -> None:
    res = await target.check_blast_radius(chaos(ns), max_targets=2, max_percent=25, allowed_namespaces=[ns])
    assert res.affected == 1
    with pytest.raises(PreflightRefused) as info:
        await target.check_blast_radius(chaos(ns, mode="all"), max_targets=2, max_percent=25, allowed_namespaces=[ns])
    assert "4 pods would be affected (mode all of 4 matching), more than maxTargets 2" in info.value.details[0]
    assert "100% of the matching pods (4/4)" in info.value.details[1]


async def test_blast_radius_namespaces_and_no_match(target: KubeClient, ns: str) -> None:
    obj = chaos(ns)
    obj["spec"]["target"]["selector"]["namespaces"] = ["payments"]
    with pytest.raises(PreflightRefused, match="namespace 'payments' is outside"):
        await target.check_blast_radius(obj, max_targets=5, allowed_namespaces=[ns])
    with pytest.raises(PreflightRefused, match="system namespace"):
        await target.check_blast_radius(chaos(ns, selector={"namespaces": ["kube-system"]}),
                                        allowed_namespaces=["kube-system"])
    with pytest.raises(PreflightRefused, match="matches no Running pods"):
        await target.check_blast_radius(chaos(ns, selector={"namespaces": [ns], "labelSelectors": {"app": "none"}}),
                                        allowed_namespaces=[ns])


async def test_collisions_refused_or_warned(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    foreign = chaos(ns, name="someone-elses", run_id="x")
    foreign["metadata"]["labels"] = {"team": "sre"}
    kube_testbed.apply(foreign)
    kube_testbed.apply(chaos(ns, name="unrelated", selector={"namespaces": [ns],
                                                             "labelSelectors": {"app": "payment-gateway"}}))
    await target.check_chaos_mesh(["NetworkChaos"])
    with pytest.raises(PreflightRefused) as info:
        await target.collision_check(chaos(ns))
    assert info.value.details == [f"NetworkChaos {ns}/someone-elses (not managed by aftershock) already selects "
                                  f"{ns}/order-0, {ns}/order-1, {ns}/order-2, {ns}/order-3"]
    assert await target.collision_check(chaos(ns), force=True) == info.value.details


async def test_missing_permissions_come_as_a_ready_role(kube_testbed: Testbed, ns: str, tmp_path: Path) -> None:
    """The real authorizer answers for a ServiceAccount granted all but three of the rules."""
    needed = set(rbac.required_permissions([ns], ["networkchaos"]))
    granted = needed - {rbac.Permission(ns, "chaos-mesh.org", "networkchaos", "create"),
                        rbac.Permission(ns, "chaos-mesh.org", "networkchaos", "delete"),
                        rbac.Permission(ns, "", "pods", "list")}
    kube_testbed.apply_yaml(rbac.rbac_manifests(sorted(granted), f"{ns}/runner"))
    config = kube_testbed.service_account_kubeconfig(ns, "runner", tmp_path / "runner.kubeconfig")
    async with KubeClient.from_settings(settings(config, ns)) as restricted:
        with pytest.raises(PermissionMissing) as info:
            await restricted.preflight_access([ns], kinds=["NetworkChaos"])
    assert "missing 3 Kubernetes permission(s)" in str(info.value)
    roles = [d for d in yaml.safe_load_all("\n".join(info.value.details)) if d]
    assert roles == [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": "aftershock-runner", "namespace": ns},
                      "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
                                {"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos"],
                                 "verbs": ["create", "delete"]}]}]
