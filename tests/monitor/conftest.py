"""Fixtures of the monitor tests: one real Prometheus per session (backfilled series + a live exporter).

The backfilled series start at ``BASE`` (a whole minute, three hours ago, so the blocks are older
than the head) with one sample per second; tests query them with explicit evaluation times
``BASE + k``. ``Forwarder`` is a counting HTTP proxy in front of Prometheus (dedup, headers, forced
HTTP errors); ``blackhole`` is a port that accepts connections and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from chaos.demo.prometheus import PrometheusServer, Sample, free_port, openmetrics
from chaos.model.slos import MonitorSpec, Slo

BASE = int(time.time()) // 60 * 60 - 3 * 3600
SPAN = 180


def _series() -> list[Sample]:
    out: list[Sample] = []
    for k in range(SPAN + 1):
        t = BASE + k
        out.append(Sample("as_latency_seconds", {"service": "order"},
                          0.5 if k < 30 else (0.9 if k < 60 else 0.4), t))
        out.append(Sample("as_error_ratio", {"service": "a"}, 0.01, t))
        out.append(Sample("as_error_ratio", {"service": "b"}, 0.2 if 40 <= k < 70 else 0.01, t))
        out.append(Sample("as_error_ratio", {"service": "c"}, 0.3 if 50 <= k < 70 else 0.02, t))
        out.append(Sample("as_timeouts_total", {}, 0 if k < 50 else 3, t))
        out.append(Sample("as_nan", {}, float("nan"), t))
        out.append(Sample("as_inf", {}, float("inf"), t))
        out.append(Sample("as_partial", {"svc": "x"}, 0.01, t))
        out.append(Sample("as_partial", {"svc": "y"}, float("nan"), t))
        if k % 10 == 0:
            out.extend(Sample("as_many", {"i": str(i)}, float(i), t) for i in range(300))
    return out


class Exporter:
    """A tiny exporter on loopback with its own registry; tests set its gauge."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Gauge("as_live_latency_seconds", "live latency", registry=self.registry)
        self.latency.set(0.1)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    yield exp
    exp.close()


@pytest.fixture(scope="session")
def prom(exporter: Exporter) -> Iterator[PrometheusServer]:
    server = PrometheusServer({"exporter": [f"127.0.0.1:{exporter.port}"]}, scrape_interval="1s",
                              backfill_text=openmetrics(_series(), {"as_timeouts": "counter"}))
    with server:
        yield server


def spec(url: str, **kw: Any) -> MonitorSpec:
    return MonitorSpec.model_validate({"prometheus": url, **kw})


def slo(name: str, query: str, op: str, value: float, **kw: Any) -> Slo:
    return Slo.model_validate({"name": name, "query": query, "objective": {"op": op, "value": value}, **kw})


# ------------------------------------------------------------------ loopback helpers


class Forwarder:
    """Counting HTTP forwarder in front of Prometheus; can answer a forced status instead."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.queries: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.force: tuple[int, bytes] | None = None
        self.refuse_batches = False
        """Answer 422 to any query joining expressions with ``or`` (a stand-in for Prometheus' sample limit)."""
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def _forward(self, data: bytes | None) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parsed.query)
                if data is not None:
                    params.update(urllib.parse.parse_qs(data.decode()))
                with owner.lock:
                    owner.queries.extend(params.get("query", []))
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    force = owner.force
                    if owner.refuse_batches and any(" or " in q for q in params.get("query", [])):
                        force = (422, json.dumps({"status": "error", "errorType": "execution",
                                                  "error": "query processing would load too many samples"}).encode())
                if force is not None:
                    status, body = force
                else:
                    try:
                        request = urllib.request.Request(owner.target + self.path, data=data)
                        if data is not None:
                            request.add_header("Content-Type", "application/x-www-form-urlencoded")
                        with urllib.request.urlopen(request, timeout=10) as answer:
                            status, body = answer.status, answer.read()
                    except urllib.error.HTTPError as exc:
                        status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.queries.clear()
            self.headers.clear()

    def fail_with(self, status: int, payload: dict[str, Any]) -> None:
        self.force = (status, json.dumps(payload).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forwarder(prom: PrometheusServer) -> Iterator[Forwarder]:
    fwd = Forwarder(prom.url)
    yield fwd
    fwd.close()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose port accepts TCP connections (kernel backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
