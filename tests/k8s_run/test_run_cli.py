"""``aftershock run`` / ``status`` on the Kubernetes target, end to end against the real API server
(moved from the kmock emulator).

The CLI is the real console script in a subprocess; it talks to the real kube-apiserver through the
official ``kubernetes`` client and queries a real Prometheus for its SLOs. The Chaos Mesh controller's
bookkeeping is played by :class:`kube.standin.ChaosMeshStandIn`; RBAC answers come from the real
authorizer for a restricted ServiceAccount; a cluster without Chaos Mesh is the same server behind
the fault proxy answering 404 for ``/apis/chaos-mesh.org/``.
"""

from __future__ import annotations

import json
import math
import signal
import time
from datetime import datetime
from pathlib import Path

import yaml
from kube.apiproxy import ApiProxy
from kube.realshop import chaos_items, names
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

from chaos.clients.kube import rbac
from k8s_run.conftest import BAD, GOOD, Cli, Metrics, experiment, in_namespace, write


def jobs(bed: Testbed, ns: str) -> list[str]:
    """The run's own Jobs: always none now (the namespace's reaper, installed once, carries no run id)."""
    return names(bed, f"/apis/batch/v1/namespaces/{ns}/jobs", "aftershock.io/run-id")


def chaos_names(bed: Testbed, ns: str) -> list[str]:
    return [o["metadata"]["name"] for o in chaos_items(bed, ns)]


def _role_snippet(text: str) -> str:
    """The Role YAML the CLI printed as the refusal's details (progress-line prefixes removed)."""
    lines = [line.split("]   ", 1)[1] if "]   " in line else "" for line in text.splitlines()
             if "pre-flight refused" not in line]
    start = next(i for i, line in enumerate(lines) if line.startswith("# bind it"))
    end = next((i for i, line in enumerate(lines) if i > start and not line.strip()), len(lines))
    return "\n".join(lines[start:end])


async def test_happy_path(kube_testbed: Testbed, cli: Cli, ns: str, series: str, standin: ChaosMeshStandIn,
                          tmp_path: Path) -> None:
    started = time.time()
    running = await cli.start(*cli.run_args(write(tmp_path, in_namespace(experiment("k8s-happy", series), ns)),
                                            "--output", "json"))
    injected = await running.until("FaultInjected")
    run_id = injected["run_id"]
    (obj,) = chaos_items(kube_testbed, ns)
    labels = obj["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "aftershock" and labels["aftershock.io/run-id"] == run_id
    assert obj["spec"]["duration"] == "2s"
    assert obj["spec"]["selector"]["labelSelectors"] == {"app": "order-service"}
    assert jobs(kube_testbed, ns) == []  # the run creates no Job: the namespace's reaper is armed instead
    deadline_at = datetime.fromisoformat(obj["metadata"]["annotations"]["aftershock.io/deadline"]
                                         .replace("Z", "+00:00")).timestamp()
    # what the reaper's sweep compares with; written in whole seconds, rounded down (a reaper acts at
    # most a second early, never late), so the lower bound is the start's second
    assert math.floor(started) + 2 <= deadline_at <= time.time() + 2
    assert injected["details"]["status"]["conditions"]["AllInjected"] == "True"

    result = await running.finish()
    assert result.rc == 0, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "passed"
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []
    assert names(kube_testbed, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
                 "aftershock.io/run-id") == []
    journal = json.loads(Path(final["journal"]).read_text())
    assert journal["aftershock"]["run_id"] == run_id and journal["aftershock"]["verdict"] == "passed"
    assert journal["run"][0]["output"]["status"]["conditions"]["AllInjected"] == "True"


async def test_breach_rolls_back(kube_testbed: Testbed, cli: Cli, ns: str, metrics: Metrics, series: str,
                                 standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-breach", series, duration="60s", policies=[
        {"name": "fast-rollback", "when": {"slo": "latency"}, "action": "rollback"}]), ns)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    await running.until("FaultInjected")
    assert len(chaos_names(kube_testbed, ns)) == 1
    metrics.set(series, BAD)  # the SLO breaches while the fault is live
    fired = await running.until("PolicyFired")
    assert fired["policy"] == "fast-rollback" and fired["action"] == "rollback"
    metrics.set(series, GOOD)
    removed = await running.until("FaultRemoved")
    assert removed["reason"] == "rollback"
    assert chaos_names(kube_testbed, ns) == []  # deleted from the cluster before it was reported
    result = await running.finish()
    assert result.rc == 1, result.stdout + result.stderr
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "deviated" and "breach_to_fault_removed_s" in final["timings"]
    assert jobs(kube_testbed, ns) == []


