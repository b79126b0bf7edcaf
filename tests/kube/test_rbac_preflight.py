"""``aftershock rbac`` against the real RBAC authorizer: what it prints, applied as printed, makes
the pre-flight of ``aftershock run --dry-run`` pass as a real restricted ServiceAccount (a token
from TokenRequest); without it the same pre-flight is refused, naming the missing rules."""

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
                 "with": {"service": "web", "weight": 0}},
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
