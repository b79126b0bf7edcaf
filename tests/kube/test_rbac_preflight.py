"""``aftershock rbac`` against the real RBAC authorizer: what it prints, applied as printed, makes
the pre-flight of ``aftershock run --dry-run`` pass as a real restricted ServiceAccount (a token
from TokenRequest); without it the same pre-flight is refused, naming the missing rules. And it is
least privilege, asked of the real authorizer as that ServiceAccount: it creates no pods, Jobs,
ServiceAccounts, Roles or RoleBindings, and patches only the objects it names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kube.testbed import Testbed

CLI = Path(sys.executable).with_name("aftershock")


def experiment(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "rbac-check"},
        "spec": {
            "target": {"type": "kubernetes", "namespace": namespace},
            "blastRadius": {"maxTargets": 2, "namespaces": [namespace]},
            "faults": [{"name": "slow-web", "type": "network-delay", "selector": {"labels": {"app": "web"}},
                        "mode": "fixed-percent", "value": "50", "latency": "200ms", "duration": "1m"}],
            "policies": [
                {"name": "flags", "when": {"slo": "errors"}, "action": "degrade",
                 "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                                   "data": {"mode": "static"}}}}},
                {"name": "cut", "when": {"slo": "errors"}, "action": "circuit-break",
                 "with": {"service": "web", "weight": 0, "routes": ["web"]}},
            ],
            "slos": [{"name": "errors", "query": "vector(0)", "objective": {"op": "<", "value": 1}}],
        },
    }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=120)


def test_printed_rbac_is_exactly_enough_for_the_preflight(kube_testbed: Testbed, tmp_path: Path) -> None:
    ns = kube_testbed.namespace("rbac")
    for i in range(3):
        kube_testbed.running_pod(ns, f"web-{i}", {"app": "web"})
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment(ns)))
    sa_config = kube_testbed.service_account_kubeconfig(ns, "runner", tmp_path / "runner.kubeconfig")

    refused = run_cli("run", str(exp), "--dry-run", "--kubeconfig", str(sa_config),
                      "--state-dir", str(tmp_path / "state"))
    assert refused.returncode != 0
    assert "missing" in refused.stdout + refused.stderr and "networkchaos" in refused.stdout + refused.stderr

    printed = run_cli("rbac", str(exp), "--service-account", f"{ns}/runner")
    assert printed.returncode == 0, printed.stderr
    docs = [d for d in yaml.safe_load_all(printed.stdout) if d]
    assert [d["kind"] for d in docs] == ["Role", "RoleBinding"]
    kube_testbed.apply_yaml(printed.stdout)

    passed = run_cli("run", str(exp), "--dry-run", "--kubeconfig", str(sa_config),
                     "--state-dir", str(tmp_path / "state"))
    out = passed.stdout + passed.stderr
    assert "missing" not in out, out
    assert "server-side dry run (dryRun=All) accepted every object" in out, out
    assert f"namespace {ns}: up to 2 of 3 matching pod(s)" in out, out


def _can(bed: Testbed, config: Path, ns: str, verb: str, group: str, resource: str, name: str = "") -> bool:
    """A SelfSubjectAccessReview as the identity of ``config`` (what kubectl auth can-i asks)."""
    from chaos.clients.kube import KubeClient, KubeSettings
    from chaos.clients.kube.rbac import Permission, allowed

    target = KubeClient.from_settings(KubeSettings(kubeconfig=str(config), namespace=ns))
    try:
        return allowed(target._ctx, Permission(ns, group, resource, verb, name))
    finally:
        import asyncio

        asyncio.run(target.close())


def test_printed_rbac_is_least_privilege(kube_testbed: Testbed, tmp_path: Path) -> None:
    ns = kube_testbed.namespace("least")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment(ns)))
    printed = run_cli("rbac", str(exp), "--service-account", f"{ns}/runner")
    assert printed.returncode == 0, printed.stderr
    (role,) = [d for d in yaml.safe_load_all(printed.stdout) if d and d["kind"] == "Role"]
    for rule in role["rules"]:
        if rule["apiGroups"] != ["chaos-mesh.org"] and {"patch", "update"} & set(rule["verbs"]):
            assert rule.get("resourceNames"), rule  # every patch outside chaos-mesh.org names its object
        assert rule["resources"][0] not in ("jobs", "serviceaccounts", "roles", "rolebindings") \
            or rule["verbs"] == ["get"]
    kube_testbed.apply_yaml(printed.stdout)
    config = kube_testbed.service_account_kubeconfig(ns, "runner", tmp_path / "runner.kubeconfig")
    rbac_group = "rbac.authorization.k8s.io"
    for verb, group, resource in [("create", "", "pods"), ("create", "batch", "jobs"),
                                  ("create", "batch", "cronjobs"), ("patch", "batch", "cronjobs"),
                                  ("create", "", "serviceaccounts"), ("create", rbac_group, "roles"),
                                  ("create", rbac_group, "rolebindings"), ("create", "", "pods/exec")]:
        assert not _can(kube_testbed, config, ns, verb, group, resource), f"{verb} {resource}"
    assert _can(kube_testbed, config, ns, "patch", "", "configmaps", "flags")
    assert not _can(kube_testbed, config, ns, "patch", "", "configmaps", "other")
    assert not _can(kube_testbed, config, ns, "patch", "", "configmaps")
    assert _can(kube_testbed, config, ns, "patch", "gateway.networking.k8s.io", "httproutes", "web")
    assert not _can(kube_testbed, config, ns, "patch", "gateway.networking.k8s.io", "httproutes", "other")
    assert _can(kube_testbed, config, ns, "get", "batch", "cronjobs", "aftershock-reaper")
    assert _can(kube_testbed, config, ns, "create", "chaos-mesh.org", "networkchaos")


def test_a_circuit_break_without_route_names_gets_no_unnamed_patch(kube_testbed: Testbed, tmp_path: Path) -> None:
    doc = experiment("shop")
    del doc["spec"]["policies"][1]["with"]["routes"]  # type: ignore[index]
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(doc))
    printed = run_cli("rbac", str(exp))
    assert printed.returncode == 2
    assert "with.routes" in printed.stderr and "Traceback" not in printed.stderr


def test_printed_reaper_installs_and_arms_the_namespace(kube_testbed: Testbed, tmp_path: Path) -> None:
    ns = kube_testbed.namespace("reaperless", reaper=False)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment(ns)))
    printed = run_cli("rbac", str(exp), "--reaper")
    assert printed.returncode == 0, printed.stderr
    docs = [d for d in yaml.safe_load_all(printed.stdout) if d]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "CronJob"]
    assert {d["metadata"]["namespace"] for d in docs} == {ns}
    kube_testbed.apply_yaml(printed.stdout)
    with kube_testbed.admin() as api:
        cron = api.get(f"/apis/batch/v1/namespaces/{ns}/cronjobs/aftershock-reaper").raise_for_status().json()
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "aftershock-reaper"


def test_degrade_outside_the_blast_radius_is_invalid(tmp_path: Path) -> None:
    doc = experiment("shop")
    patch = doc["spec"]["policies"][0]["with"]["kubernetes"]["patch"]  # type: ignore[index]
    patch.update({"kind": "Deployment", "name": "coredns", "namespace": "kube-system", "annotations": {"a": "b"}})
    del patch["data"]
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(doc))
    done = subprocess.run([str(CLI), "validate", str(exp)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "system namespace 'kube-system'" in done.stdout + done.stderr
    doc["spec"]["policies"][0]["with"]["kubernetes"]["patch"]["namespace"] = "payments"  # type: ignore[index]
    exp.write_text(yaml.safe_dump(doc))
    done = subprocess.run([str(CLI), "validate", str(exp)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "outside the blast radius ['shop']" in done.stdout + done.stderr
