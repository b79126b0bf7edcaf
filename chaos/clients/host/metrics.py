"""Prometheus metrics of one fault proxy, in its own (non-global) ``CollectorRegistry``.

Created by :class:`chaos.clients.host.proxy.FaultProxy`; rendered at the admin endpoint's ``/metrics``
and on the optional ``--metrics`` port. Two proxies in one process never collide. The per-chunk and
per-request counters (bytes, HTTP requests) are :class:`LoopCount` plain numbers bumped on the proxy's
event loop and read by a collector at scrape time (no lock per bump); the rest are client counters.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

_BYTES = ("aftershock_proxy_bytes", "Bytes forwarded; direction=to (client→upstream) or from")
_REQUESTS = ("aftershock_proxy_http_requests", "HTTP requests seen in HTTP mode, by upstream and code")


class LoopCount:
    """A monotonic count bumped only from the proxy's event loop thread."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connections = Counter(
            "aftershock_proxy_connections_total", "Client connections accepted, by chosen upstream",
            ["upstream"], registry=self.registry)
        self.injected = Counter(
            "aftershock_proxy_faults_injected_total", "Times a fault acted on a connection or request",
            ["kind"], registry=self.registry)
        self.active = Gauge(  # the scheduler's gauge has the same name (chaos.gameday.metrics)
            "aftershock_faults_active", "Faults active in this fault proxy right now, by kind", ["kind"],
            registry=self.registry)
        self.bytes_to = LoopCount()
        self.bytes_from = LoopCount()
        self.requests: dict[tuple[str, str], LoopCount] = {}
        """``aftershock_proxy_http_requests_total`` by (upstream, code)."""
        self.registry.register(_LoopCounters(self))

    def request_count(self, upstream: str, code: str) -> LoopCount:
        count = self.requests.get((upstream, code))
        if count is None:
            count = self.requests[(upstream, code)] = LoopCount()
        return count

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LoopCounters(Collector):
    def __init__(self, metrics: ProxyMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(*_BYTES, labels=["direction"])
        yield CounterMetricFamily(*_REQUESTS, labels=["upstream", "code"])

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        moved = CounterMetricFamily(*_BYTES, labels=["direction"])
        moved.add_metric(["to"], metrics.bytes_to.value)
        moved.add_metric(["from"], metrics.bytes_from.value)
        yield moved
        requests = CounterMetricFamily(*_REQUESTS, labels=["upstream", "code"])
        for (upstream, code), count in list(metrics.requests.items()):
            requests.add_metric([upstream, code], count.value)
        yield requests
