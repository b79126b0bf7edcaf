"""The in-cluster game day for real: ``aftershock compile --in-cluster GAMEDAY --image
localhost/aftershock:dev --prometheus-secret NAME`` applied exactly as printed on the node testbed,
one Job started from its CronJob's template (what ``kubectl create job --from=cronjob/...`` does),
and the game day run inside the pod to a verdict.

The pod runs as the emitted ServiceAccount (its Role only), non-root on a read-only root, its state
on the emitted PVC (bound by the testbed's StorageClass). It reads Prometheus' URL from the Secret
and reaches the session's Prometheus on the node's bridge address. Its experiment partitions the
shop's order-service from payment-gateway with Chaos Mesh (the real daemon), the orders' error rate
breaches, the rollback policy deletes the object, Chaos Mesh recovers, the SLO holds again: the
game day's verdict is ``deviated`` (exit 1, so the Job is Failed, as ``aftershock gameday run``
exits). Read back: the pod's log through the API server, the Job's status, and the report the Job
wrote on the PVC (a second pod of the same template, ``aftershock recover`` + ``cat``: recover has
nothing to do, no chaos object is left). The Secret holds no ``token`` (it is optional): the kubelet
mounts no token file, and the Job queries Prometheus without one.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_run.conftest import write

from chaos.demo.prometheus import PrometheusServer
from chaos.gameday.incluster import PROMETHEUS_SECRET_MOUNT, STATE

from .conftest import IMAGE, NODE_TIMEOUT, network_chaos, partition, pod_phase, wait_for

CLI = Path(sys.executable).with_name("aftershock")
NAME = "node-gameday"
SECRET = "shop-prometheus"
pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]


def finished(job: dict[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def gameday(tmp_path: Path, shop: str, prom: PrometheusServer) -> Path:
    """A game day due at the current minute (UTC; ``missed: latest`` within 5 minutes), so the Job
    started by hand now finds its due time, and the CronJob controller, which counts from the
    CronJob's creation, does not start another one today."""
    doc = partition(shop, prom, "20s", [{"name": "rollback", "when": {"slo": "errors"}, "action": "rollback"}])
    doc["spec"]["monitor"]["prometheus"] = "http://127.0.0.1:1"  # never used: the Secret's url overrides it
    write(tmp_path, doc)
    now = datetime.now(UTC)
    gd = {"apiVersion": "aftershock/v1alpha1", "kind": "GameDay", "metadata": {"name": NAME},
          "spec": {"schedule": {"cron": f"{now.minute} {now.hour} * * *", "timezone": "UTC", "missed": "latest",
                                "startingDeadline": "5m", "concurrency": "Forbid"},
                   "experiments": [{"file": f"{doc['metadata']['name']}.yaml"}]}}
    path = tmp_path / "gameday.yaml"
    path.write_text(yaml.safe_dump(gd, sort_keys=False))
    return path


def test_the_compiled_cronjob_runs_a_game_day_on_the_node(node_testbed, shop: str,  # type: ignore[no-untyped-def]
                                                          prom: PrometheusServer, tmp_path: Path) -> None:
    printed = subprocess.run([str(CLI), "compile", "--in-cluster", str(gameday(tmp_path, shop, prom)),
                              "--image", IMAGE, "--prometheus-secret", SECRET],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    objects = [d for d in yaml.safe_load_all(printed.stdout) if d]
    assert {o["metadata"]["namespace"] for o in objects} == {shop}
    cron = next(o for o in objects if o["kind"] == "CronJob")
    with node_testbed.admin() as api:
        api.post(f"/api/v1/namespaces/{shop}/secrets", json={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
            "stringData": {"url": prom.url}}).raise_for_status()
    for obj in objects:  # as printed (kubectl apply -f -)
        node_testbed.apply(obj)
    with node_testbed.admin() as api:
        created = api.get(f"/apis/batch/v1/namespaces/{shop}/cronjobs/{cron['metadata']['name']}").json()
        job_name = "gameday-now"
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": job_name, "namespace": shop, "labels": cron["spec"]["jobTemplate"]["metadata"]["labels"],
                            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                                 "name": created["metadata"]["name"], "uid": created["metadata"]["uid"],
                                                 "controller": True}]},
               "spec": cron["spec"]["jobTemplate"]["spec"]}
        api.post(f"/apis/batch/v1/namespaces/{shop}/jobs", json=job).raise_for_status()
        done = wait_for(api, f"/apis/batch/v1/namespaces/{shop}/jobs/{job_name}", finished,
                        "the game day Job finished", timeout=400)
        (pod,) = api.get(f"/api/v1/namespaces/{shop}/pods", params={"labelSelector": f"job-name={job_name}"}
                         ).json()["items"]
        logs = api.get(f"/api/v1/namespaces/{shop}/pods/{pod['metadata']['name']}/log").text
        pvc = api.get(f"/api/v1/namespaces/{shop}/persistentvolumeclaims/{cron['metadata']['name']}-state").json()
    assert pvc["status"]["phase"] == "Bound"
    assert pod["spec"]["serviceAccountName"] == cron["metadata"]["name"]
    assert pod["spec"]["containers"][0]["image"] == IMAGE
    assert pod["spec"]["nodeName"] == "aftershock-node"
    (state,) = pod["status"]["containerStatuses"]
    assert state["state"]["terminated"]["exitCode"] == 1, logs  # deviated, as `gameday run` exits
    assert {c["type"]: c["status"] for c in done["status"]["conditions"]}.get("Failed") == "True", logs
    assert "node-partition: deviated (run " in logs, logs
    assert f"game day {NAME}: deviated" in logs, logs
    assert network_chaos(node_testbed, shop) == []

    # the report on the PVC, and `recover` in the same state dir: a pod of the same template
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = {**spec["containers"][0], "command": ["/bin/sh", "-c",
                                                      f"test ! -e {PROMETHEUS_SECRET_MOUNT}/token && "
                                                      f"aftershock recover --state-dir {STATE} && "
                                                      f"cat {STATE}/gamedays/{NAME}/*.md"]}
    container.pop("args")
    reader = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gameday-read", "namespace": shop},
              "spec": {**spec, "containers": [container]}}
    with node_testbed.admin() as api:
        api.post(f"/api/v1/namespaces/{shop}/pods", json=reader).raise_for_status()
        read = wait_for(api, f"/api/v1/namespaces/{shop}/pods/gameday-read", pod_phase(("Succeeded", "Failed")),
                        "the report read", timeout=180)
        out = api.get(f"/api/v1/namespaces/{shop}/pods/gameday-read/log").text
    assert read["status"]["phase"] == "Succeeded", out
    assert "nothing to recover" in out, out
    assert "deviated" in out and "node-partition" in out, out
    assert network_chaos(node_testbed, shop) == []
