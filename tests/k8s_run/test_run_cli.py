"""``aftershock run`` on the Kubernetes target, end to end through the emulated API server.

The CLI is the real console script in a subprocess; it talks HTTP to the emulator through the
official ``kubernetes`` client and queries a real Prometheus for its SLOs.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import kmock
import pytest
import yaml
from k8s.emulator import ClusterEmulator

from k8s_run.conftest import BAD, GOOD, Cli, Metrics, experiment, live, write

NC = "chaos-mesh.org/v1alpha1/networkchaos"
JOBS = "batch/v1/jobs"


def _role_snippet(text: str) -> str:
    """The Role YAML the CLI printed as the refusal's details (progress-line prefixes removed)."""
    lines = [line.split("]   ", 1)[1] if "]   " in line else "" for line in text.splitlines()
             if "pre-flight refused" not in line]
    start = next(i for i, line in enumerate(lines) if line.startswith("# bind it"))
    end = next((i for i, line in enumerate(lines) if i > start and not line.strip()), len(lines))
    return "\n".join(lines[start:end])


def chaos_posts(cluster: ClusterEmulator) -> list[kmock.Request]:
    return list(cluster[kmock.method.POST, kmock.resource(NC)])


@pytest.mark.usefixtures("shop")
async def test_happy_path(cluster: ClusterEmulator, cli: Cli, series: str, tmp_path: Path) -> None:
    file = write(tmp_path, experiment("k8s-happy", series, duration="2s"))
    started = time.time()
    result = await cli.run(file, "--output", "json")
    assert result.rc == 0, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "passed"
    run_id = final["run_id"]

    # The NetworkChaos was created (once for real, once as a server-side dry run) with our labels.
    posts = chaos_posts(cluster)
    assert [p.params.get("dryRun") for p in posts] == ["All", None]
    body = posts[1].data
    labels = body["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "aftershock"
    assert labels["aftershock.io/run-id"] == run_id
    assert body["spec"]["duration"] == "2s"
    assert body["spec"]["selector"]["labelSelectors"] == {"app": "order-service"}
    name = body["metadata"]["name"]

    # It waited until Chaos Mesh reported AllInjected, and the journal keeps that report.
    injected = result.of("FaultInjected")[0]
    assert injected["details"]["status"]["injected"] is True
    assert injected["details"]["status"]["conditions"]["AllInjected"] == "True"
    history = cluster.objects[NC, "shop", name].history
    assert any(v and (v.get("status") or {}).get("conditions") for v in history)

    # The reaper Job existed with the deadline of the fault, before the chaos object.
    job_posts = list(cluster[kmock.method.POST, kmock.resource(JOBS)])
    assert len(job_posts) == 1
    job = job_posts[0].data
    assert job["metadata"]["labels"]["aftershock.io/run-id"] == run_id
    deadline = job["metadata"]["annotations"]["aftershock.io/deadline"]
    deadline_at = datetime.fromisoformat(deadline).timestamp()
    assert started + 2 <= deadline_at <= time.time() + 2
    assert 300 <= job["spec"]["activeDeadlineSeconds"] <= 300 + 3  # seconds left + reaper_grace
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DEADLINE_EPOCH"] == str(int(deadline_at))
    assert env["CHAOS_RESOURCES"] == "networkchaos.chaos-mesh.org"
    order = [(r.resource.plural if r.resource else "", r.params.get("dryRun"))
             for r in cluster[kmock.method.POST]]
    assert order.index(("jobs", None)) < order.index(("networkchaos", None))

    # At the end the chaos object is deleted (the finalizer let go) and so is the reaper.
    assert live(cluster, "networkchaos") == []
    assert live(cluster, "jobs") == []
    assert live(cluster, "roles") == [] and live(cluster, "serviceaccounts") == []

    # The journal is written where the final event says.
    journal = json.loads(Path(final["journal"]).read_text())
    assert journal["aftershock"]["run_id"] == run_id
    assert journal["aftershock"]["verdict"] == "passed"
    assert journal["run"][0]["output"]["status"]["conditions"]["AllInjected"] == "True"


@pytest.mark.usefixtures("shop")
async def test_breach_rolls_back(cluster: ClusterEmulator, cli: Cli, metrics: Metrics, series: str,
                                 tmp_path: Path) -> None:
    doc = experiment("k8s-breach", series, duration="60s",
                     policies=[{"name": "fast-rollback", "when": {"slo": "latency"}, "action": "rollback"}])
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    await running.until("FaultInjected")
    assert len(live(cluster, "networkchaos")) == 1
    metrics.set(series, BAD)  # the SLO breaches while the fault is live
    fired = await running.until("PolicyFired")
    assert fired["policy"] == "fast-rollback" and fired["action"] == "rollback"
    metrics.set(series, GOOD)  # the fault is gone: the service recovers
    removed = await running.until("FaultRemoved")
    assert removed["reason"] == "rollback"
    assert live(cluster, "networkchaos") == []  # deleted from the cluster before it was reported
    result = await running.finish()
    assert result.rc == 1, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "deviated"
    assert "breach_to_fault_removed_s" in final["timings"]
    assert live(cluster, "jobs") == []


async def test_missing_crds_refuse_with_exit_3(cluster: ClusterEmulator, cli: Cli, series: str,
                                               tmp_path: Path) -> None:
    for res in [r for r in cluster.resources if r.group == "chaos-mesh.org"]:
        del cluster.resources[res]
    result = await cli.run(write(tmp_path, experiment("k8s-no-crds", series)))
    assert result.rc == 3, result.stdout + result.stderr
    assert "Chaos Mesh is not installed" in result.stdout + result.stderr
    assert "helm install chaos-mesh" in result.stdout + result.stderr
    assert not [p for p in cluster[kmock.method.POST]]
    assert live(cluster) == []


@pytest.mark.usefixtures("shop")
async def test_denied_access_review_refuses_with_a_role(cluster: ClusterEmulator, cli: Cli, series: str,
                                                        tmp_path: Path) -> None:
    from chaos.clients.kube import rbac

    needed = set(rbac.required_permissions(["shop"], ["networkchaos"]))
    denied = {rbac.Permission("shop", "chaos-mesh.org", "networkchaos", "create"),
              rbac.Permission("shop", "batch", "jobs", "create")}
    cluster.permissions = {(p.namespace, p.group, p.resource, p.verb) for p in needed - denied}
    before = len(live(cluster))
    result = await cli.run(write(tmp_path, experiment("k8s-rbac", series)))
    assert result.rc == 3, result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert "missing 2 Kubernetes permission(s)" in text
    roles = [d for d in yaml.safe_load_all(_role_snippet(text)) if d]
    assert roles == [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": "aftershock-runner", "namespace": "shop"},
                      "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
                                {"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos"],
                                 "verbs": ["create"]}]}]
    assert "kubectl -n shop create rolebinding aftershock-runner --role=aftershock-runner" in text
    assert {p.resource.plural for p in cluster[kmock.method.POST] if p.resource} == {"selfsubjectaccessreviews"}
    assert len(live(cluster)) == before


