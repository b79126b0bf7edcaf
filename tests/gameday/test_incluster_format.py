"""The in-cluster YAML reads well in a review and a GitOps diff: no anchors or aliases, the embedded
files as literal blocks (line by line, as written), apiVersion/kind/metadata first, the same bytes
for the same input, and the environment variable the CLI reads for the Prometheus URL."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from chaos.cli import main
from chaos.gameday.incluster import compile_in_cluster, to_yaml
from chaos.gameday.loading import load_gameday

REPO = Path(__file__).resolve().parents[2]
GAMEDAY = REPO / "gamedays" / "checkout-friday.yaml"


def _text() -> str:
    result = CliRunner().invoke(main, ["compile", "--in-cluster", str(GAMEDAY)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_no_anchors_no_aliases_and_stable_bytes() -> None:
    text = _text()
    events = list(yaml.parse(text))
    assert not [e for e in events if isinstance(e, yaml.AliasEvent)]
    assert not [e for e in events if getattr(e, "anchor", None)]
    assert text == _text()


def test_embedded_files_are_literal_blocks_that_read_as_written() -> None:
    text = _text()
    written = (REPO / "experiments" / "payment-latency.yaml").read_text()
    block = "  payment-latency.yaml: |\n" + "".join(f"    {line}\n" if line else "\n"
                                                   for line in written.splitlines())
    assert block in text
    configmap = next(d for d in yaml.safe_load_all(text) if d["kind"] == "ConfigMap")
    assert configmap["data"]["payment-latency.yaml"] == written


def test_objects_start_with_apiversion_kind_metadata_and_round_trip() -> None:
    objects = compile_in_cluster(load_gameday(str(GAMEDAY)), prometheus="http://prometheus.monitoring:9090")
    for doc in yaml.safe_load_all(to_yaml(objects)):
        assert list(doc)[:3] == ["apiVersion", "kind", "metadata"]
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects
    cron = objects[-1]
    env = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "AFTERSHOCK_PROMETHEUS_URL", "value": "http://prometheus.monitoring:9090"} in env


def test_the_cronjob_pushes_metrics_when_given_a_pushgateway() -> None:
    result = CliRunner().invoke(main, ["compile", "--in-cluster", str(GAMEDAY), "--pushgateway",
                                       "http://pushgateway.monitoring:9091"])
    assert result.exit_code == 0, result.output
    cron = list(yaml.safe_load_all(result.stdout))[-1]
    env = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "AFTERSHOCK_PUSHGATEWAY_URL", "value": "http://pushgateway.monitoring:9091"} in env
