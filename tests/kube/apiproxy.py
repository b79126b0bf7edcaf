"""Aftershock's own fault proxy between a client and the real kube-apiserver, in HTTP mode.

kube-apiserver speaks TLS only, so the proxy terminates TLS (a CA and a serving certificate for
127.0.0.1 made here with ``openssl``, once per session) and re-originates it to the API server,
trusting the testbed's CA and presenting the admin client certificate when the client's kubeconfig
authenticates by client certificate (a bearer token passes through as a header). The client's
kubeconfig points at the proxy and trusts the proxy's CA. The proxy's HTTP faults (``http-abort``
status answers, ``http-delay``, with ``percent``/``method``/``path_prefix``) and its connection faults
(``reset``, ``partition``) then apply to real API traffic.

Callers: tests/kube/test_api_faults.py and tests/k8s_run (the ``aftershock run``/``recover`` CLI and
the Engine through the proxy).
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from kube.testbed import Testbed

_PKI: list[Path] = []


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def proxy_pki(factory: pytest.TempPathFactory) -> Path:
    """The proxy's own CA and serving certificate for 127.0.0.1 (made once per session)."""
    if not _PKI:
        pki = factory.mktemp("proxy-pki")
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=aftershock-proxy-test-ca", cwd=pki)
        (pki / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=aftershock-proxy",
                 cwd=pki)
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=pki)
        _PKI.append(pki)
    return _PKI[0]


@dataclass
class ApiProxy:
    """A started :class:`FaultProxy` in front of the testbed's API server."""

    proxy: FaultProxy
    bed: Testbed
    pki: Path

    @property
    def url(self) -> str:
        host, port = self.proxy.address
        return f"https://{host}:{port}"

    def kubeconfig(self, path: Path, source: Path | None = None, namespace: str | None = None) -> Path:
        """``source`` (default: the admin kubeconfig) pointed at the proxy and trusting its CA."""
        config = yaml.safe_load((source or self.bed.kubeconfig).read_text())
        cluster = config["clusters"][0]["cluster"]
        cluster["server"] = self.url
        cluster["certificate-authority-data"] = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        if namespace:
            for context in config["contexts"]:
                context["context"]["namespace"] = namespace
        path.write_text(yaml.safe_dump(config))
        return path

    def add(self, kind: str, fault_id: str | None = None, ttl: float = 120.0, **params: Any) -> ProxyFault:
        """Inject a fault (bounded: the proxy removes it by itself after ``ttl`` seconds)."""
        fault = ProxyFault.from_dict({"id": fault_id or kind, "run_id": "api-faults", "kind": kind,
                                      "deadline": time.time() + ttl, **params})
        self.proxy.add_fault(fault)
        return fault

    def injected(self, kind: str) -> int:
        value = self.proxy.metrics.registry.get_sample_value("aftershock_proxy_faults_injected_total",
                                                             {"kind": kind})
        return int(value or 0)

    def answered(self, status: int | str) -> int:
        """How many requests got ``status`` through the proxy (from the API server or injected)."""
        value = self.proxy.metrics.registry.get_sample_value(
            "aftershock_proxy_http_requests_total", {"upstream": "kube-apiserver", "code": str(status)})
        return int(value or 0)


def upstream_tls(bed: Testbed, client_cert: bool) -> ssl.SSLContext:
    """What the proxy uses towards kube-apiserver: trust the testbed's CA, maybe present the admin cert."""
    context = ssl.create_default_context(cafile=str(bed.pki / "ca.crt"))
    if client_cert:
        context.load_cert_chain(str(bed.pki / "admin.crt"), str(bed.pki / "admin.key"))
    return context


def serving_tls(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    return context


async def start(bed: Testbed, pki: Path, *, client_cert: bool = True, http: bool = True,
                seed: int = 13) -> AsyncIterator[ApiProxy]:
    """Run the proxy for the duration of a test (async generator for fixtures)."""
    config = yaml.safe_load(bed.kubeconfig.read_text())
    by_cert = "client-certificate-data" in config["users"][0]["user"]
    api = urlsplit(bed.url)
    upstream = Upstream("kube-apiserver", str(api.hostname), int(api.port or 443),
                        ssl=upstream_tls(bed, client_cert and by_cert))
    async with FaultProxy(("127.0.0.1", 0), [upstream], http=http, seed=seed,
                          server_ssl=serving_tls(pki)) as proxy:
        yield ApiProxy(proxy, bed, pki)


@pytest.fixture
async def api_proxy(kube_testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiProxy]:
    """The HTTP-mode fault proxy in front of the real API server, authenticating upstream as the admin."""
    async for proxy in start(kube_testbed, proxy_pki(tmp_path_factory)):
        yield proxy
