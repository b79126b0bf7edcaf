"""``aftershock validate`` / ``compile`` as users run them, and the corpus of bad files in ``bad/``.

Each ``bad/NAME.yaml`` sits beside ``bad/NAME.expected``: one line per expected problem, each a
substring of exactly one stderr line (after the ``✗ `` marker). The file must be refused with
exit code 2, one line per problem, and no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from chaos import __version__
from chaos.cli import main

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"
REPO = HERE.parents[1]
PAYMENT = REPO / "experiments" / "payment-latency.yaml"


def run(*args: str, cwd: Path | None = None) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(p.stem for p in BAD.glob("*.yaml")))
def test_bad_corpus(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    result = run("validate", f"{name}.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    got = [line.removeprefix("✗ ") for line in result.stderr.splitlines()]
    expected = [line for line in (BAD / f"{name}.expected").read_text().splitlines() if line.strip()]
    assert len(got) == len(expected), got
    for want in expected:
        assert sum(want in line for line in got) == 1, (want, got)


def test_every_bad_file_has_an_expectation() -> None:
    yamls = {p.stem for p in BAD.glob("*.yaml")}
    assert yamls == {p.stem for p in BAD.glob("*.expected")}
    assert len(yamls) >= 25


def test_validate_all_shipped_experiments() -> None:
    files = sorted(str(p) for p in (REPO / "experiments").glob("*.yaml"))
    result = run("validate", *files)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("✓") == len(files)


def test_validate_mixed_files_exits_2_and_reports_each() -> None:
    result = run("validate", str(PAYMENT), str(BAD / "not-yaml.yaml"))
    assert result.exit_code == 2
    assert "✓" in result.stdout and "not-yaml.yaml:2:7: not valid YAML" in result.stderr


def test_validate_json_output_is_machine_readable() -> None:
    result = run("validate", "--output", "json", str(PAYMENT), str(BAD / "misspelt-key.yaml"))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [r["valid"] for r in report] == [True, False]
    assert report[0]["name"] == "payment-latency" and report[0]["problems"] == []
    assert report[1]["problems"] == [{"file": str(BAD / "misspelt-key.yaml"), "line": 11, "column": None,
                                      "path": "spec.faults[0].latncy", "message": "unknown key 'latncy'",
                                      "hint": "did you mean 'latency'?"}]


def test_huge_file_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * 1_000_001)
    result = run("validate", str(huge))
    assert result.exit_code == 2 and "file larger than 1000000 bytes" in result.stderr


def test_compile_to_stdout_is_multi_document_yaml() -> None:
    result = run("compile", str(PAYMENT), "--run-id", "abcd1234")
    assert result.exit_code == 0, result.stderr
    (obj,) = list(yaml.safe_load_all(result.stdout))
    assert obj["metadata"]["name"] == "payment-latency-payment-delay-abcd1234"
    assert result.stdout == run("compile", str(PAYMENT), "--run-id", "abcd1234").stdout


def test_compile_default_run_id_is_fresh_and_valid() -> None:
    first = yaml.safe_load(run("compile", str(PAYMENT)).stdout)["metadata"]["labels"]["aftershock.io/run-id"]
    second = yaml.safe_load(run("compile", str(PAYMENT)).stdout)["metadata"]["labels"]["aftershock.io/run-id"]
    assert first != second and len(first) == 8


def test_compile_set_overrides_a_parameter() -> None:
    result = run("compile", str(PAYMENT), "--run-id", "abcd", "--set", "latency=800ms")
    assert yaml.safe_load(result.stdout)["spec"]["delay"]["latency"] == "800ms"


def test_compile_to_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("compile", str(REPO / "experiments" / "pod-kill.yaml"), "--out", str(out), "--run-id", "r123")
    assert result.exit_code == 0, result.stderr
    (written,) = sorted(out.iterdir())
    assert written.name == "podchaos-pod-kill-kill-order-pod-r123.yaml"
    assert result.stdout.strip() == str(written)
    assert yaml.safe_load(written.read_text())["kind"] == "PodChaos"


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "nope=1"], "--set nope: no such parameter (declared parameters: latency)"),
    (["--set", "latncy=1s"], "--set latncy: no such parameter (did you mean 'latency'?)"),
    (["--set", "latency"], "--set 'latency': expected key=value"),
    (["--set", "=1s"], "--set '=1s': expected key=value"),
    (["--set", "latency=forever"], "spec.faults[0].latency: 'forever' is not a duration"),
    (["--run-id", "NOT_OK"], "--run-id 'NOT_OK': 4 to 12 lower-case letters or digits"),
])
def test_compile_refusals_print_nothing_to_stdout(args: list[str], message: str) -> None:
    result = run("compile", str(PAYMENT), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr


def test_compile_failure_writes_no_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("compile", str(BAD / "out-of-range.yaml"), "--out", str(out))
    assert result.exit_code == 2 and result.stdout == ""
    assert not out.exists() or not any(out.iterdir())


def test_compile_host_experiment_is_refused() -> None:
    result = run("compile", str(REPO / "experiments" / "demo-payment-latency.yaml"))
    assert result.exit_code == 2 and result.stdout == ""
    assert "spec.target.type: only target.type: kubernetes compiles" in result.stderr


def test_validate_set_undeclared_parameter() -> None:
    result = run("validate", str(PAYMENT), "--set", "lateny=1s")
    assert result.exit_code == 2 and "--set lateny: no such parameter" in result.stderr


def test_version_and_help() -> None:
    version = run("--version")
    assert version.exit_code == 0 and version.stdout.strip() == f"aftershock, version {__version__}"
    helped = run("--help")
    assert helped.exit_code == 0 and "validate" in helped.stdout and "compile" in helped.stdout
    assert run("compile", "--help").exit_code == 0


def test_installed_console_script_end_to_end() -> None:
    script = Path(sys.executable).parent / "aftershock"
    done = subprocess.run([str(script), "validate", str(BAD / "sandbox-1.yaml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert "refused by the template sandbox" in done.stderr and "Traceback" not in done.stderr