async def test_missing_crds_refuse_with_exit_3(kube_testbed: Testbed, api_proxy: ApiProxy, ns: str, metrics: Metrics,
                                               series: str, tmp_path: Path) -> None:
    api_proxy.add("http-abort", "no-chaos-mesh", code=404, path_prefix="/apis/chaos-mesh.org/")
    cli = Cli(api_proxy.kubeconfig(tmp_path / "proxied"), tmp_path / "state", metrics.url, tmp_path)
    result = await cli.run(write(tmp_path, in_namespace(experiment("k8s-no-crds", series), ns)))
    text = result.stdout + result.stderr
    assert result.rc == 3, text
    assert "Chaos Mesh is not installed" in text and "helm install chaos-mesh" in text
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []


def restricted(bed: Testbed, ns: str, tmp_path: Path, metrics: Metrics, denied: set[rbac.Permission]) -> Cli:
    """The CLI as a real ServiceAccount granted every needed permission but ``denied``."""
    granted = set(rbac.required_permissions([ns], ["networkchaos"])) - denied
    if granted:
        bed.apply_yaml(rbac.rbac_manifests(sorted(granted), f"{ns}/runner"))
    config = bed.service_account_kubeconfig(ns, "runner", tmp_path / "runner.kubeconfig")
    return Cli(config, tmp_path / "state", metrics.url, tmp_path)


async def test_denied_access_refuses_with_a_role(kube_testbed: Testbed, ns: str, metrics: Metrics, series: str,
                                                 tmp_path: Path) -> None:
    denied = {rbac.Permission(ns, "chaos-mesh.org", "networkchaos", "create"),
              rbac.Permission(ns, "batch", "cronjobs", "get", "aftershock-reaper")}
    cli = restricted(kube_testbed, ns, tmp_path, metrics, denied)
    result = await cli.run(write(tmp_path, in_namespace(experiment("k8s-rbac", series), ns)))
    text = result.stdout + result.stderr
    assert result.rc == 3, text
    assert "missing 2 Kubernetes permission(s)" in text
    roles = [d for d in yaml.safe_load_all(_role_snippet(text)) if d]
    assert roles == [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": "aftershock-runner", "namespace": ns},
                      "rules": [{"apiGroups": ["batch"], "resources": ["cronjobs"],
                                 "resourceNames": ["aftershock-reaper"], "verbs": ["get"]},
                                {"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos"],
                                 "verbs": ["create"]}]}]
    assert f"kubectl -n {ns} create rolebinding aftershock-runner --role=aftershock-runner" in text
    assert "kind: Role" in result.stderr  # the refusal's details go to stderr
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []


async def test_blast_radius_over_max_targets_is_invalid(kube_testbed: Testbed, cli: Cli, ns: str, series: str,
                                                        tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-too-many", series, mode="all", max_targets=2), ns)
    result = await cli.run(write(tmp_path, doc), "--output", "json")
    assert result.rc == 2, result.stdout + result.stderr
    assert result.of("RunFinished")[0]["verdict"] == "invalid"
    refused = result.of("PreflightRefused")[0]
    assert "maxTargets" in refused["reason"] + " ".join(refused["details"])
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []


async def test_dry_run_persists_nothing_and_shows_objects_and_targets(kube_testbed: Testbed, cli: Cli, ns: str,
                                                                      series: str, tmp_path: Path) -> None:
    result = await cli.run(write(tmp_path, in_namespace(experiment("k8s-dry", series), ns)), "--dry-run")
    assert result.rc == 0, result.stdout + result.stderr
    assert "kind: NetworkChaos" in result.stdout and "aftershock.io/run-id" in result.stdout
    assert f"{ns}/order-0" in result.stdout  # the resolved targets
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []


async def test_sigkill_mid_fault_then_the_next_run_recovers_first(kube_testbed: Testbed, cli: Cli, ns: str,
                                                                 series: str, standin: ChaosMeshStandIn,
                                                                 tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-crash-next", series, duration="5m"), ns)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    injected = await running.until("FaultInjected")
    running.proc.kill()
    assert await running.proc.wait() == -9
    (dead,) = chaos_names(kube_testbed, ns)
    assert injected["run_id"] in dead

    listed = await cli.recover("--dry-run")
    assert listed.rc == 0 and f"would remove {injected['run_id']}/payment-delay" in listed.stdout
    assert chaos_names(kube_testbed, ns) == [dead]
    result = await cli.run(write(tmp_path, in_namespace(experiment("k8s-next", series, duration="1s"), ns)),
                           "--output", "json")
    assert result.rc == 0, result.stdout + result.stderr
    (preflight,) = result.of("PreflightPassed")
    assert preflight["checks"][0] == "recovered 1 fault(s) left by dead runs"
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []


async def test_ctrl_c_mid_fault_aborts_and_cleans_up(kube_testbed: Testbed, cli: Cli, ns: str, series: str,
                                                     standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-sigint", series, duration="5m"), ns)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    await running.until("FaultInjected")
    assert len(chaos_names(kube_testbed, ns)) == 1 and jobs(kube_testbed, ns) == []
    running.proc.send_signal(signal.SIGINT)
    result = await running.finish()
    assert result.rc == 130, result.stdout + result.stderr
    assert result.of("RunFinished")[0]["verdict"] == "aborted"
    assert [e["reason"] for e in result.of("FaultRemoved")] == ["abort"]
    assert chaos_names(kube_testbed, ns) == [] and jobs(kube_testbed, ns) == []
    nothing = await cli.recover()
    assert nothing.rc == 0 and "nothing to recover" in nothing.stdout


async def test_status_joins_the_store_with_the_cluster(kube_testbed: Testbed, cli: Cli, ns: str, series: str,
                                                       standin: ChaosMeshStandIn, tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-status", series, duration="5m"), ns)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    run_id = (await running.until("FaultInjected"))["run_id"]
    running.proc.kill()
    await running.proc.wait()
    (nc,) = chaos_names(kube_testbed, ns)

    result = await cli("status", "--state-dir", str(cli.state_dir), "--kubeconfig", str(cli.kubeconfig),
                       "--output", "json")
    assert result.rc == 0, result.stderr
    [fault] = [f for f in json.loads(result.stdout)["faults"] if f["run"] == run_id]
    assert (fault["fault"], fault["target"], fault["state"], fault["run_alive"]) == \
        ("payment-delay", "kubernetes", "live", False)
    assert nc in fault["detail"]
    elsewhere = await cli("status", "--state-dir", str(tmp_path / "empty"), "--kubeconfig", str(cli.kubeconfig),
                          "--output", "json")
    [found] = [f for f in json.loads(elsewhere.stdout)["faults"] if f["run"] == run_id]
    assert found["state"] == "live" and "in no state store known here" in found["detail"]
    assert (await cli.recover()).rc == 0
    after = await cli("status", "--state-dir", str(cli.state_dir), "--kubeconfig", str(cli.kubeconfig))
    # (the shared API server may hold other tests' objects: only this run's must be gone)
    assert after.rc == 0 and run_id not in after.stdout, after.stdout
