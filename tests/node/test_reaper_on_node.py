"""The dead-man's switch for real: the reaper Job Aftershock creates runs on the node in the project's
own image (``localhost/aftershock:dev``, ``python3 -m chaos.clients.kube.reap``, no kubectl image), as
its least-privilege ServiceAccount, and at the run's deadline deletes exactly that run's chaos
objects (another run's object in the same namespace stays)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chaos.clients.kube import KubernetesTarget, KubeSettings

from .conftest import NODE_TIMEOUT, wait_for

IMAGE = "localhost/aftershock:dev"
pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]


def chaos(name: str, ns: str, run_id: str) -> dict[str, object]:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id}},
            "spec": {"action": "pod-failure", "mode": "one", "duration": "10m",
                     "selector": {"namespaces": [ns], "labelSelectors": {"app": "nobody"}}}}


async def test_reaper_job_runs_on_the_node_and_deletes_the_runs_objects(node_testbed) -> None:
    ns = node_testbed.namespace("reap")
    settings = dataclasses.replace(KubeSettings(kubeconfig=str(node_testbed.kubeconfig), namespace=ns),
                                   reaper_image=IMAGE, reaper_ttl=600)
    async with KubernetesTarget.from_settings(settings) as target:
        await target.create(chaos("doomed", ns, "reap01"))
        await target.create(chaos("other-run", ns, "reap02"))
        created = await target.create_reaper("reap01", ns, datetime.now(UTC) + timedelta(seconds=5), kinds=["PodChaos"])
    job = created["job"]
    with node_testbed.admin() as api:
        done = wait_for(api, f"/apis/batch/v1/namespaces/{ns}/jobs/{job}",
                        lambda j: any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                      for c in (j.get("status") or {}).get("conditions") or []),
                        "reaper Job finished", timeout=240)
        pods = api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"job-name={job}"}).json()["items"]
        assert pods, "the Job made no pod"
        logs = api.get(f"/api/v1/namespaces/{ns}/pods/{pods[-1]['metadata']['name']}/log").text
        conds = {c["type"]: c["status"] for c in done["status"]["conditions"]}
        assert conds.get("Complete") == "True", logs
        assert pods[-1]["spec"]["containers"][0]["image"] == IMAGE
        assert pods[-1]["spec"]["nodeName"] == "aftershock-node"
        assert "deleted podchaos/doomed of run reap01" in logs
        left = api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/podchaos").json()["items"]
        assert [o["metadata"]["name"] for o in left] == ["other-run"]
