"""``aftershock run`` / ``recover`` end to end with API errors injected between the CLI and the real
API server by Aftershock's own fault proxy (:mod:`kube.apiproxy`, HTTP mode with TLS on both sides).

The CLI's kubeconfig points at the proxy; the test reads the real server back directly (as the admin,
not through the proxy) to check what the injected errors did and did not change. The Chaos Mesh
controller's bookkeeping is played by :class:`kube.standin.ChaosMeshStandIn` (directly, too). Storms
with ``percent`` below 100 draw from the proxy's seeded generator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kube.apiproxy import ApiProxy
from kube.realshop import chaos_items, names
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

from k8s_run.conftest import BAD, GOOD, Cli, Metrics, experiment, in_namespace, write

CHAOS = "/apis/chaos-mesh.org/"


@pytest.fixture
def proxied(api_proxy: ApiProxy, tmp_path: Path, metrics: Metrics) -> Cli:
    """The CLI talking to the real API server through the fault proxy."""
    return Cli(api_proxy.kubeconfig(tmp_path / "proxied.kubeconfig"), tmp_path / "state", metrics.url, tmp_path)


def leftovers(bed: Testbed, ns: str) -> dict[str, list[str]]:
    run = "aftershock.io/run-id"  # a run's own objects: the namespace's reaper carries no run id
    return {"networkchaos": [o["metadata"]["name"] for o in chaos_items(bed, ns)],
            "jobs": names(bed, f"/apis/batch/v1/namespaces/{ns}/jobs", run),
            "roles": names(bed, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", run),
            "serviceaccounts": names(bed, f"/api/v1/namespaces/{ns}/serviceaccounts", run)}


NOTHING: dict[str, list[str]] = {"networkchaos": [], "jobs": [], "roles": [], "serviceaccounts": []}


async def test_sigkill_then_recover_through_an_endless_storm_then_a_passing_one(
        kube_testbed: Testbed, api_proxy: ApiProxy, proxied: Cli, ns: str, series: str,
        standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    doc = in_namespace(experiment("storm-crash", series, duration="5m"), ns)
    running = await proxied.start(*proxied.run_args(write(tmp_path, doc), "--output", "json"))
    injected = await running.until("FaultInjected")
    running.proc.kill()
    assert await running.proc.wait() == -9
    run_id = injected["run_id"]
    crashed = leftovers(kube_testbed, ns)
    assert len(crashed["networkchaos"]) == 1 and crashed["jobs"] == []  # the namespace's reaper is the backstop

    # Every DELETE of a chaos object answered 503: recover fails bounded and clearly, removes nothing.
    api_proxy.add("http-abort", "endless", code=503, method="DELETE", path_prefix=CHAOS)
    failed = await proxied.recover()
    text = failed.stdout + failed.stderr
    assert failed.rc != 0, text
    assert "kept failing (HTTP 503" in text and "gave up after 5 attempts" in text
    assert "Traceback" not in text
    assert chaos_items(kube_testbed, ns)[0]["metadata"]["name"] == crashed["networkchaos"][0]
    assert not chaos_items(kube_testbed, ns)[0]["metadata"].get("deletionTimestamp")
    api_proxy.proxy.remove_fault("endless")

    # 500 on half the DELETEs and 429 on half the reads of chaos objects: retried, all removed.
    api_proxy.add("http-abort", "deletes", code=500, percent=50, method="DELETE")
    api_proxy.add("http-abort", "reads", code=429, percent=50, method="GET", path_prefix=CHAOS)
    before = api_proxy.injected("http-abort")
    result = await proxied.recover()
    assert result.rc == 0, result.stdout + result.stderr
    assert f"✓ {run_id}/payment-delay" in result.stdout
    assert api_proxy.injected("http-abort") > before  # the storm did happen, and was retried
    assert leftovers(kube_testbed, ns) == NOTHING
    again = await proxied.recover()
    assert again.rc == 0 and "nothing to recover" in again.stdout
    assert not standin.errors


async def test_a_run_through_storms_passes_and_leaves_nothing(
        kube_testbed: Testbed, api_proxy: ApiProxy, proxied: Cli, ns: str, series: str,
        standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    # 500 on a quarter of the writes and 429 on a quarter of the chaos object reads, the whole run long
    for method in ("POST", "PATCH", "DELETE"):
        api_proxy.add("http-abort", f"writes-{method}", code=500, percent=25, method=method)
    api_proxy.add("http-abort", "reads", code=429, percent=25, method="GET", path_prefix=CHAOS)
    result = await proxied.run(write(tmp_path, in_namespace(experiment("storm-run", series, duration="2s"), ns)),
                               "--output", "json")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.of("RunFinished")[0]["verdict"] == "passed"
    assert api_proxy.injected("http-abort") >= 1
    assert leftovers(kube_testbed, ns) == NOTHING


async def test_a_degrade_that_always_conflicts_fails_bounded_and_changes_nothing(
        kube_testbed: Testbed, api_proxy: ApiProxy, proxied: Cli, ns: str, metrics: Metrics, series: str,
        standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    original = {"payment_channel": "primary", "retries": "3"}
    kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                        "data": original})
    api_proxy.add("http-abort", "conflicts", code=409, method="PATCH",
                  path_prefix=f"/api/v1/namespaces/{ns}/configmaps/flags")
    doc = in_namespace(experiment("conflict-degrade", series, duration="3s", policies=[{
        "name": "backup-channel", "when": {"slo": "latency"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                          "data": {"payment_channel": "backup"}}}}}]), ns)
    running = await proxied.start(*proxied.run_args(write(tmp_path, doc), "--output", "json"))
    try:
        await running.until("FaultInjected")
        metrics.set(series, BAD)
        failed = await running.until("ActionFailed")
    finally:
        metrics.set(series, GOOD)
    result = await running.finish()
    assert "kept changing under us (3 conflicts); nothing was changed" in failed["error"], failed
    assert api_proxy.answered(409) == 3
    with kube_testbed.admin() as api:
        assert api.get(f"/api/v1/namespaces/{ns}/configmaps/flags").json()["data"] == original
    assert result.of("RunFinished"), result.stdout + result.stderr
    assert leftovers(kube_testbed, ns) == NOTHING


async def test_a_fault_never_injected_fails_the_run_and_is_removed(
        kube_testbed: Testbed, cli: Cli, ns: str, series: str, tmp_path: Path) -> None:
    """Chaos Mesh reports every selected pod Not Injected with a Failed event (chaos-daemon unreachable)."""
    with ChaosMeshStandIn(kube_testbed, inject=False) as broken:
        result = await cli.run(write(tmp_path, in_namespace(experiment("never", series, duration="5s"), ns)),
                               "--output", "json")
    assert result.rc == 3, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "error"
    assert "was not injected within 5s" in final["reason"]
    assert "chaos-daemon unreachable (stand-in)" in final["reason"]
    assert not result.of("FaultInjected")
    assert leftovers(kube_testbed, ns) == NOTHING
    assert not broken.errors
