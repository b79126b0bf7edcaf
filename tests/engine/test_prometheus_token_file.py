"""The deployment's Prometheus token: ``AFTERSHOCK_PROMETHEUS_TOKEN_FILE`` (what the in-cluster Job
gets from ``compile --in-cluster --prometheus-secret``) overrides the experiment's
``monitor.bearerTokenFile``; the real ``aftershock run`` sends it to a real Prometheus (through a
recording forwarder), and the token reaches no output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.experiments import proxy_delay_experiment, slo
from harness.forwarder import Forwarder

from chaos.demo.prometheus import PrometheusServer

AFTERSHOCK = Path(sys.executable).parent / "aftershock"


def test_the_token_file_of_the_deployment_is_sent_to_prometheus(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-prom-token\n")
    token.chmod(0o600)
    source = tmp_path / "exp.yaml"
    with PrometheusServer() as prom:
        recorder = Forwarder(prom.url)
        try:
            source.write_text(proxy_delay_experiment("token-file", "http://127.0.0.1:9", [slo("up", "vector(1)", "==", 1)],
                                                     duration="4s"))
            env = {**os.environ, "AFTERSHOCK_STATE_DIR": str(tmp_path / "state"),
                   "AFTERSHOCK_PROMETHEUS_URL": recorder.url, "AFTERSHOCK_PROMETHEUS_TOKEN_FILE": str(token)}
            done = subprocess.run([str(AFTERSHOCK), "run", str(source)], capture_output=True, text=True, env=env,
                                  timeout=120, check=False)
        finally:
            recorder.close()
    assert done.returncode == 0, done.stdout + done.stderr
    sent = {h.get("authorization") for h in recorder.headers}
    assert sent == {"Bearer s3cr3t-prom-token"}, sent  # every request, from the file the deployment named
    assert "s3cr3t" not in done.stdout + done.stderr


def test_the_jobs_optional_token_key_absent_means_no_token(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The in-cluster Job always names its Secret mount's ``token`` file; a Secret without that key
    (it is optional) gets no file from the kubelet, and the Job queries Prometheus without a token
    (tests/node/test_gameday_on_node.py runs that Job). Anywhere else a missing file stays named,
    so the first query says which file is missing."""
    from chaos.commands.run import prometheus_token_file
    from chaos.gameday.incluster import PROMETHEUS_SECRET_MOUNT

    job_token = f"{PROMETHEUS_SECRET_MOUNT}/token"
    assert not os.path.lexists(job_token)
    monkeypatch.setenv("AFTERSHOCK_PROMETHEUS_TOKEN_FILE", job_token)
    assert prometheus_token_file() is None
    monkeypatch.setenv("AFTERSHOCK_PROMETHEUS_TOKEN_FILE", str(tmp_path / "token"))
    assert prometheus_token_file() == str(tmp_path / "token")
    (tmp_path / "token").write_text("t\n")
    assert prometheus_token_file() == str(tmp_path / "token")
    monkeypatch.delenv("AFTERSHOCK_PROMETHEUS_TOKEN_FILE")
    assert prometheus_token_file() is None
