"""``http-delay``: requests delayed before they are forwarded (Kubernetes: HTTPChaos ``delay``; host:
the fault proxy in HTTP mode). Shrinks by latency (the delay), percent (host), mode/value."""

from typing import Any, Literal

from chaos.faults.common import http_rendering, request_match, where
from chaos.model.base import Duration
from chaos.model.durations import parse_duration
from chaos.model.faults import HttpFault
from chaos.model.kinds import FaultKind, HostRealisation


class HttpDelay(HttpFault):
    type: Literal["http-delay"]
    delay: Duration


def _proxy(fault: HttpDelay) -> dict[str, Any]:
    return {"kind": "http-delay", "delay_ms": parse_duration(fault.delay) * 1000, **request_match(fault)}


KIND = FaultKind(
    name="http-delay", model=HttpDelay, words="HTTP delay",
    describe=lambda f: f"delay {f.delay} for {f.percent:g}% of requests{where(f)}",
    kube=http_rendering(), host=HostRealisation(proxy=_proxy),
    shrinkable=frozenset({"percent", "latency", "mode", "value"}),
)
