"""Secret scan: every command, with distinct random secrets, on success and failure paths; then a byte
search of every output, every file under the state dir, the JUnit file and the report.

Secrets handed over the environment: the Prometheus URL's password, ``bearerTokenEnv``,
``basicAuth.passwordEnv``, a monitor header templated from ``env``, a degrade webhook's
``Authorization`` (through a parameter), a notify header and the fault proxy's admin token
(``tokenEnv``). Real Prometheus, the real demo services and fault proxy, the installed console
script. The webhook records what it received, proving the secrets did reach the one place that
sends them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chaos.demo.prometheus import PrometheusServer
from chaos.demo.stack import DemoStack

pytestmark = pytest.mark.e2e

AFTERSHOCK = Path(sys.executable).parent / "aftershock"
REPO = Path(__file__).resolve().parents[2]

HOST = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: secret-scan, description: "secret scan"}
spec:
  target: {type: host}
  parameters:
    hook: "{{ env.SCAN_HOOK }}"
    latency: 5ms
  faults:
    - name: slow
      type: network-delay
      selector:
        proxy:
          listen: "{{ env.AFTERSHOCK_DEMO_PROXY_LISTEN }}"
          upstream: payment-gateway
          admin: "{{ env.AFTERSHOCK_DEMO_PROXY_ADMIN }}"
          tokenEnv: SCAN_PROXY_TOKEN
          http: true
      latency: "{{ latency }}"
      duration: 3s
  slos:
    - name: up
      query: vector(0)
      objective: {op: "<", value: 1}
    - name: always-breached
      query: vector(1)
      objective: {op: "<", value: 0.5}
  steadyState: [up]
  policies:
    - name: degrade-orders
      when: {slo: always-breached}
      action: degrade
      with:
        http: {url: "{{ env.SCAN_WEBHOOK }}/degrade", headers: {Authorization: "Bearer {{ hook }}"}}
        revert: {url: "{{ env.SCAN_WEBHOOK }}/revert", headers: {Authorization: "Bearer {{ hook }}"}}
    - name: tell
      when: {slo: always-breached}
      action: notify
      with: {url: "{{ env.SCAN_WEBHOOK }}/notify", headers: {X-Token: "{{ env.SCAN_NOTIFY }}"}}
  monitor:
    prometheus: "http://scan:{{ env.SCAN_PROM_PW }}@{{ env.SCAN_PROM_HOSTPORT }}"
    bearerTokenEnv: SCAN_BEARER
    headers: {X-Scope-OrgID: "{{ env.SCAN_HEADER }}"}
    interval: 500ms
    errorTolerance: 2
  recovery: {timeout: 3s}
"""

BASIC = HOST.replace("bearerTokenEnv: SCAN_BEARER", "basicAuth: {username: scan, passwordEnv: SCAN_BASIC_PW}")

KUBE = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: secret-scan-kube}
spec:
  faults:
    - name: slow
      type: network-delay
      selector: {namespaces: [default], labels: {app: payment}}
      latency: 100ms
      duration: 30s
  slos:
    - name: up
      query: vector(0)
      objective: {op: "<", value: 1}
  monitor:
    prometheus: "http://scan:{{ env.SCAN_PROM_PW }}@{{ env.SCAN_PROM_HOSTPORT }}"
    headers: {X-Scope-OrgID: "{{ env.SCAN_HEADER }}"}
"""

LEAKY = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: leaky, description: "{{ env.SCAN_HEADER }} and {{ env }}"}
spec:
  target: {type: host}
  faults:
    - name: slow
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:1", upstream: "127.0.0.1:2"}}
      latency: "{{ env.SCAN_BEARER | int }}ms"
      duration: 3s
"""


def _secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


