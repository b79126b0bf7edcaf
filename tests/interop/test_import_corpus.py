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

EXIT_NOW: dict[str, int] = {
    # `aftershock import` exit codes with the chaostoolkit kinds and probe SLOs (http, chaostoolkit) installed
    **dict.fromkeys(["aws-ec2-stop.json", "aws-fis.json", "aws-rds-reboot.yaml", "azure-vm-restart.json",
                     "chaosmesh-httpchaos.yaml", "chaosmesh-networkchaos.yaml", "gcp-gke-nodepool.yaml",
                     "k8s-drain-node.json", "k8s-env-selector.json", "k8s-network-latency.yaml",
                     "k8s-network-loss-both.json", "k8s-pod-kill.json", "k8s-scale-deployment.json",
                     "k8s-stress-cpu.yaml", "process-sigstop.json", "prometheus-query-interval.json",
                     "toxiproxy-latency.json"], 0),
    **dict.fromkeys(["es-pagos.yaml", "spring-chaosmonkey.json"], 1),
    **dict.fromkeys(["azure-stop-machines.json", "chaosmesh-wrong-selector.yaml", "exfil-collector.json",
                     "http-probes-only.yaml", "istio-delay.json"], 2),
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
    assert set(FILES) == set(WITH_CTK_KINDS) == set(EXIT_NOW)
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
    assert Counter(EXIT_NOW.values()) == {0: 17, 1: 2, 2: 5}


@pytest.mark.parametrize("name", FILES)
def test_aftershock_import_exit_codes(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    done = CliRunner().invoke(main, ["import", str(CORPUS / name), "--out", str(out)])
    assert "Traceback" not in done.output
    assert done.exit_code == EXIT_NOW[name], done.output
    assert out.exists() == (done.exit_code in (0, 1))
    if name == "istio-delay.json":  # its bearer token goes to its own service: accepted when said so
        accepted = CliRunner().invoke(main, ["import", str(CORPUS / name), "--out", str(out),
                                             "--allow-credentials-to", "productpage.bookinfo.svc"])
        assert accepted.exit_code == 0, accepted.output
    if name == "exfil-collector.json":
        assert "AWS_SECRET_ACCESS_KEY" in done.output and "collector.example" in done.output
    if out.exists():  # what was written validates (with the environment its parameters name)
        validated = CliRunner(env={"PROMETHEUS_ADDR": "http://127.0.0.1:9090", "BOOKINFO_TOKEN": "t"}).invoke(
            main, ["validate", str(out)])
        problems = [line for line in validated.output.splitlines() if line.startswith("✗")]
        # a driver that is not installed here is named with its package; nothing else is wrong
        assert validated.exit_code == (2 if problems else 0), validated.output
        assert all("is not importable: it is provided by" in p for p in problems), problems
