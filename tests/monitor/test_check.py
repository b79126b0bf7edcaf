"""``aftershock check``: exit codes 0/1/2/3, text/JSON output and the JUnit report, against a real Prometheus."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from chaos.commands.check import check
from chaos.demo.prometheus import PrometheusServer, free_port

TEMPLATE = """\
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {{name: {name}}}
spec:
  parameters: {{threshold: 0.8}}
  target: {{type: host}}
  faults:
    - name: delay
      type: network-delay
      selector: {{proxy: {{listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080"}}}}
      latency: 100ms
      duration: 10s
  slos:
    - name: latency
      query: '{latency}'
      objective: {{op: "<", value: "{{{{ threshold }}}}"}}
    - name: errors
      query: 'vector(0.01)'
      objective: {{op: "<", value: 0.05}}
    - name: unchecked
      query: 'vector(100)'
      objective: {{op: "<", value: 1}}
  steadyState: [latency, errors]
  monitor: {{prometheus: "{url}", interval: 1s, timeout: 2s}}
"""


def write(tmp_path: Path, name: str, latency: str, url: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(TEMPLATE.format(name=name, latency=latency, url=url))
    return str(path)


def test_exit_0_when_all_hold(prom: PrometheusServer, tmp_path: Path) -> None:
    a = write(tmp_path, "calm", "vector(0.5)", prom.url)
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(check, [a, "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert "✓ calm/latency: 0.5 (objective < 0.8)" in result.output
    assert "✓ calm/errors" in result.output and "unchecked" not in result.output
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [("calm", "latency"), ("calm", "errors")]
    assert not ET.parse(junit).getroot().findall(".//failure")


def test_exit_1_on_breach_with_junit_and_json(prom: PrometheusServer, tmp_path: Path) -> None:
    calm = write(tmp_path, "calm", "vector(0.5)", prom.url)
    hot = write(tmp_path, "hot", "vector(0.93)", prom.url)
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(check, [calm, hot, "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    assert "✗ hot/latency: 0.93 (objective < 0.8) — breached" in result.output
    root = ET.parse(junit).getroot()
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1
    message = failures[0].get("message", "")
    assert "0.93" in message and "< 0.8" in message and "vector(0.93)" in message
    assert root.find(".//testcase[@classname='hot'][@name='latency']/failure") is not None
    result = CliRunner().invoke(check, [hot, "--output", "json", "--set", "threshold=1"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["experiment"], r["slo"], r["holds"], r["value"]) for r in rows] == [
        ("hot", "latency", True, 0.93), ("hot", "errors", True, 0.01)]


def test_no_data_is_exit_1(prom: PrometheusServer, tmp_path: Path) -> None:
    empty = write(tmp_path, "empty", "as_does_not_exist", prom.url)
    result = CliRunner().invoke(check, [empty])
    assert result.exit_code == 1 and "no data" in result.output


def test_window_uses_range_query(prom: PrometheusServer, tmp_path: Path) -> None:
    calm = write(tmp_path, "calm", "vector(0.5)", prom.url)
    result = CliRunner().invoke(check, [calm, "--window", "30s", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["window"]["steps"] == 31 and rows[0]["window"]["missing_steps"] == 0
    # the backfilled latency breached at BASE+30..59: as a window ending now it is long gone (no data)
    hist = write(tmp_path, "hist", "as_latency_seconds", prom.url)
    assert CliRunner().invoke(check, [hist, "--window", "1m"]).exit_code == 1


def test_exit_2_on_invalid_input_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: aftershock/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec: {faults: []}\n")
    result = CliRunner().invoke(check, [str(bad), str(tmp_path / "missing.yaml"), "--window", "ten",
                                       "--set", "nokey"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    err = result.stderr
    assert "bad.yaml" in err and "missing.yaml: no such file" in err and "--window" in err and "--set" in err


def test_exit_3_when_prometheus_cannot_be_queried(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    path = write(tmp_path, "calm", "vector(0.5)", "http://127.0.0.1:9090")
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(check, [path, "--prometheus", closed, "--junit", str(junit)])
    assert result.exit_code == 3, result.output
    assert "cannot connect" in result.output and "could not be queried" in result.stderr
    errors = ET.parse(junit).getroot().findall(".//testcase/error")
    assert len(errors) == 2


def test_through_the_aftershock_cli(prom: PrometheusServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    hot = write(tmp_path, "hot", "vector(0.93)", prom.url)
    code = "import sys; from chaos.cli import main; sys.argv[0] = 'aftershock'; main()"
    done = subprocess.run([sys.executable, "-c", code, "check", hot], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "✗ hot/latency" in done.stdout and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-c", code, "check", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr
