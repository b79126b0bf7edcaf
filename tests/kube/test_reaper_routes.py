"""The reaper restores an expired circuit-break from the undo annotation the weight change's own patch
wrote on the route — against the real API server (Gateway API and Istio CRDs), as the reaper's own
ServiceAccount, whose Role may get/patch exactly the routes the experiment's circuit-breaks name
(resourceNames, no list). A live record is left alone; a forged one naming another object, a malformed
one, or one whose weight someone changed since, is never acted on."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.clients.kube import KubeClient, KubeSettings
from chaos.clients.kube.rbac import Permission, allowed
from chaos.clients.kube.reap import revert_expired
from chaos.clients.kube.reaper import REAPER_NAME, reaper_manifests
from kube.realshop import read
from kube.testbed import Testbed

PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
UNDO_OBJECTS = [("HTTPRoute", "payments"), ("VirtualService", "inventory")]


def settings(config: Path | str, ns: str) -> KubeSettings:
    return dataclasses.replace(KubeSettings(kubeconfig=str(config), namespace=ns, request_timeout=20,
                                            retry_initial=0.01, retry_max_wait=0.05))


def httproute(ns: str) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "payments", "namespace": ns},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"backendRefs": [{"name": "payment-gateway", "port": 8080, "weight": 90},
                                 {"name": "payment-canary", "port": 8080, "weight": 10}]},
                {"backendRefs": [{"name": "payment-gateway", "port": 8080}]}]}}


def virtualservice(ns: str) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "inventory", "namespace": ns},
            "spec": {"hosts": ["inventory"], "http": [
                {"route": [{"destination": {"host": "inventory"}},
                           {"destination": {"host": "inventory-fallback"}, "weight": 20}]}]}}


def undo_notes(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    return {k: json.loads(v) for k, v in (obj["metadata"].get("annotations") or {}).items()
            if k.startswith("undo.aftershock.io/")}


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    name = kube_testbed.namespace("undo-routes", reaper=False)
    for doc in reaper_manifests(KubeSettings(), name, undo_objects=UNDO_OBJECTS):
        kube_testbed.apply(doc)
    return name


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, ns)) as t:
        yield t


async def test_the_reaper_restores_an_expired_route_weight_from_its_annotation(
        kube_testbed: Testbed, target: KubeClient, ns: str, tmp_path: Path) -> None:
    route = kube_testbed.apply(httproute(ns))  # the CRD defaults the absent weight to 1 on the way in
    vs = kube_testbed.apply(virtualservice(ns))  # Istio keeps an absent weight absent
    opened = await target.set_backend_weight(ns, "payment-gateway", 0, undo=("ab12cd", PAST))
    await target.set_backend_weight(ns, "payment-gateway", 10, undo=("ab12cd", PAST))  # half-open: same record
    inventory = await target.set_backend_weight(ns, "inventory", 0, undo=("ab12cd", FUTURE))
    assert {c.annotation for c in opened.changes} == {"undo.aftershock.io/ab12cd.0"}
    half_open = read(kube_testbed, route)
    assert half_open is not None
    assert [[b["weight"] for b in r["backendRefs"]] for r in half_open["spec"]["rules"]] == [[10, 10], [10]]
    notes = undo_notes(half_open)
    assert list(notes) == ["undo.aftershock.io/ab12cd.0"]  # one record per run and service on a route
    record = notes["undo.aftershock.io/ab12cd.0"]
    assert record["v"] == 1 and record["deadline"] == PAST and record["token"]["service"] == "payment-gateway"
    assert [(c["rule"], c["backend"], c["before"], c["after"]) for c in record["token"]["changes"]] == [
        (0, 0, 90, 10), (1, 0, 1, 10)]  # before: the weights before the run's first change

    config = kube_testbed.service_account_kubeconfig(ns, REAPER_NAME, tmp_path / "reaper.kubeconfig")
    async with KubeClient.from_settings(settings(config, ns)) as as_reaper:
        gw, istio = "gateway.networking.k8s.io", "networking.istio.io"
        for perm, expected in [(Permission(ns, gw, "httproutes", "patch", "payments"), True),
                               (Permission(ns, gw, "httproutes", "get", "payments"), True),
                               (Permission(ns, istio, "virtualservices", "patch", "inventory"), True),
                               (Permission(ns, gw, "httproutes", "patch", "checkout"), False),
                               (Permission(ns, istio, "virtualservices", "patch", "payments"), False),
                               (Permission(ns, gw, "httproutes", "list"), False),
                               (Permission(ns, istio, "virtualservices", "list"), False)]:
            assert allowed(as_reaper._ctx, perm) is expected, perm.describe()
        said = revert_expired(as_reaper._ctx, ns, UNDO_OBJECTS, datetime.now(UTC))
    assert said == [f"reverted HTTPRoute/payments (undo.aftershock.io/ab12cd.0, deadline {PAST})"]
    restored = read(kube_testbed, route)
    assert restored is not None and restored["spec"] == route["spec"]  # exactly as before the run
    assert undo_notes(restored) == {}
    live = read(kube_testbed, vs)
    assert live is not None and [d.get("weight") for d in live["spec"]["http"][0]["route"]] == [0, 20]
    assert list(undo_notes(live)) == ["undo.aftershock.io/ab12cd.0"]  # its deadline is ahead: left alone

    # the run's own restore (or `recover`) removes the record in the same patch
    await target.restore_weights(inventory)
    after = read(kube_testbed, vs)
    assert after is not None and after["spec"] == vs["spec"] and undo_notes(after) == {}


async def test_a_forged_or_overtaken_route_record_is_never_acted_on(
        kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    vs = kube_testbed.apply(virtualservice(ns))
    forged = {"v": 1, "deadline": PAST, "token": {"namespace": ns, "service": "inventory", "changes": [
        {"kind": "VirtualService", "namespace": ns, "name": "inventory", "version": "v1",
         "rule": 0, "backend": 1, "before": 100, "after": 20}]}}
    route = httproute(ns)
    route["metadata"]["annotations"] = {"undo.aftershock.io/ffff.0": json.dumps(forged),
                                        "undo.aftershock.io/ffff.1": "{not json"}
    kube_testbed.apply(route)
    # a real record, then someone else sets the weight by hand: the reaper must not clobber it
    await target.set_backend_weight(ns, "inventory", 0, undo=("ab12cd", PAST))
    with kube_testbed.admin() as api:
        reply = api.patch(f"/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/inventory",
                          json={"spec": {"http": [{"route": [{"destination": {"host": "inventory"}, "weight": 50},
                                                             {"destination": {"host": "inventory-fallback"},
                                                              "weight": 20}]}]}},
                          headers={"Content-Type": "application/merge-patch+json"})
        reply.raise_for_status()
    said = revert_expired(target._ctx, ns, UNDO_OBJECTS, datetime.now(UTC))
    assert said[0] == "left HTTPRoute/payments undo.aftershock.io/ffff.0: its token names another object"
    assert said[1].startswith("left HTTPRoute/payments undo.aftershock.io/ffff.1: malformed undo record")
    assert said[2].startswith("left VirtualService/inventory undo.aftershock.io/ab12cd.0: ")
    assert "changed by someone else to 50" in said[2] and len(said) == 3
    now = read(kube_testbed, vs)
    assert now is not None and [d.get("weight") for d in now["spec"]["http"][0]["route"]] == [50, 20]
    assert list(undo_notes(now)) == ["undo.aftershock.io/ab12cd.0"]  # left for a human, said


def test_rbac_reaper_names_exactly_the_routes_of_with_routes() -> None:
    """``aftershock rbac FILE --reaper``: get/patch by resourceNames on the routes FILE's circuit-break
    names (each route kind asked for), the sweep told which to read; no list (no cluster needed)."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(Path(sys.executable).parent / "aftershock"), "rbac",
                           str(repo / "experiments" / "payment-latency.yaml"), "--reaper",
                           "--route-kind", "HTTPRoute"], capture_output=True, text=True, timeout=120, cwd=repo)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["rules"][1:] == [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"],
                                  "resourceNames": ["payment-gateway"], "verbs": ["get", "patch"]}]
    cron = next(d for d in docs if d["kind"] == "CronJob")
    env = {e["name"]: e["value"] for e in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["UNDO_OBJECTS"] == "HTTPRoute/payment-gateway"
