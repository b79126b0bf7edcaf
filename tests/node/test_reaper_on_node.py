"""The dead-man's switch for real: the reaper an administrator installs once per namespace
(``aftershock rbac FILE --reaper``: ServiceAccount, Role, RoleBinding, CronJob) sweeps on the node in
the project's own image (``localhost/aftershock:dev``, ``python3 -m chaos.clients.kube.reap``, no
kubectl image), as its least-privilege ServiceAccount, and deletes exactly our objects whose deadline
has passed (a live run's object and someone else's object in the same namespace stay)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chaos.clients.kube import KubeSettings
from chaos.clients.kube.reaper import REAPER_NAME, reaper_manifests

from .conftest import NODE_TIMEOUT, wait_for

IMAGE = "localhost/aftershock:dev"
pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]


def chaos(name: str, ns: str, deadline: datetime | None, ours: bool = True) -> dict[str, object]:
    labels = {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "reap01"} if ours else {}
    annotations = {"aftershock.io/deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")} if deadline else {}
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": {"action": "pod-failure", "mode": "one", "duration": "10m",
                     "selector": {"namespaces": [ns], "labelSelectors": {"app": "nobody"}}}}


def test_the_installed_reaper_sweeps_on_the_node(node_testbed) -> None:  # type: ignore[no-untyped-def]
    ns = node_testbed.namespace("reap", reaper=False)
    settings = dataclasses.replace(KubeSettings(), reaper_image=IMAGE, reaper_grace=0)
    manifests = reaper_manifests(settings, ns)
    for doc in manifests:  # what `aftershock rbac FILE --reaper | kubectl apply -f -` does
        node_testbed.apply(doc)
    now = datetime.now(UTC)
    path = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/podchaos"
    with node_testbed.admin() as api:
        for obj in (chaos("doomed", ns, now - timedelta(minutes=5)), chaos("live-run", ns, now + timedelta(hours=1)),
                    chaos("not-ours", ns, now - timedelta(minutes=5), ours=False)):
            api.post(path, json=obj).raise_for_status()
        # one sweep now instead of at the next minute: a Job from the CronJob's template, as
        # `kubectl create job --from=cronjob/aftershock-reaper` makes it
        cron = next(d for d in manifests if d["kind"] == "CronJob")
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "reaper-now", "namespace": ns, "labels": cron["metadata"]["labels"]},
               "spec": cron["spec"]["jobTemplate"]["spec"]}
        api.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=job).raise_for_status()
        done = wait_for(api, f"/apis/batch/v1/namespaces/{ns}/jobs/reaper-now",
                        lambda j: any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                      for c in (j.get("status") or {}).get("conditions") or []),
                        "reaper sweep finished", timeout=240)
        pods = api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": "job-name=reaper-now"}).json()["items"]
        assert pods, "the Job made no pod"
        logs = api.get(f"/api/v1/namespaces/{ns}/pods/{pods[-1]['metadata']['name']}/log").text
        conds = {c["type"]: c["status"] for c in done["status"]["conditions"]}
        assert conds.get("Complete") == "True", logs
        assert pods[-1]["spec"]["containers"][0]["image"] == IMAGE
        assert pods[-1]["spec"]["serviceAccountName"] == REAPER_NAME
        assert pods[-1]["spec"]["nodeName"] == "aftershock-node"
        assert "deleted podchaos/doomed" in logs
        left = sorted(o["metadata"]["name"] for o in api.get(path).json()["items"])
        assert left == ["live-run", "not-ours"], logs
