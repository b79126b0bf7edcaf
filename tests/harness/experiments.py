"""Host experiments the crash, kill -9, restart and Chaos Toolkit tests (and ``bench/bench_kill.py``)
run, built as documents and written as YAML: the fault selectors they share (the demo's fault proxy
through its ``AFTERSHOCK_DEMO_PROXY_*`` variables, a run-owned fault proxy on free loopback ports, an
iptables partition inside a network namespace the caller made) and the document around them.

Importable as ``harness.experiments`` (``tests/`` is on ``sys.path`` under pytest; bench scripts
put it there).
"""

from __future__ import annotations

from typing import Any

import yaml

from chaos.demo.prometheus import free_port

DEMO_PROXY = {"proxy": {"listen": "{{ env.AFTERSHOCK_DEMO_PROXY_LISTEN }}", "upstream": "payment-gateway",
                        "admin": "{{ env.AFTERSHOCK_DEMO_PROXY_ADMIN }}", "tokenEnv": "AFTERSHOCK_DEMO_PROXY_TOKEN",
                        "http": True}}
"""The demo's fault proxy (``DemoStack``), reached through the variables ``aftershock demo`` sets."""


def owned_proxy(port: int | None = None) -> dict[str, Any]:
    """A fault proxy the run starts itself, on loopback ``port`` (default: a free one), towards a
    closed port."""
    return {"proxy": {"listen": f"127.0.0.1:{port or free_port()}", "upstream": "127.0.0.1:9"}}


def delay(name: str, selector: dict[str, Any], duration: str, latency: str = "100ms") -> dict[str, Any]:
    return {"name": name, "type": "network-delay", "selector": selector, "latency": latency, "duration": duration}


def partition(name: str, selector: dict[str, Any], duration: str) -> dict[str, Any]:
    return {"name": name, "type": "network-partition", "selector": selector, "duration": duration}


def netns_port(port: int, netns: str) -> dict[str, Any]:
    """An iptables selector inside the network namespace ``netns`` (never the host's)."""
    return {"port": port, "netns": netns}


def slo(name: str, query: str, op: str, value: float) -> dict[str, Any]:
    return {"name": name, "query": query, "objective": {"op": op, "value": value}}


def host_experiment(name: str, faults: list[dict[str, Any]], description: str = "", **spec: Any) -> str:
    """A ``target: host`` experiment with these faults and further ``spec`` keys, as YAML text."""
    metadata = {"name": name, **({"description": description} if description else {})}
    document = {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": metadata,
                "spec": {"target": {"type": "host"}, "faults": faults, **spec}}
    return yaml.safe_dump(document, sort_keys=False)


OWNED_PROXY_MIN_DURATION = "4s"
"""A fault through a run-owned proxy shorter than this can spend its whole window waiting for the
proxy to start on a loaded machine (its deadline is fixed before the proxy starts)."""


def proxy_delay_experiment(name: str, prometheus: str, slos: list[dict[str, Any]], *, port: int | None = None,
                           duration: str = OWNED_PROXY_MIN_DURATION, latency: str = "10ms", monitor: dict[str, Any] | None = None,
                           description: str = "", **spec: Any) -> str:
    """One delay (fault ``slow``) through a run-owned fault proxy (:func:`owned_proxy`), these SLOs
    polled every 250 ms from ``prometheus`` (``monitor``: further monitor fields), further ``spec`` keys."""
    return host_experiment(name, [delay("slow", owned_proxy(port), duration, latency)], description, slos=slos,
                           **spec, monitor={"prometheus": prometheus, "interval": "250ms", **(monitor or {})})