@pytest.mark.usefixtures("shop")
async def test_blast_radius_over_max_targets_is_invalid(cluster: ClusterEmulator, cli: Cli, series: str,
                                                        tmp_path: Path) -> None:
    doc = experiment("k8s-too-many", series, mode="all", max_targets=2)
    result = await cli.run(write(tmp_path, doc), "--output", "json")
    assert result.rc == 2, result.stdout + result.stderr
    assert result.of("RunFinished")[0]["verdict"] == "invalid"
    refused = result.of("PreflightRefused")[0]
    assert "maxTargets" in refused["reason"] + " ".join(refused["details"])
    assert chaos_posts(cluster) == []
    assert not list(cluster[kmock.method.POST, kmock.resource(JOBS)])
    assert live(cluster, "networkchaos") == [] and live(cluster, "jobs") == []


@pytest.mark.usefixtures("shop")
async def test_dry_run_persists_nothing_and_shows_objects_and_targets(cluster: ClusterEmulator, cli: Cli,
                                                                      series: str, tmp_path: Path) -> None:
    before = sorted(live(cluster))
    result = await cli.run(write(tmp_path, experiment("k8s-dry", series)), "--dry-run")
    assert result.rc == 0, result.stdout + result.stderr
    assert "kind: NetworkChaos" in result.stdout
    assert "aftershock.io/run-id" in result.stdout
    assert [p.params.get("dryRun") for p in chaos_posts(cluster)] == ["All"]
    assert not list(cluster[kmock.method.POST, kmock.resource(JOBS)])
    assert sorted(live(cluster)) == before


