"""Fixtures of the monitor tests: one real Prometheus per session (backfilled series + a live exporter).

The backfilled series start at ``BASE`` (a whole minute, three hours ago, so the blocks are older
than the head) with one sample per second; tests query them with explicit evaluation times
``BASE + k``. ``Forwarder`` is a counting HTTP proxy in front of Prometheus (dedup, headers, forced
HTTP errors); ``blackhole`` is a port that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness.forwarder import Forwarder
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
