"""Credentials only where they belong: URL userinfo split per RFC 3986 whatever characters it holds
(and never shown), the proxy admin endpoint loopback unless the file says otherwise (https then), its
client verifying TLS, a real loopback check, and no URL with userinfo or a query token in the logs of
``gameday serve`` (httpx logs each request at INFO)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.prometheus import PrometheusClient, PrometheusUnreachable
from chaos.errors import TargetError
from chaos.model.base import is_loopback_host
from chaos.model.slos import MonitorSpec
from chaos.secrets import BadAuthority, quiet_http_logs, scrub, split_userinfo

AFTERSHOCK = Path(sys.executable).parent / "aftershock"
REPO = Path(__file__).resolve().parents[2]

ODD_PASSWORDS = ["hun/ter2xy", "hun?ter2xy", "hun#ter2xy", "hu@nter2xy", "hun:ter2xy", "hun%2Fter2", "h[un]ter2x",
                 "hun;ter=2x", "p@ss/w?r#d", "hunter2%40", "ünïcødé!!", "a/b@c/d@ef"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_userinfo_never_survives_whatever_it_holds(password: str) -> None:
    url = f"http://bob:{password}@prom.example:9090/api?x=1"
    try:
        public, userinfo = split_userinfo(url)
    except BadAuthority as exc:  # a '/', '?' or '#' ended the authority early (RFC 3986 §3.2)
        assert password not in str(exc) and "prom.example" not in str(exc)
    else:
        assert public == "http://prom.example:9090/api?x=1"
        assert userinfo is not None and userinfo.reveal() == f"bob:{password}"
    shown = scrub(f"querying {url} failed")
    assert password not in shown
    assert "bob" not in shown
    assert shown.endswith("prom.example:9090/api?x=1 failed")


def test_rfc_3986_authority_ends_at_the_first_slash_question_mark_or_hash() -> None:
    assert split_userinfo("http://prom:9090/a?c=d@e") == ("http://prom:9090/a?c=d@e", None)
    assert split_userinfo("https://[::1]:9090/x")[1] is None
    for ambiguous in ("http://bob:hun/ter2@prom:9090", "http://bob:p@ss/w@prom:9090", "http://prom/a@b"):
        with pytest.raises(BadAuthority):  # an '@' where RFC 3986 has none: a password holding '/'
            split_userinfo(ambiguous)


def test_query_tokens_are_scrubbed_from_text() -> None:
    text = scrub("POST https://hooks.example/x?access_token=s3cr3tvalue&channel=ops&sig=abcdef done")
    assert "s3cr3tvalue" not in text and "abcdef" not in text
    assert "channel=ops" in text


@pytest.mark.parametrize("url", ["http://bob:hun/ter2@127.0.0.1:9", "http://bob:hun#ter2@127.0.0.1:9",
                                 "http://bob:hun?ter2@127.0.0.1:9"])
def test_check_with_a_password_holding_a_slash_exits_2_without_showing_it(url: str) -> None:
    done = subprocess.run([str(AFTERSHOCK), "check", "--prometheus", url,
                           str(REPO / "experiments" / "demo-payment-latency.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "ter2" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "percent-encoded" in done.stderr


def _experiment(tmp_path: Path, proxy: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(f"""apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {{name: admin-check}}
spec:
  target: {{type: host}}
  faults:
    - name: delay
      type: network-delay
      selector:
        proxy: {proxy}
      latency: 100ms
      duration: 10s
  slos:
    - name: ok
      query: vector(1)
      objective: {{op: ">", value: 0}}