@pytest.mark.usefixtures("shop")
async def test_sigkill_mid_fault_then_recover_through_an_error_storm(cluster: ClusterEmulator, cli: Cli,
                                                                    series: str, tmp_path: Path) -> None:
    running = await cli.start(*cli.run_args(write(tmp_path, experiment("k8s-crash", series, duration="5m")),
                                            "--output", "json"))
    injected = await running.until("FaultInjected")
    running.proc.kill()
    assert await running.proc.wait() == -9
    (nc,) = live(cluster, "networkchaos")
    assert live(cluster, "jobs") == [("jobs", "shop", f"aftershock-reaper-{injected['run_id']}")]

    listed = await cli.recover("--dry-run")
    assert listed.rc == 0 and f"would remove {injected['run_id']}/payment-delay" in listed.stdout
    assert live(cluster, "networkchaos") == [nc]

    storm = cluster[kmock.method.DELETE, kmock.resource(NC)][:3] << 500
    throttle = cluster[kmock.method.DELETE, kmock.resource(JOBS)][:2] << 429
    result = await cli.recover()
    assert result.rc == 0, result.stdout + result.stderr
    assert f"✓ {injected['run_id']}/payment-delay" in result.stdout
    assert len(storm) == 3 and len(throttle) == 2  # the errors did happen, and were retried
    assert live(cluster, "networkchaos") == []
    assert live(cluster, "jobs") == [] and live(cluster, "roles") == [] and live(cluster, "rolebindings") == []
    assert live(cluster, "serviceaccounts") == []
    again = await cli.recover()
    assert again.rc == 0 and "nothing to recover" in again.stdout


@pytest.mark.usefixtures("shop")
async def test_sigkill_mid_fault_then_the_next_run_recovers_first(cluster: ClusterEmulator, cli: Cli,
                                                                 series: str, tmp_path: Path) -> None:
    running = await cli.start(*cli.run_args(write(tmp_path, experiment("k8s-crash-next", series, duration="5m")),
                                            "--output", "json"))
    injected = await running.until("FaultInjected")
    running.proc.kill()
    assert await running.proc.wait() == -9
    ((_, _, dead_name),) = live(cluster, "networkchaos")
    assert injected["run_id"] in dead_name

    result = await cli.run(write(tmp_path, experiment("k8s-next", series, duration="1s")),
                           "--output", "json")
    assert result.rc == 0, result.stdout + result.stderr
    (preflight,) = result.of("PreflightPassed")
    assert preflight["checks"][0] == "recovered 1 fault(s) left by dead runs"
    assert all(injected["run_id"] not in name for _, _, name in live(cluster, "networkchaos"))


@pytest.mark.usefixtures("shop")
async def test_fault_never_injected_fails_the_run_and_is_removed(cluster: ClusterEmulator, cli: Cli,
                                                                 series: str, tmp_path: Path) -> None:
    cluster.inject_after_reads = None  # the simulated chaos-daemon never injects
    result = await cli.run(write(tmp_path, experiment("k8s-stuck", series, duration="1s")), "--output", "json")
    assert result.rc == 3, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "error"
    assert "was not injected within 1s" in final["reason"]
    assert "simulated: chaos-daemon unreachable" in final["reason"]
    assert not result.of("FaultInjected")
    assert len([p for p in chaos_posts(cluster) if not p.params.get("dryRun")]) == 1
    assert live(cluster, "networkchaos") == [] and live(cluster, "jobs") == []


@pytest.mark.usefixtures("shop")
async def test_ctrl_c_mid_fault_aborts_and_cleans_up(cluster: ClusterEmulator, cli: Cli, series: str,
                                                     tmp_path: Path) -> None:
    import signal

    running = await cli.start(*cli.run_args(write(tmp_path, experiment("k8s-sigint", series, duration="5m")),
                                            "--output", "json"))
    await running.until("FaultInjected")
    assert len(live(cluster, "networkchaos")) == 1 and len(live(cluster, "jobs")) == 1
    running.proc.send_signal(signal.SIGINT)
    result = await running.finish()
    assert result.rc == 130, result.stdout + result.stderr
    assert result.of("RunFinished")[0]["verdict"] == "aborted"
    assert [e["reason"] for e in result.of("FaultRemoved")] == ["abort"]
    assert live(cluster, "networkchaos") == [] and live(cluster, "jobs") == []
    nothing = await cli.recover()
    assert nothing.rc == 0 and "nothing to recover" in nothing.stdout


# --- what the CLI front end still lacks (chaos/commands/run.py and progress.py, not the glue) -------


@pytest.mark.usefixtures("shop")
async def test_dry_run_prints_resolved_targets(cli: Cli, series: str, tmp_path: Path) -> None:
    result = await cli.run(write(tmp_path, experiment("k8s-dry-targets", series)), "--dry-run")
    assert "shop/order-0" in result.stdout


@pytest.mark.usefixtures("shop")
async def test_refusal_details_go_to_stderr(cluster: ClusterEmulator, cli: Cli, series: str,
                                            tmp_path: Path) -> None:
    cluster.permissions = set()
    result = await cli.run(write(tmp_path, experiment("k8s-rbac-stderr", series)))
    assert result.rc == 3 and "kind: Role" in result.stderr
