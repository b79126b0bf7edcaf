"""chaostoolkit-kubernetes (``chaosk8s``), the real Chaos Toolkit driver, run by the ``chaostoolkit``
fault kind against the real node under Aftershock's policies.

``aftershock run`` (subprocess, ``KUBECONFIG`` = the testbed's admin kubeconfig: chaosk8s reads it
like ``kubectl``) runs a host-target experiment whose one fault is ``type: chaostoolkit``: the inject
is chaosk8s' ``create_custom_object`` of a Chaos Mesh NetworkChaos partition from order-service to
payment-gateway, the removal chaosk8s' ``chaosmesh.network.actions.delete_network_fault``, both run by
chaoslib. Chaos Mesh's daemon cuts the traffic, the orders' error rate breaches in Prometheus, the
rollback policy runs the CTK rollback, Chaos Mesh recovers, payments flow, the verdict is
``deviated``, nothing is left and ``aftershock recover`` has nothing to do.

Why ``create_custom_object`` and not one of chaosk8s' own Chaos Mesh network actions: every one of
them but ``set_bandwidth`` is netem (delay, loss, duplicate, reorder, corrupt), which this kernel
lacks, and chaosk8s 0.39.0's ``set_bandwidth`` writes ``action: bandwdith`` (sic), which the
NetworkChaos CRD's enum refuses (422). The blast radius of chaosk8s' Chaos Mesh actions
(:func:`chaos.interop.ctk_reach.reach_of`) is checked against the pods Chaos Mesh really injected.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_run.conftest import Cli

from chaos.interop.ctk_reach import reach_of

from .conftest import NODE_TIMEOUT, errors_query, network_chaos, query, until

pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]
NAME = "ctk-partition"


class CtkCli(Cli):
    """The CLI with ``KUBECONFIG`` set: chaosk8s finds the cluster the way ``kubectl`` does."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "KUBECONFIG": str(self.kubeconfig)}


def partition_object(ns: str) -> dict[str, Any]:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
            "metadata": {"name": NAME, "namespace": ns},
            "spec": {"action": "partition", "mode": "all", "duration": "5m", "direction": "to",
                     "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}},
                     "target": {"mode": "all", "selector": {"namespaces": [ns],
                                                            "labelSelectors": {"app": "payment-gateway"}}}}}


def ctk_experiment(ns: str, prometheus: str) -> dict[str, Any]:
    fault = {"name": "cut-payments", "type": "chaostoolkit", "duration": "60s",
             "action": {"type": "action", "name": "partition-order-from-payment",
                        "provider": {"type": "python", "module": "chaosk8s.crd.actions",
                                     "func": "create_custom_object",
                                     "arguments": {"group": "chaos-mesh.org", "version": "v1alpha1",
                                                   "plural": "networkchaos", "ns": ns,
                                                   "resource": partition_object(ns)}}},
             "rollback": {"type": "action", "name": "heal-partition",
                          "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions",
                                       "func": "delete_network_fault", "arguments": {"name": NAME, "ns": ns}}}}
    return {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "ctk-node-partition"},
            "spec": {"target": {"type": "host"}, "blastRadius": {"namespaces": [ns], "maxTargets": 1}, "faults": [fault],
                     "slos": [{"name": "errors", "query": errors_query(ns), "objective": {"op": "<", "value": 1.0}}],
                     "steadyState": ["errors"],
                     "policies": [{"name": "rollback", "when": {"slo": "errors"}, "action": "rollback"}],
                     "monitor": {"prometheus": prometheus, "interval": "250ms", "errorTolerance": 3},
                     "recovery": {"timeout": "30s"}}}


def payments_flow(server: Any, ns: str) -> bool:
    result = query(server, errors_query(ns))
    return bool(result) and float(result[0]["value"][1]) < 1.0


