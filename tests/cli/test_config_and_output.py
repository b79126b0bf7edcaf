"""One configuration story and the global output options, through the real ``aftershock`` entry point:
the config file fills AFTERSHOCK_* variables (a flag beats its variable, which beats the file), a bad
config file is a located problem, ``-o yaml`` is ``-o json`` rendered, errors are JSON under ``-o json``,
``run --dry-run -o json`` prints nothing but NDJSON, logs are JSON lines with ``--log-format json``,
``NO_COLOR`` turns colour off."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaos.commands.output import JsonFormatter, configure_logging
from chaos.commands.progress import TextPrinter

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "aftershock"
EXAMPLE = REPO / "experiments" / "payment-latency.yaml"


def _dead_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AFTERSHOCK_") and k not in ("KUBECONFIG", "NO_COLOR", "XDG_CONFIG_HOME")}
    env.update(AFTERSHOCK_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.update(extra)
    return env


def _cli(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *argv], cwd=tmp_path, env=env or _env(tmp_path), capture_output=True,
                          text=True, timeout=120, check=False)


def _checked_url(done: subprocess.CompletedProcess[str]) -> str:
    rows = json.loads(done.stdout)
    errors = {row["error"] for row in rows}
    assert len(errors) == 1, errors
    return errors.pop().rsplit(" at ", 1)[1]


def test_config_file_then_environment_then_flag(tmp_path: Path) -> None:
    from_file, from_env, from_flag = _dead_url(), _dead_url() + "/env", _dead_url() + "/flag"
    config = tmp_path / "xdg" / "aftershock" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"prometheusUrl: {from_file}\nlogFormat: json\n")
    done = _cli(tmp_path, "check", str(EXAMPLE), "-o", "json")
    assert done.returncode == 3 and _checked_url(done) == from_file
    env = _env(tmp_path, AFTERSHOCK_PROMETHEUS_URL=from_env)
    done = _cli(tmp_path, "check", str(EXAMPLE), "-o", "json", env=env)
    assert _checked_url(done) == from_env
    done = _cli(tmp_path, "check", str(EXAMPLE), "-o", "json", "--prometheus", from_flag, env=env)
    assert _checked_url(done) == from_flag


def test_a_bad_config_file_is_a_located_problem_and_nothing_runs(tmp_path: Path) -> None:
    config = tmp_path / "custom.yaml"
    config.write_text("stateDir: /tmp/x\nprometheusUrl: ftp://prom\nnamspace: shop\n")
    done = _cli(tmp_path, "--config", str(config), "runs")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{config}:2: prometheusUrl: expected an http:// or https:// URL" in done.stderr
    assert f"{config}:3: namspace: unknown key 'namspace' (did you mean 'namespace'?)" in done.stderr
    assert not (tmp_path / "state").exists()


def test_yaml_output_is_the_json_output_rendered(tmp_path: Path) -> None:
    as_json = _cli(tmp_path, "validate", str(EXAMPLE), "-o", "json")
    as_yaml = _cli(tmp_path, "validate", str(EXAMPLE), "-o", "yaml")
    assert as_json.returncode == as_yaml.returncode == 0
    assert list(yaml.safe_load_all(as_yaml.stdout)) == [json.loads(as_json.stdout)]


def test_errors_are_json_under_json_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: aftershock/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec: {faults: 3}\n")
    done = _cli(tmp_path, "run", str(bad), "-o", "json")
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert error["type"] == "error" and error["exit_code"] == 2
    assert error["problems"] and all(p["file"] == str(bad) and p["line"] == 4 for p in error["problems"])
    assert "error:" in done.stderr  # and the text for people on stderr
    done = _cli(tmp_path, "run", str(bad), "-o", "yaml")
    assert yaml.safe_load(done.stdout)["type"] == "error"


def test_dry_run_json_prints_nothing_but_ndjson(tmp_path: Path) -> None:
    env = _env(tmp_path, AFTERSHOCK_PROMETHEUS_URL=_dead_url())
    done = _cli(tmp_path, "run", str(EXAMPLE), "--dry-run", "-o", "json", env=env)
    lines = done.stdout.splitlines()
    objects = [json.loads(line) for line in lines]  # every line is JSON
    assert objects[0]["type"] == "plan" and objects[0]["experiment"] == "payment-latency"
    assert objects[0]["faults"][0]["fault_type"] == "NetworkChaos"
    assert len(objects) > 1


def test_json_log_lines_and_verbosity() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(verbose=1, quiet=0, log_format="json")
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("aftershock.test").info("hello %s", "world")
        logging.getLogger("aftershock.test").debug("not at -v")
        configure_logging(verbose=0, quiet=1, log_format="text")
        assert root.level == logging.ERROR
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "info" and record["logger"] == "aftershock.test" and record["message"] == "hello world"
    assert JsonFormatter().format(logging.makeLogRecord({"msg": "x", "levelname": "WARNING"})).startswith("{")


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert TextPrinter().color is False
    monkeypatch.delenv("NO_COLOR")
    assert TextPrinter().color is True
