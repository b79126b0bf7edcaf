"""``aftershock run`` / ``recover`` end to end against the real control plane and a real Prometheus.

The chaos objects, reaper Job and its RBAC, and the degraded ConfigMap live in the real API server;
the Chaos Mesh controller's bookkeeping (finalizer, injected status) is played by
:class:`kube.standin.ChaosMeshStandIn` through the real API (nothing runs in pods: no kubelet, no
chaos-daemon).
"""

from __future__ import annotations

from pathlib import Path

from kube.realshop import names
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

from k8s_run.conftest import Cli, Metrics, experiment, in_namespace, kill_after, write


async def test_run_passes_and_leaves_nothing(kube_testbed: Testbed, cli: Cli, ns: str, series: str,
                                             standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    file = write(tmp_path, in_namespace(experiment("real-happy", series, duration="2s"), ns))
    result = await cli.run(file, "--output", "json")
    assert result.rc == 0, result.stdout + result.stderr
    (final,) = result.of("RunFinished")
    assert final["verdict"] == "passed"
    (preflight,) = result.of("PreflightPassed")
    assert preflight["targets"][-1] == f"namespace {ns}: up to 1 of 4 matching pod(s) (25%) over the run"
    (injected,) = result.of("FaultInjected")
    assert injected["details"]["status"]["conditions"]["AllInjected"] == "True"
    assert names(kube_testbed, f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos") == []
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs", "aftershock.io/run-id") == []
    assert names(kube_testbed, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", "aftershock.io/run-id") == []
    assert not standin.errors


async def test_sigkill_mid_degrade_then_recover_restores_exactly(kube_testbed: Testbed, cli: Cli, ns: str,
                                                                 metrics: Metrics, series: str,
                                                                 standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    flags = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "flags", "namespace": ns},
                                "data": {"payment_channel": "primary", "retries": "3"}})
    doc = in_namespace(experiment("real-crash", series, duration="5m", policies=[{
        "name": "backup-channel", "when": {"slo": "latency"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                          "data": {"payment_channel": "backup", "fallback": "on"}}}}}]), ns)
    await kill_after(cli, write(tmp_path, doc), metrics, series, "ActionApplied")
    cm_path = f"/api/v1/namespaces/{ns}/configmaps/flags"
    with kube_testbed.admin() as api:
        assert api.get(cm_path).json()["data"] == {"payment_channel": "backup", "retries": "3", "fallback": "on"}
    assert len(names(kube_testbed, f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos")) == 1

    result = await cli.recover()
    assert result.rc == 0, result.stdout + result.stderr
    with kube_testbed.admin() as api:
        assert api.get(cm_path).json()["data"] == flags["data"]  # the added key is gone again
    assert names(kube_testbed, f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos") == []
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs", "aftershock.io/run-id") == []
    again = await cli.recover()
    assert again.rc == 0 and "nothing to recover" in again.stdout


async def test_dry_run_exit_depends_on_the_preflight_only(kube_testbed: Testbed, ns: str, series: str,
                                                          tmp_path: Path) -> None:
    """No Prometheus: the SLO is reported unreadable, the dry run still passes on its pre-flight."""
    cli = Cli(kube_testbed.kubeconfig, tmp_path / "state", "http://127.0.0.1:1", tmp_path)
    file = write(tmp_path, in_namespace(experiment("real-dry", series), ns))
    result = await cli.run(file, "--dry-run")
    assert result.rc == 0, result.stdout + result.stderr
    assert "SLO latency: current value —" in result.stdout
    assert "Prometheus could not be queried for every SLO" in result.stderr
    assert "verdict: passed — dry run: nothing injected" in result.stdout
    assert names(kube_testbed, f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos") == []


async def test_sigkill_with_the_breaker_open_then_recover_restores_routes_exactly(
        kube_testbed: Testbed, cli: Cli, ns: str, metrics: Metrics, series: str,
        standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    """Recover puts back the saved snapshot, not an approximation: an absent weight stays absent."""
    vs = kube_testbed.apply({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "payments", "namespace": ns},
        "spec": {"hosts": ["payments"], "http": [
            {"route": [{"destination": {"host": "payment-gateway"}},
                       {"destination": {"host": "payment-fallback"}, "weight": 20}]}]}})
    doc = in_namespace(experiment("real-breaker", series, duration="5m", policies=[{
        "name": "cut", "when": {"slo": "latency"}, "action": "circuit-break",
        "with": {"service": "payment-gateway", "weight": 0, "openFor": "10m"}}]), ns)
    await kill_after(cli, write(tmp_path, doc), metrics, series, "ActionApplied")
    path = f"/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/payments"
    with kube_testbed.admin() as api:
        assert [r.get("weight") for r in api.get(path).json()["spec"]["http"][0]["route"]] == [0, 20]
    result = await cli.recover()
    assert result.rc == 0, result.stdout + result.stderr
    assert "restored exactly" in result.stdout
    with kube_testbed.admin() as api:
        assert api.get(path).json()["spec"] == vs["spec"]
