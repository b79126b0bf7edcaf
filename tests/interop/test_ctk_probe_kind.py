"""The ``chaostoolkit`` SLO source: real drivers judged by chaoslib's tolerances — chaostoolkit-prometheus
against a real Prometheus, an HTTP probe against a real loopback server, a process probe."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

import chaos.model  # noqa: F401  (first: the model's unions load the kind modules through the registry)
from chaos import registry
from chaos.demo.prometheus import PrometheusServer
from chaos.interop.ctk_probe_kind import ChaosToolkitProbe
from chaos.model.kinds import ProbeContext, ProbeResult


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


async def _observe(block: dict[str, Any]) -> ProbeResult:
    kind = registry.probes.require("chaostoolkit")
    model = kind.model.model_validate(block)
    runner = kind.runner(model, ProbeContext(environ=dict(os.environ), timeout_s=10))
    try:
        return await runner.observe()
    finally:
        await runner.aclose()


def _prom_probe(prom: PrometheusServer, query: str, tolerance: Any, func: str = "query",
                **args: Any) -> dict[str, Any]:
    return {"activity": {"type": "probe", "name": "p", "tolerance": tolerance,
                         "provider": {"type": "python", "module": "chaosprometheus.probes", "func": func,
                                      "arguments": {"query": query, **args}}},
            "configuration": {"prometheus_base_url": prom.url}}


async def test_chaosprometheus_against_a_real_prometheus(prom: PrometheusServer) -> None:
    value = {"type": "jsonpath", "path": "$.data.result[0].value[1]", "expect": "0.25"}
    assert (await _observe(_prom_probe(prom, "vector(0.25)", value))).ok
    breached = await _observe(_prom_probe(prom, "vector(2)", value))
    assert not breached.ok and "not met" in breached.detail
    # chaoslib's range takes a top-level key as its target: on a Prometheus answer it cannot be judged,
    # and that is a breach (fail closed), not a traceback
    path_range = {"type": "range", "range": [0, 0.5], "target": "data.result[0].value[1]"}
    unjudged = await _observe(_prom_probe(prom, "vector(0.25)", path_range))
    assert not unjudged.ok and "could not be judged" in unjudged.detail
    interval = {"type": "jsonpath", "path": "$.data.resultType", "expect": "matrix"}
    assert (await _observe(_prom_probe(prom, "vector(1)", interval, func="query_interval",
                                       start="1 minute ago", end="now", step=15))).ok


class _Server:
    def __init__(self) -> None:
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b'{"status": "ok"}' if outer.status == 200 else b'{"status": "down"}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/health"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


async def test_an_http_probe_against_a_real_server(server: _Server) -> None:
    block = {"activity": {"type": "probe", "name": "health", "tolerance": 200,
                          "provider": {"type": "http", "url": "${health_url}", "timeout": 3}},
             "configuration": {"health_url": server.url}}
    held = await _observe(block)
    assert held.ok and held.value == 200
    server.status = 503
    breached = await _observe(block)
    assert not breached.ok and breached.value == 503
    in_range = {**block, "activity": {**block["activity"], "tolerance": {
        "type": "range", "range": [200, 299], "target": "status"}}}
    assert not (await _observe(in_range)).ok
    body = {**block, "activity": {**block["activity"], "tolerance": {
        "type": "jsonpath", "path": "$.body.status", "expect": "ok"}}}
    server.status = 200
    assert (await _observe(in_range)).ok and (await _observe(body)).ok


async def test_a_process_probe_with_a_regex_tolerance(tmp_path: Any) -> None:
    flag = tmp_path / "state"
    flag.write_text("status=ok\n")
    block = {"activity": {"type": "probe", "name": "state", "provider": {"type": "process", "path": "cat",
                                                                          "arguments": str(flag)},
                          "tolerance": {"type": "regex", "pattern": "status=ok", "target": "stdout"}}}
    assert (await _observe(block)).ok
    flag.write_text("status=down\n")
    assert not (await _observe(block)).ok


def test_the_block_is_checked_when_the_file_is_validated() -> None:
    with pytest.raises(ValidationError, match="tolerance is required"):
        ChaosToolkitProbe.model_validate({"activity": {"type": "probe", "name": "p",
                                                       "provider": {"type": "http", "url": "http://127.0.0.1/"}}})
    with pytest.raises(ValidationError, match="written in the file is refused"):
        ChaosToolkitProbe.model_validate({"activity": {"type": "probe", "name": "p", "tolerance": 200,
                                                       "provider": {"type": "http", "url": "http://127.0.0.1/"}},
                                          "secrets": {"s": {"token": "literal"}}})
