"""``network-delay``: latency (and jitter, correlation, reorder) on a network path.

Kubernetes: NetworkChaos action ``delay``. Host: the fault proxy's latency (this kernel path has no
netem: tc netem is not used). Shrinks by latency, jitter, mode, value.
"""

from collections.abc import Mapping
from typing import Any, Literal

from chaos.faults.common import network_rendering, number_text, where
from chaos.model.durations import parse_duration
from chaos.model.faults import NetemDuration, NetworkFault, OptionalNetemDuration, Percent, Reorder
from chaos.model.kinds import FaultKind, HostRealisation


class NetworkDelay(NetworkFault):
    type: Literal["network-delay"]
    latency: NetemDuration
    jitter: OptionalNetemDuration = "0ms"
    correlation: Percent = 0
    reorder: Reorder | None = None


def _template(fault: NetworkDelay) -> dict[str, Any]:
    reorder = fault.reorder
    return {"reorder": None if reorder is None else {
        "reorder": number_text(reorder.percent), "correlation": number_text(reorder.correlation), "gap": reorder.gap}}


def _shrink(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from chaos.faults.common import mode_value_patch

    patch = mode_value_patch(spec, params)
    if "delay" in spec:
        delay = dict(spec["delay"])
        for key in ("latency", "jitter"):
            if params.get(key) is not None:
                delay[key] = str(params[key])
        if delay != spec["delay"]:
            patch["delay"] = delay
    return patch


def _proxy(fault: NetworkDelay) -> dict[str, Any]:
    return {"kind": "latency", "latency_ms": parse_duration(fault.latency) * 1000,
            "jitter_ms": parse_duration(fault.jitter) * 1000, "correlation": fault.correlation}


def _describe(fault: NetworkDelay) -> str:
    jitter = f" ± {fault.jitter}" if parse_duration(fault.jitter) else ""
    return f"latency {fault.latency}{jitter}{where(fault)}"


KIND = FaultKind(
    name="network-delay", model=NetworkDelay, words="network delay", describe=_describe,
    kube=network_rendering("delay", _template, _shrink),
    host=HostRealisation(proxy=_proxy, capabilities=("net_admin", "tc", "tc_netem")),
    shrinkable=frozenset({"latency", "jitter", "mode", "value"}),
)
