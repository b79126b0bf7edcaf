"""A corpus of Chaos Toolkit experiments and Chaos Mesh objects shaped like the public ecosystem's
(chaosk8s pod/network/Chaos Mesh/deployment/node actions, chaosprometheus query and query_interval,
HTTP and process probes, AWS EC2/RDS/FIS, Azure, GCP, toxiproxy, Spring, Istio, chaosaddons
controls; written for these tests, ``tests/interop/corpus/``): how many convert fully, partly or
are refused, and why. The figures are in docs/interop.md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from chaos.cli import main
from chaos.interop.chaosmesh_import import convert_objects, is_chaos_mesh
from chaos.interop.ctk_import import convert

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p.name for p in CORPUS.iterdir())

WITH_CTK_KINDS: dict[str, tuple[str, str]] = {
    # file: (outcome once the chaostoolkit fault kind and SLO source take what has no native form, why not full)
    "aws-ec2-stop.json": ("full", ""),  # stop_instances paired with its start_instances rollback
    "aws-fis.json": ("full", ""),  # an FIS experiment ends by itself
    "aws-rds-reboot.yaml": ("full", ""),  # a reboot is instantaneous
    "azure-stop-machines.json": ("refused", "has no rollback and is not known to be instantaneous"),
    "azure-vm-restart.json": ("full", ""),
    "chaosmesh-httpchaos.yaml": ("full", ""),
    "chaosmesh-networkchaos.yaml": ("full", ""),
    "chaosmesh-wrong-selector.yaml": ("refused", "did you mean 'labelSelectors'?"),
    "es-pagos.yaml": ("partial", "controls do not run in Aftershock"),
    "exfil-collector.json": ("partial", "pairs with no action"),  # and the command refuses it: credentials
    "gcp-gke-nodepool.yaml": ("full", ""),
    "http-probes-only.yaml": ("refused", "without a tolerance"),
    "istio-delay.json": ("full", ""),
    "k8s-drain-node.json": ("full", ""),
    "k8s-env-selector.json": ("full", ""),  # the env value without default: chaoslib reads it at run time
    "k8s-network-latency.yaml": ("full", ""),
    "k8s-network-loss-both.json": ("full", ""),
    "k8s-pod-kill.json": ("full", ""),
    "k8s-scale-deployment.json": ("full", ""),
    "k8s-stress-cpu.yaml": ("full", ""),
    "process-sigstop.json": ("full", ""),
    "prometheus-query-interval.json": ("full", ""),
    "spring-chaosmonkey.json": ("partial", "enable_chaosmonkey has no rollback"),
    "toxiproxy-latency.json": ("full", ""),
}

NATIVE_ONLY_EXIT: dict[str, int] = {
    # `aftershock import` exit codes with native forms only (no chaostoolkit kinds, no probe.http SLOs yet)
    **dict.fromkeys(["chaosmesh-httpchaos.yaml", "chaosmesh-networkchaos.yaml", "k8s-network-latency.yaml",
                     "k8s-stress-cpu.yaml", "prometheus-query-interval.json"], 0),
    **dict.fromkeys(["es-pagos.yaml", "k8s-network-loss-both.json", "k8s-pod-kill.json"], 1),
    **dict.fromkeys(["aws-ec2-stop.json", "aws-fis.json", "aws-rds-reboot.yaml", "azure-stop-machines.json",
                     "azure-vm-restart.json", "chaosmesh-wrong-selector.yaml", "exfil-collector.json",
                     "gcp-gke-nodepool.yaml", "http-probes-only.yaml", "istio-delay.json", "k8s-drain-node.json",
                     "k8s-env-selector.json", "k8s-scale-deployment.json", "process-sigstop.json",
                     "spring-chaosmonkey.json", "toxiproxy-latency.json"], 2),
}


def _outcome(name: str) -> tuple[str, list[str]]:
    documents = list(yaml.safe_load_all((CORPUS / name).read_text()))
    if all(is_chaos_mesh(d) for d in documents):
        result = convert_objects(documents, name)
    else:
        (document,) = documents
        result = convert(document, name, fallback=True)
    return result.outcome, [s.render() for s in result.skipped]


def test_the_corpus_is_what_the_tables_say() -> None:
    assert set(FILES) == set(WITH_CTK_KINDS) == set(NATIVE_ONLY_EXIT)
    assert len(FILES) >= 20


@pytest.mark.parametrize("name", FILES)
def test_with_the_chaostoolkit_kinds(name: str) -> None:
    outcome, skipped = _outcome(name)
    expected, why = WITH_CTK_KINDS[name]
    assert outcome == expected, skipped
    assert (why == "") == (skipped == []), skipped
    if why:
        assert any(why in s for s in skipped), skipped


def test_the_figures() -> None:
    counts = Counter(WITH_CTK_KINDS[n][0] for n in FILES)
    assert counts == {"full": 18, "partial": 3, "refused": 3}
    assert Counter(NATIVE_ONLY_EXIT.values()) == {0: 5, 1: 3, 2: 16}


@pytest.mark.parametrize("name", FILES)
def test_aftershock_import_exit_codes(name: str, tmp_path: Path) -> None:
    from chaos.commands.interop import _ctk_kinds_available

    runner = CliRunner()
    done = runner.invoke(main, ["import", str(CORPUS / name), "--out", str(tmp_path / "out.yaml")])
    assert "Traceback" not in done.output
    if _ctk_kinds_available():
        pytest.fail("the chaostoolkit kinds are installed: update NATIVE_ONLY_EXIT to their exit codes")
    assert done.exit_code == NATIVE_ONLY_EXIT[name], done.output
    assert (tmp_path / "out.yaml").exists() == (done.exit_code in (0, 1))
    if name == "exfil-collector.json":
        assert "AWS_SECRET_ACCESS_KEY" in done.output and "collector.example" in done.output
