"""The testbed's node runs real pods from the project's own images: a PVC binds, a Job's pod writes
to it as the non-root user on a read-only root, its logs come back through the API server (which
reaches the kubelet with the testbed CA), exec works, and pods reach each other and the API server
through Services (kube-proxy)."""

from __future__ import annotations

import pytest
from kubernetes import client, config
from kubernetes.stream import stream

from .conftest import NODE_TIMEOUT, pod_phase, pod_ready, wait_for

IMAGE = "localhost/aftershock:dev"
RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
LOCKED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}

pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]


def test_pod_with_pvc_logs_and_exec(node_testbed) -> None:
    ns = node_testbed.namespace("node")
    with node_testbed.admin() as api:
        reply = api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json={
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "state"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        assert reply.status_code == 201, reply.text
        pvc = wait_for(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/state",
                       lambda o: o.get("status", {}).get("phase") == "Bound", "PVC Bound")
        assert pvc["spec"]["storageClassName"] == "standard"
        reply = api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "version"},
            "spec": {"restartPolicy": "Never", "securityContext": {**RESTRICTED, "fsGroup": 65532},
                     "containers": [{
                         "name": "cli", "image": IMAGE, "imagePullPolicy": "Never",
                         "command": ["/bin/sh", "-c",
                                     "aftershock --version && python3 --version && "
                                     "echo written > /var/lib/aftershock/proof && id -u"],
                         "securityContext": LOCKED,
                         "volumeMounts": [{"name": "state", "mountPath": "/var/lib/aftershock"}]}],
                     "volumes": [{"name": "state", "persistentVolumeClaim": {"claimName": "state"}}]}})
        assert reply.status_code == 201, reply.text
        pod = wait_for(api, f"/api/v1/namespaces/{ns}/pods/version", pod_phase(("Succeeded", "Failed")),
                       "pod finished", timeout=180)
        logs = api.get(f"/api/v1/namespaces/{ns}/pods/version/log")
        assert logs.status_code == 200, logs.text
        assert pod["status"]["phase"] == "Succeeded", logs.text
        assert "aftershock, version" in logs.text
        assert "Python 3" in logs.text
        assert logs.text.strip().endswith("65532")

        reply = api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell"},
            "spec": {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "sh", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"], "securityContext": LOCKED}]}})
        assert reply.status_code == 201, reply.text
        wait_for(api, f"/api/v1/namespaces/{ns}/pods/shell", pod_ready, "pod Ready", timeout=180)
    core = client.CoreV1Api(config.new_client_from_config(str(node_testbed.kubeconfig)))
    out = stream(core.connect_get_namespaced_pod_exec, "shell", ns, container="sh",
                 command=["python3", "-c", "print(6 * 7)"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out.strip() == "42"


def test_services_route_between_pods_and_to_the_api_server(node_testbed) -> None:
    """A pod reaches another through its Service's ClusterIP (kube-proxy), and the `kubernetes`
    Service reaches the API server with the pod's own ServiceAccount token."""
    ns = node_testbed.namespace("svc")
    with node_testbed.admin() as api:
        for obj in (
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                 "spec": {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                          "containers": [{"name": "web", "image": IMAGE, "imagePullPolicy": "Never",
                                          "command": ["python3", "-m", "http.server", "8080"],
                                          "workingDir": "/opt/aftershock", "securityContext": LOCKED,
                                          "ports": [{"containerPort": 8080}],
                                          "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                             "periodSeconds": 1}}]}},
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}):
            path = f"/api/v1/namespaces/{ns}/{'pods' if obj['kind'] == 'Pod' else 'services'}"
            reply = api.post(path, json=obj)
            assert reply.status_code == 201, reply.text
        wait_for(api, f"/api/v1/namespaces/{ns}/pods/web", pod_ready, "web Ready", timeout=180)
        probe = ("import os, ssl, urllib.request\n"
                 "svc = os.environ['WEB_SERVICE_HOST']\n"
                 "print(urllib.request.urlopen(f'http://{svc}/', timeout=10).status)\n"
                 "token = open('/var/run/secrets/kubernetes.io/serviceaccount/token').read()\n"
                 "ctx = ssl.create_default_context(cafile='/var/run/secrets/kubernetes.io/serviceaccount/ca.crt')\n"
                 "req = urllib.request.Request('https://' + os.environ['KUBERNETES_SERVICE_HOST'] + '/version',\n"
                 "                             headers={'Authorization': 'Bearer ' + token})\n"
                 "print(urllib.request.urlopen(req, context=ctx, timeout=10).status)\n")
        reply = api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
            "spec": {"restartPolicy": "Never", "securityContext": RESTRICTED,
                     "containers": [{"name": "probe", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["python3", "-c", probe], "securityContext": LOCKED}]}})
        assert reply.status_code == 201, reply.text
        pod = wait_for(api, f"/api/v1/namespaces/{ns}/pods/probe", pod_phase(("Succeeded", "Failed")),
                       "probe finished", timeout=180)
        logs = api.get(f"/api/v1/namespaces/{ns}/pods/probe/log").text
        assert pod["status"]["phase"] == "Succeeded", logs
        assert logs.split() == ["200", "200"]
