"""The CI integrations run: the GitHub Action (``action.yml``, composite) and the GitLab CI template
(``ci/aftershock.gitlab-ci.yml``) are parsed and each step's shell is run as the runner would run it
(GitHub: ``bash --noprofile --norc -eo pipefail``, ``$GITHUB_PATH``/``$GITHUB_OUTPUT`` files;
GitLab: ``extends`` merged, ``before_script`` + ``script`` in one shell), installing this
repository's wheel, against a real Prometheus (Debian's) on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.experiments import proxy_delay_experiment, slo

from chaos.demo.prometheus import PrometheusServer

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> str:
    """pip arguments installing this repository's wheel (dependencies pinned to the dev venv's
    versions, so pip's cache serves them)."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run([str(VENV_BIN / "pip"), "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                    "-w", str(where), str(REPO)], check=True, timeout=600, capture_output=True)
    frozen = subprocess.run([str(VENV_BIN / "pip"), "freeze", "--exclude-editable", "--disable-pip-version-check"],
                            check=True, capture_output=True, text=True, timeout=120).stdout
    pins = where / "pins.txt"
    pins.write_text("".join(line + "\n" for line in frozen.splitlines() if not line.startswith("aftershock")))
    wheel = next(where.glob("aftershock-*.whl"))
    return f"{wheel} -c {pins}"


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    server = PrometheusServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$RUNNER_TEMP``, shared by the module's runs: the action's venv is made (and the wheel with
    its dependencies installed) once; later runs find everything installed."""
    return tmp_path_factory.mktemp("runner")


@pytest.fixture
def workspace(tmp_path: Path, prometheus: str) -> Path:
    """A checked-out repository: one experiment whose steady state holds, one whose does not."""
    (tmp_path / "experiments").mkdir()
    for name, value in (("holds", 1), ("breached", 5)):
        text = proxy_delay_experiment(name, prometheus, [slo("level", f"vector({value})", "<", 2)],
                                      steadyState=["level"])
        (tmp_path / "experiments" / f"{name}.yaml").write_text(text)
    return tmp_path


def _base_env(tmp_path: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CACHE_DIR", "PIP_INDEX_URL", "PIP_NO_INDEX")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["AFTERSHOCK_STATE_DIR"] = str(tmp_path / "state")
    return env


# ------------------------------------------------------------------ GitHub

EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _expand(text: str, inputs: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name.startswith("inputs."), f"only inputs.* may be used in run steps, not {name}"
        return inputs[name.removeprefix("inputs.")]

    return EXPR.sub(one, text)


def run_action(workspace: Path, runner_temp: Path, **given: str) -> tuple[int, dict[str, str]]:
    """Run the composite action's steps like GitHub's runner; the last exit code and the outputs."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, unknown
    inputs.update(given)
    github_path, github_output = runner_temp / "path", runner_temp / "output"
    github_path.write_text("")
    github_output.write_text("")
    code = 0
    for i, step in enumerate(action["runs"]["steps"]):
        assert "uses" not in step and step["shell"] == "bash"
        env = _base_env(runner_temp)
        extra = [line for line in github_path.read_text().splitlines() if line]
        env["PATH"] = ":".join([*reversed(extra), env["PATH"]])
        env.update(GITHUB_PATH=str(github_path), GITHUB_OUTPUT=str(github_output), RUNNER_TEMP=str(runner_temp))
        env.update({k: _expand(str(v), inputs) for k, v in (step.get("env") or {}).items()})
        script = runner_temp / f"step{i}.sh"
        script.write_text(_expand(step["run"], inputs))
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=900, check=False)
        code = done.returncode
        if code != 0:
            break
    outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines() if "=" in line)
    return code, outputs


@pytest.mark.timeout(1200)  # the first install of the wheel and its dependencies into a fresh venv
def test_github_action_checks_and_runs_with_the_repository_wheel(workspace: Path, runner_temp: Path,
                                                               install: str) -> None:
    temp = runner_temp
    code, out = run_action(workspace, temp, install=install, files="experiments/holds.yaml")
    assert (code, out["exit-code"]) == (0, "0")
    report = workspace / out["junit"]
    assert "<testcase" in report.read_text() and "<failure" not in report.read_text()

    code, out = run_action(workspace, temp, install=install)  # the default glob: one breached SLO
    assert (code, out["exit-code"]) == (1, "1")
    assert "<failure" in (workspace / "aftershock-junit.xml").read_text()

    code, out = run_action(workspace, temp, install=install, command="run", files="experiments/holds.yaml",
                           args="--dry-run")
    assert (code, out["exit-code"]) == (0, "0")

    code, out = run_action(workspace, temp, install=install, command="deploy")
    assert (code, out["exit-code"]) == (2, "2")


# ------------------------------------------------------------------ GitLab

def _job(template: dict[str, Any], name: str) -> dict[str, Any]:
    job = template[name]
    if "extends" not in job:
        return dict(job)
    parent = _job(template, job["extends"])
    merged = {**parent, **{k: v for k, v in job.items() if k != "extends"}}
    merged["variables"] = {**parent.get("variables", {}), **job.get("variables", {})}
    return merged


def run_gitlab_job(workspace: Path, name: str, **variables: str) -> subprocess.CompletedProcess[str]:
    template = yaml.safe_load((REPO / "ci" / "aftershock.gitlab-ci.yml").read_text())
    job = _job(template, name)
    lines = [*job.get("before_script", []), *job["script"]]
    env = _base_env(workspace)
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update(variables)
    script = workspace / f"{name.strip('.')}.sh"
    script.write_text("\n".join(lines) + "\n")
    return subprocess.run(["bash", "-eo", "pipefail", str(script)], cwd=workspace, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.mark.timeout(1200)
def test_gitlab_template_checks_and_runs_with_the_repository_wheel(workspace: Path, install: str,
                                                                  runner_temp: Path) -> None:
    venv = runner_temp / "aftershock-venv"  # the action's venv when it ran first: installed already
    done = run_gitlab_job(workspace, ".aftershock-check", AFTERSHOCK_INSTALL=install, AFTERSHOCK_VENV=str(venv),
                          AFTERSHOCK_FILES="experiments/holds.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<testcase" in (workspace / "aftershock-junit.xml").read_text()
    done = run_gitlab_job(workspace, ".aftershock-check", AFTERSHOCK_INSTALL=install, AFTERSHOCK_VENV=str(venv))
    assert done.returncode == 1, done.stdout + done.stderr
    done = run_gitlab_job(workspace, ".aftershock-run", AFTERSHOCK_INSTALL=install, AFTERSHOCK_VENV=str(venv),
                          AFTERSHOCK_FILES="experiments/holds.yaml", AFTERSHOCK_ARGS="--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    template = yaml.safe_load((REPO / "ci" / "aftershock.gitlab-ci.yml").read_text())
    assert template[".aftershock-check"]["artifacts"]["reports"]["junit"] == "aftershock-junit.xml"
