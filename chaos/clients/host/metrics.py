"""Prometheus metrics of one fault proxy, in its own (non-global) ``CollectorRegistry``.

Created by :class:`chaos.clients.host.proxy.FaultProxy`; rendered at the admin endpoint's ``/metrics``
and on the optional ``--metrics`` port. Two proxies in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connections = Counter(
            "aftershock_proxy_connections_total", "Client connections accepted, by chosen upstream",
            ["upstream"], registry=self.registry)
        self.bytes = Counter(
            "aftershock_proxy_bytes_total", "Bytes forwarded; direction=to (client→upstream) or from",
            ["direction"], registry=self.registry)
        self.injected = Counter(
            "aftershock_proxy_faults_injected_total", "Times a fault acted on a connection or request",
            ["kind"], registry=self.registry)
        self.active = Gauge(
            "aftershock_proxy_active_faults", "Faults currently active, by kind", ["kind"],
            registry=self.registry)
        self.requests = Counter(
            "aftershock_proxy_http_requests_total", "HTTP requests seen in HTTP mode, by upstream and code",
            ["upstream", "code"], registry=self.registry)
        self.bytes_to = self.bytes.labels("to")
        self.bytes_from = self.bytes.labels("from")

    def render(self) -> bytes:
        return generate_latest(self.registry)