async def test_a_chaosk8s_chaos_mesh_action_is_rolled_back_by_a_policy(node_testbed, shop: str,
                                                                       prom: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    paid = f'sum(http_requests_total{{namespace="{shop}",app="order-service",code="200"}})'
    until(lambda: bool(query(prom, paid)) and float(query(prom, paid)[0]["value"][1]) > 0, "orders paid", 60)
    until(lambda: payments_flow(prom, shop), "steady state: payments flow", 60)
    doc = ctk_experiment(shop, prom.url)
    path = tmp_path / "ctk-node.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cli = CtkCli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start("run", str(path), "--state-dir", str(cli.state_dir), "--yes", "--output", "json")
    await running.until("FaultInjected", timeout=60)
    with node_testbed.admin() as api:  # the CTK action's object, on the API server while the fault is live
        live = api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos/{NAME}")
    assert live.status_code == 200, live.text
    assert live.json()["spec"]["action"] == "partition"
    fired = await running.until("PolicyFired", timeout=60)
    assert fired["policy"] == "rollback" and fired["action"] == "rollback"
    removed = await running.until("FaultRemoved", timeout=60)
    assert removed["reason"] == "rollback"
    result = await running.finish(timeout=90)
    (final,) = result.of("RunFinished")
    assert final["verdict"] == "deviated", result.stdout[-3000:] + result.stderr[-3000:]
    assert result.rc == 1
    # the CTK rollback deleted it and Chaos Mesh recovered (its finalizer is dropped after recovery)
    until(lambda: network_chaos(node_testbed, shop) == [], "the NetworkChaos gone", 60)
    until(lambda: payments_flow(prom, shop), "the orders are paid again", 60)
    directory = cli.state_dir / "chaostoolkit"
    (fault_dir,) = directory.iterdir()
    assert (fault_dir / "ended").exists()  # the rollback was claimed once, by the removal
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr
    assert "nothing to recover" in recovered.stdout, recovered.stdout + recovered.stderr
    assert network_chaos(node_testbed, shop) == []
    print(f"chaosk8s partition run, breach -> CTK rollback: {time.monotonic() - started:.1f}s")


def test_the_blast_radius_of_chaosk8s_chaos_mesh_actions_matches_what_chaos_mesh_selects(
        node_testbed, shop: str) -> None:
    """``ctk_reach`` counts a chaosk8s Chaos Mesh action by chaosk8s' own arguments; Chaos Mesh, given
    the object those arguments make, injects exactly the pods it says (here: every order-service pod of
    the namespace, which is one pod)."""
    action = {"type": "action", "name": "bw", "provider": {
        "type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "set_bandwidth",
        "arguments": {"name": "bw", "rate": "1mbps", "limit": 20971520, "buffer": 10000, "ns": shop,
                      "label_selectors": "app=order-service", "mode": "all"}}}
    reach = reach_of(action)
    assert reach.describe() == f"blast radius counted: all pods labelled app=order-service in namespace {shop}"
    assert [ns for _, ns in reach.namespaces] == [shop] and reach.mode == "all" and reach.narrowed
    obj = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
           "metadata": {"name": "reach-bw", "namespace": shop},
           "spec": {"action": "bandwidth", "mode": "all", "duration": "5m", "direction": "to",
                    "selector": {"namespaces": [shop], "labelSelectors": {"app": "order-service"}},
                    "bandwidth": {"rate": "1mbps", "limit": 20971520, "buffer": 10000}}}
    with node_testbed.admin() as api:
        pods = api.get(f"/api/v1/namespaces/{shop}/pods", params={"labelSelector": "app=order-service"}).json()
        expected = sorted(f"{shop}/{p['metadata']['name']}" for p in pods["items"])
        api.post(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos", json=obj).raise_for_status()
        path = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos/reach-bw"
        try:
            records: list[dict[str, Any]] = []

            def injected() -> bool:
                records[:] = ((api.get(path).json().get("status") or {}).get("experiment") or {}) \
                    .get("containerRecords") or []
                return bool(records) and all(r.get("phase") == "Injected" for r in records)
            until(injected, "Chaos Mesh injected the bandwidth limit", 60)
            assert sorted(r["id"] for r in records) == expected, json.dumps(records)
        finally:
            api.delete(path)
        until(lambda: api.get(path).status_code == 404, "Chaos Mesh recovered the bandwidth limit", 60)
