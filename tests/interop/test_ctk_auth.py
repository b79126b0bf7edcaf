"""An exported experiment authenticates to a Prometheus that needs it, through Chaos Toolkit's own
secrets (type ``env``), and no credential reaches the exported file, the journal, the logs, the
outputs or the state dir.

The Prometheus is the real one behind an auth-checking forwarder (``auth_forwarder.py``): 401
unless the request carries the expected basic auth (from the URL's userinfo) and tenant header, or
the expected bearer token. ``aftershock export`` runs with the experiment's own environment; the
real ``chaos validate`` and ``chaos run`` get only the variables the exported ``secrets`` name.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from harness.experiments import proxy_delay_experiment, slo

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.interop.ctk import SECRETS_SCOPE, USERINFO_ENV

from .auth_forwarder import AuthForwarder
from .ctk_cli import AFTERSHOCK, CHAOS, chaos_run, processes_mentioning, run_cli

pytestmark = pytest.mark.e2e

BASIC = "basic-userinfo-and-header"
BEARER = "bearer-token"


def _files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.mark.parametrize("scheme", [BASIC, BEARER])
async def test_an_exported_experiment_authenticates_through_chaos_toolkit_secrets(scheme: str,
                                                                                  tmp_path: Path) -> None:
    password, tenant, token = (f"{p}-{secrets.token_hex(12)}" for p in ("pw", "tenant", "token"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSHOCK_", "AUTH_"))}
    with PrometheusServer() as prom:
        if scheme == BASIC:
            basic = base64.b64encode(f"alice:{password}".encode()).decode()
            forwarder = AuthForwarder(prom.url, f"Basic {basic}", {"X-Tenant": tenant})
            monitor: dict[str, Any] = {"headers": {"X-Tenant": "{{ env.AUTH_TENANT }}"}}
            run_env = {USERINFO_ENV: f"alice:{password}", "AFTERSHOCK_PROMETHEUS_HEADER_X_TENANT": tenant}
            expected = {"userinfo": USERINFO_ENV, "header:X-Tenant": "AFTERSHOCK_PROMETHEUS_HEADER_X_TENANT"}
            wrong = {**run_env, USERINFO_ENV: "alice:wrong"}
        else:
            forwarder = AuthForwarder(prom.url, f"Bearer {token}")
            monitor = {"bearerTokenEnv": "AUTH_TOKEN"}
            run_env = {"AUTH_TOKEN": token}
            expected = {"bearer_token": "AUTH_TOKEN"}
            wrong = {"AUTH_TOKEN": "wrong"}
        async with forwarder:
            source = tmp_path / "auth.yaml"
            up = slo("up", "vector(1)", "==", 1)
            source.write_text(proxy_delay_experiment("ctk-auth", "{{ env.AUTH_PROM_URL }}", [up], duration="2s",
                                                     steadyState=["up"], monitor=monitor))
            hostport = forwarder.url.removeprefix("http://")
            url = f"http://alice:{password}@{hostport}" if scheme == BASIC else forwarder.url
            export_env = {**clean, "AUTH_PROM_URL": url, "AUTH_TENANT": tenant, "AUTH_TOKEN": token}
            exported = tmp_path / "auth.json"
            outputs: list[tuple[str, str]] = []

            async def cli(label: str, *argv: str, env: dict[str, str]) -> int:
                rc, out, err = await run_cli(*argv, env=env, cwd=tmp_path, timeout=120)
                outputs.append((label, out + err))
                assert "Traceback" not in err, (label, err)
                return rc

            assert await cli("export", AFTERSHOCK, "export", "--format", "chaostoolkit", str(source), "--out",
                             str(exported), env=export_env) == 0, outputs[-1]
            document = json.loads(exported.read_text())
            assert {k: v["key"] for k, v in document["secrets"][SECRETS_SCOPE].items()} == expected
            assert {v["type"] for v in document["secrets"][SECRETS_SCOPE].values()} == {"env"}
            assert document["configuration"]["aftershock_prometheus_url"]["default"] == forwarder.url
            probe = document["steady-state-hypothesis"]["probes"][0]["provider"]
            assert probe["secrets"] == [SECRETS_SCOPE]
            assert "Chaos Toolkit reads them from" in outputs[-1][1]

            # chaos validate loads the secrets: refused without them, valid with them
            state = tmp_path / "state"
            ctk_env = {**clean, "AFTERSHOCK_STATE_DIR": str(state)}
            assert await cli("validate without", CHAOS, "--no-version-check", "--log-file",
                             str(tmp_path / "validate.log"), "validate", str(exported), env=ctk_env) != 0
            assert next(iter(expected.values())) in outputs[-1][1] + (tmp_path / "validate.log").read_text()
            rc, out, err = await chaos_run(exported, tmp_path / "refused.json", tmp_path / "refused.log",
                                           env=ctk_env, cwd=tmp_path)
            outputs.append(("chaos run without", out + err))
            assert rc != 0 and StateStore(state).faults() == [], "refused before anything is injected"
            assert await cli("validate", CHAOS, "--no-version-check", "--log-file", str(tmp_path / "validate.log"),
                             "validate", str(exported), env={**ctk_env, **run_env}) == 0, outputs[-1]

            # chaos run with the credentials: every Prometheus request authenticated, the run passes
            refused = forwarder.refused
            rc, out, err = await chaos_run(exported, tmp_path / "journal.json", tmp_path / "ctk.log",
                                           env={**ctk_env, **run_env}, cwd=tmp_path)
            outputs.append(("chaos run", out + err))
            journal = json.loads((tmp_path / "journal.json").read_text())
            log = (tmp_path / "ctk.log").read_text()
            assert (rc, journal["status"], journal["deviated"]) == (0, "completed", False), log[-3000:]
            assert journal["steady_states"]["before"]["probes"][0]["output"] is True
            assert forwarder.accepted > 0 and forwarder.refused == refused
            run_id = journal["aftershock"]["run_id"]
            (row,) = StateStore(state).faults(run_id)
            assert row.state == "removed"

            # a wrong credential is refused by Prometheus: the steady state fails, nothing is injected
            wrong_state = tmp_path / "wrong-state"
            rc, out, err = await chaos_run(exported, tmp_path / "wrong.json", tmp_path / "wrong.log",
                                           env={**clean, "AFTERSHOCK_STATE_DIR": str(wrong_state), **wrong},
                                           cwd=tmp_path)
            outputs.append(("chaos run wrong", out + err))
            wrong_journal = json.loads((tmp_path / "wrong.json").read_text())
            assert wrong_journal["steady_states"]["before"]["steady_state_met"] is False
            assert wrong_journal["run"] == [] and wrong_journal["aftershock"]["verdict"] == "unsteady"
            assert forwarder.refused > refused
            assert StateStore(wrong_state).faults() == []
    assert processes_mentioning(str(state), str(wrong_state)) == []

    needles = {"password": password, "tenant": tenant, "token": token,
               "basic auth": base64.b64encode(f"alice:{password}".encode()).decode()}
    needles.update({f"{k} (url-quoted)": urllib.parse.quote(v) for k, v in list(needles.items())})
    haystacks = [(label, text.encode()) for label, text in outputs]
    haystacks += [(str(p.relative_to(tmp_path)), p.read_bytes()) for p in _files(tmp_path) if p != source]
    leaks = [(where, name) for where, data in haystacks for name, needle in needles.items()
             if needle.encode() in data]
    assert len(haystacks) > 8 and leaks == []