class Webhook:
    """A loopback webhook that records the Authorization / X-Token headers it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Webhook:
        async def handle(request: web.Request) -> web.Response:
            for name in ("Authorization", "X-Token"):
                if name in request.headers:
                    self.received.append((request.path, request.headers[name]))
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


async def test_no_secret_reaches_any_output_journal_report_junit_or_state_file(tmp_path: Path) -> None:
    values = {name: _secret(name.lower().replace("_", "-") + "-") for name in
              ("SCAN_PROM_PW", "SCAN_BEARER", "SCAN_BASIC_PW", "SCAN_HEADER", "SCAN_HOOK", "SCAN_NOTIFY")}
    state = tmp_path / "state"
    files = {"host.yaml": HOST, "basic.yaml": BASIC, "kube.yaml": KUBE, "leaky.yaml": LEAKY}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    outputs: list[tuple[str, bytes]] = []
    exits: dict[str, int] = {}

    async with DemoStack(load_rate=5.0) as stack, Webhook() as hook:
        values["SCAN_PROXY_TOKEN"] = stack.proxy_token
        async with PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
            hostport = prom.url.removeprefix("http://")
            env = {**os.environ, **values, "SCAN_WEBHOOK": hook.url, "SCAN_PROM_HOSTPORT": hostport,
                   "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
                   "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url}
            down = {**env, "SCAN_PROM_HOSTPORT": f"127.0.0.1:{_free_port()}"}
            bad_url = {**env, "SCAN_PROM_HOSTPORT": "127.0.0.1:notaport"}

            async def cli(label: str, *args: str, environ: dict[str, str] = env) -> int:
                proc = await asyncio.to_thread(
                    subprocess.run, [str(AFTERSHOCK), *args], cwd=tmp_path, env=environ,
                    stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
                outputs.append((f"{label} stdout", proc.stdout))
                outputs.append((f"{label} stderr", proc.stderr))
                exits[label] = proc.returncode
                assert b"Traceback" not in proc.stderr, (label, proc.stderr.decode(errors="replace"))
                return proc.returncode

            async def expect(code: int | None, label: str, *args: str, environ: dict[str, str] = env) -> None:
                got = await cli(label, *args, environ=environ)
                shown = (outputs[-2][1] + outputs[-1][1]).decode(errors="replace")[-3000:]
                assert (got != 0 if code is None else got == code), f"{label}: exit {got}\n{shown}"

            sd = ("--state-dir", str(state))
            await expect(0, "validate", "validate", "host.yaml", "basic.yaml", "kube.yaml")
            await expect(2, "validate json", "validate", "--output", "json", "host.yaml", "leaky.yaml")
            await expect(2, "validate leaky", "validate", "leaky.yaml")
            await expect(0, "compile", "compile", "kube.yaml", "--run-id", "scan1")
            await expect(0, "check", "check", "host.yaml", "basic.yaml", "--junit", "junit.xml")
            await expect(0, "check json", "check", "--output", "json", "host.yaml")
            await expect(3, "check down", "check", "host.yaml", "--junit", "junit-down.xml", environ=down)
            await expect(3, "check down json", "check", "--output", "json", "basic.yaml", environ=down)
            await expect(2, "check bad url", "check", "host.yaml", environ=bad_url)
            await expect(0, "check url flag", "check", "kube.yaml", "--prometheus",
                             f"http://flag:{values['SCAN_PROM_PW']}@{hostport}")
            await expect(0, "dry run", "run", "--dry-run", "host.yaml", *sd)
            await expect(1, "run", "run", "--output", "json", "host.yaml", *sd)
            await expect(1, "run basic", "run", "basic.yaml", *sd)
            await expect(None, "run down", "run", "--output", "json", "host.yaml", *sd, environ=down)
            await expect(None, "run bad url", "run", "host.yaml", *sd, environ=bad_url)
            await expect(0, "runs", "runs", *sd)
            run_ids = [line.split()[0] for line in outputs[-2][1].decode().splitlines()[1:] if line.strip()]
            assert run_ids, outputs[-2][1]
            for run_id in run_ids:
                await cli(f"show {run_id}", "show", run_id, *sd)
                await cli(f"report {run_id}", "report", run_id, "--out", f"report-{run_id}.html", *sd)
            await expect(0, "status", "status", *sd)
            await expect(0, "status json", "status", "--output", "json", *sd)
            await expect(0, "recover", "recover", *sd)
            await expect(0, "recover all", "recover", "--all", *sd)

    # the secrets did reach the one place that sends them
    assert ("/degrade", f"Bearer {values['SCAN_HOOK']}") in hook.received
    assert ("/revert", f"Bearer {values['SCAN_HOOK']}") in hook.received
    assert ("/notify", values["SCAN_NOTIFY"]) in hook.received

    needles: dict[str, bytes] = {}
    for name, value in values.items():
        needles[name] = value.encode()
        needles[f"{name} (url-quoted)"] = urllib.parse.quote(value).encode()
    needles["basic auth header"] = base64.b64encode(f"scan:{values['SCAN_BASIC_PW']}".encode())
    needles["url userinfo as basic auth"] = base64.b64encode(f"scan:{values['SCAN_PROM_PW']}".encode())
    haystacks = list(outputs)
    scanned = [p for p in [*_files(state), *tmp_path.glob("*.xml"), *tmp_path.glob("*.html")]]
    assert any(p.suffix == ".json" for p in scanned) and any(p.suffix == ".html" for p in scanned)
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "junit-down.xml").exists()
    haystacks += [(str(p.relative_to(tmp_path)), p.read_bytes()) for p in scanned]
    leaks = [(where, name) for where, data in haystacks for name, needle in needles.items() if needle in data]
    print(f"secret scan: {len(values)} secrets, {len(outputs) // 2} commands, {len(scanned)} files, "
          f"{sum(len(d) for _, d in haystacks)} bytes, exits {exits}, leaks {leaks}")
    assert leaks == []
