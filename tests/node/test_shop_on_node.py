"""The demo shop on the node and the whole policy loop through the real CLI.

order-service and payment-gateway run as pods of ``localhost/aftershock-demo:dev``
(``python3 -m chaos.demo.services --host 0.0.0.0``), the order pod paying the payment pod by its IP
and driving its own load (the session's ``shop``, tests/node/conftest.py). Debian's Prometheus runs on
the host, listening on the node's bridge address (pods reach it there too), and finds the pods
through the API server (the testbed's admin certificate and CA; see ``PodDiscovery`` for why that is
``http_sd_configs`` and not ``kubernetes_sd_configs``); it scrapes them at their pod IPs (the host
reaches them through the node's ``cni0`` bridge).

Then ``aftershock run`` (subprocess, the testbed's kubeconfig) injects a NetworkChaos partition from
order-service to payment-gateway: the real daemon cuts the traffic, the orders' error rate breaches
in Prometheus, the rollback policy deletes the object, Chaos Mesh recovers, the SLO recovers, and
the verdict is ``deviated`` with nothing left on the cluster.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from k8s_run.conftest import Cli, write

from chaos.clients.kube.reaper import REAPER_NAME
from chaos.demo.prometheus import PrometheusServer

from .conftest import IMAGE, NODE_TIMEOUT, errors_query, network_chaos, partition, query, until, wait_for

pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]


def test_prometheus_scrapes_the_shop_pods(shop: str, prom: PrometheusServer) -> None:
    with httpx.Client(base_url=prom.url) as api:
        wait_for(api, "/api/v1/targets",
                 lambda t: sum(x["health"] == "up" for x in t["data"]["activeTargets"]) == 2,
                 "both pods scraped", timeout=60)
    paid = f'sum(http_requests_total{{namespace="{shop}",app="order-service",code="200"}})'
    until(lambda: bool(query(prom, paid)) and float(query(prom, paid)[0]["value"][1]) > 0, "orders paid", 60)


async def test_partition_breaches_rollback_recovers(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    test_prometheus_scrapes_the_shop_pods(shop, prom)
    doc = partition(shop, prom, "60s", [{"name": "rollback", "when": {"slo": "errors"}, "action": "rollback"}])
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    injected = await running.until("FaultInjected", timeout=120)
    assert injected["details"]["status"]["conditions"]["AllInjected"] == "True"
    fired = await running.until("PolicyFired", timeout=120)
    assert fired["policy"] == "rollback" and fired["action"] == "rollback"
    removed = await running.until("FaultRemoved", timeout=120)
    assert removed["reason"] == "rollback"
    result = await running.finish(timeout=180)
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "deviated", result.stdout[-3000:] + result.stderr[-3000:]
    assert result.rc == 1
    left = network_chaos(node_testbed, shop)
    assert left == [], json.dumps(left)[:2000]
    (errors,) = query(prom, errors_query(shop))
    assert float(errors["value"][1]) < 1.0  # the SLO holds again: payments flow after Chaos Mesh recovered
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr


async def test_kill_9_mid_fault_the_reaper_cleans_up(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    """``aftershock run`` SIGKILLed while its partition is live: the namespace's installed reaper
    (one sweep now, as a Job from its CronJob) deletes the object once its deadline has passed, Chaos
    Mesh recovers (the orders are paid again), and ``aftershock recover`` finds nothing left to do."""
    test_prometheus_scrapes_the_shop_pods(shop, prom)
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, partition(shop, prom, "15s", [])), "--output", "json"))
    try:
        await running.until("FaultInjected", timeout=120)
    finally:
        running.proc.kill()
        await running.proc.wait()
    (obj,) = network_chaos(node_testbed, shop)
    deadline = datetime.fromisoformat(obj["metadata"]["annotations"]["aftershock.io/deadline"]
                                      .replace("Z", "+00:00")).timestamp()
    await asyncio.sleep(max(0.0, deadline + 1 - time.time()))  # the deadline is the event the reaper waits for
    assert network_chaos(node_testbed, shop), "Chaos Mesh's duration alone does not delete the object"
    with node_testbed.admin() as api:
        cron = api.get(f"/apis/batch/v1/namespaces/{shop}/cronjobs/aftershock-reaper").json()
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "reaper-after-kill", "namespace": shop, "labels": cron["metadata"]["labels"]},
               "spec": cron["spec"]["jobTemplate"]["spec"]}
        api.post(f"/apis/batch/v1/namespaces/{shop}/jobs", json=job).raise_for_status()
        done = wait_for(api, f"/apis/batch/v1/namespaces/{shop}/jobs/reaper-after-kill",
                        lambda j: any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                      for c in (j.get("status") or {}).get("conditions") or []),
                        "reaper sweep finished", timeout=240)
        # the installed CronJob sweeps every minute too: whichever sweep came first deleted it
        pods = [p for p in api.get(f"/api/v1/namespaces/{shop}/pods").json()["items"]
                if p["spec"].get("serviceAccountName") == REAPER_NAME]
        logs = "".join(api.get(f"/api/v1/namespaces/{shop}/pods/{p['metadata']['name']}/log").text for p in pods)
        assert {c["type"]: c["status"] for c in done["status"]["conditions"]}.get("Complete") == "True", logs
        assert f"deleted networkchaos/{obj['metadata']['name']}" in logs, logs
        assert all(p["spec"]["containers"][0]["image"] == IMAGE for p in pods)
    until(lambda: network_chaos(node_testbed, shop) == [], "Chaos Mesh recovered and dropped its finalizer")
    until(lambda: float(query(prom, errors_query(shop))[0]["value"][1]) < 1.0, "the orders are paid again")
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr
    assert network_chaos(node_testbed, shop) == []