""")
    return path


@pytest.mark.parametrize(("proxy", "ok", "says"), [
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'http://127.0.0.1:1', tokenEnv: T}", True, ""),
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'http://[::1]:1', tokenEnv: T}", True, ""),
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'http://10.0.0.7:1', tokenEnv: T}", False, "not loopback"),
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'http://127.0.0.1.evil.example:1', tokenEnv: T}",
     False, "not loopback"),
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'http://10.0.0.7:1', remoteAdmin: true, tokenEnv: T}",
     False, "must use https"),
    ("{listen: '127.0.0.1:18080', upstream: 'a:1', admin: 'https://proxy.example:1', remoteAdmin: true, "
     "tokenEnv: T}", True, ""),
    ("{listen: '127.0.0.1.evil.example:18080', upstream: 'a:1'}", False, "only listens on loopback"),
    ("{listen: '127.999.0.1:18080', upstream: 'a:1'}", False, "only listens on loopback"),
])
def test_the_admin_endpoint_is_loopback_unless_the_file_says_otherwise(tmp_path: Path, proxy: str, ok: bool,
                                                                        says: str) -> None:
    done = subprocess.run([str(AFTERSHOCK), "validate", str(_experiment(tmp_path, proxy))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == (0 if ok else 2), done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_loopback_is_an_address_check() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("127.3.4.5") and is_loopback_host("[::1]")
    assert is_loopback_host("::ffff:127.0.0.1") and is_loopback_host("localhost")
    assert not is_loopback_host("127.0.0.1.nip.io") and not is_loopback_host("1270.0.0.1")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("::")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    (where / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=where, check=True, capture_output=True)
    return where


@contextlib.asynccontextmanager
async def _faults_endpoint(context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, list[str]]]:
    """A real admin-like endpoint on a free loopback port answering ``GET /faults``: (port, the
    Authorization headers it received)."""
    seen: list[str] = []

    async def faults(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"faults": []})

    app = web.Application()
    app.router.add_get("/faults", faults)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        yield runner.addresses[0][1], seen
    finally:
        await runner.cleanup()


async def test_the_admin_client_verifies_tls(self_signed: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(self_signed / "cert.pem", self_signed / "key.pem")
    async with _faults_endpoint(context) as (port, seen), \
            ProxyAdminClient(f"https://127.0.0.1:{port}", "admin-token-value") as admin:
        with pytest.raises(TargetError, match="unreachable"):
            await admin.list_faults()
        assert "admin-token-value" not in repr(vars(admin)) + repr(vars(admin._client))  # kept as a Secret
    assert seen == []  # the token never reached a server whose certificate is not trusted


@contextlib.asynccontextmanager
async def _query_endpoint(context: ssl.SSLContext) -> AsyncIterator[tuple[int, list[str]]]:
    """A Prometheus-like ``POST /api/v1/query`` over TLS on a free loopback port: (port, the
    Authorization headers it received)."""
    seen: list[str] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [1.0, "0.25"]}]}})

    app = web.Application()
    app.router.add_post("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        yield runner.addresses[0][1], seen
    finally:
        await runner.cleanup()


async def test_the_prometheus_client_verifies_tls_against_its_ca_bundle_unless_insecure(self_signed: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(self_signed / "cert.pem", self_signed / "key.pem")
    environ = {"PROM_TOKEN": "prom-token-value"}
    async with _query_endpoint(context) as (port, seen):
        url = f"https://127.0.0.1:{port}"

        async def query(**tls: object) -> float | None:
            client = PrometheusClient(MonitorSpec.model_validate(
                {"prometheus": url, "bearer_token_env": "PROM_TOKEN", **tls}), environ=environ)
            try:
                points, _ = await client.query("up", 1.0)
            finally:
                await client.aclose()
            return points[0].value

        with pytest.raises(PrometheusUnreachable, match=f"TLS error talking to {url}"):
            await query()  # the certificate is not among the trusted CAs
        assert seen == []  # the token never reached it
        assert await query(ca_bundle=str(self_signed / "cert.pem")) == 0.25
        assert await query(insecure=True) == 0.25
    assert seen[0] == "Bearer prom-token-value"


PLAIN_HTTP_CLIENT = """
import asyncio, ssl, sys
def no_ca_store(*args, **kwargs):
    raise AssertionError("the system CA store was loaded for a plain-HTTP admin endpoint")
ssl.create_default_context = no_ca_store
from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.prometheus import PrometheusClient, PrometheusUnreachable
async def main():
    async with ProxyAdminClient(sys.argv[1], "admin-token-value") as admin:
        print(len(await admin.list_faults()))
asyncio.run(main())
"""


async def test_a_plain_http_admin_endpoint_costs_no_ca_store() -> None:
    # http:// never reaches TLS (no redirect is followed): its client loads no CA store (~30 ms of a
    # run's pre-flight) and works; an https endpoint is verified (the test above)
    async with _faults_endpoint() as (port, seen):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PLAIN_HTTP_CLIENT, f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip() == "0"
    assert seen == ["Bearer admin-token-value"]


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_serve_logging_carries_no_url_credentials(root_log: io.StringIO) -> None:
    async def hook(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    quiet_http_logs()  # what `gameday serve` does after logging.basicConfig
    try:
        async with httpx.AsyncClient() as client:
            await client.post(f"http://user:pa55word-x@127.0.0.1:{port}/hook?token=t0ken-value-x", json={})
        logging.getLogger("aftershock.gameday").warning(
            "notify http://user:pa55word-x@127.0.0.1:%d/hook?token=t0ken-value-x failed", port)
    finally:
        await runner.cleanup()
    await asyncio.sleep(0)
    text = root_log.getvalue()
    assert "failed" in text
    assert "pa55word-x" not in text and "t0ken-value-x" not in text
