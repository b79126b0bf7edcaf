"""``aftershock doctor`` against the real API server (with Chaos Mesh's CRDs, as the testbed installs
them) and an unreachable Prometheus: ✓ rows for what answers, ✗ (and exit 1) for what does not."""

from __future__ import annotations

from click.testing import CliRunner

from chaos.cli import main
from chaos.demo.prometheus import free_port
from kube.testbed import Testbed


def test_cluster_and_chaos_mesh_checked_and_a_dead_prometheus_fails(kube_testbed: Testbed) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["doctor", "--kubeconfig", str(kube_testbed.kubeconfig), "--prometheus", dead])
    lines = result.output.splitlines()
    cluster = next(line for line in lines if " cluster:" in line)
    assert cluster.startswith("✓ cluster:") and "answers (Kubernetes v" in cluster
    mesh = next(line for line in lines if " chaos_mesh:" in line)
    assert mesh.startswith("✓ chaos_mesh:"), mesh
    assert any(line.startswith("✗ prometheus_server:") and "does not answer" in line for line in lines)
    assert result.exit_code == 1


def test_an_unreadable_kubeconfig_is_a_failure() -> None:
    result = CliRunner().invoke(main, ["doctor", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert any(line.startswith("✗ cluster: cannot load Kubernetes configuration") for line in result.output.splitlines())
    assert result.exit_code == 1
