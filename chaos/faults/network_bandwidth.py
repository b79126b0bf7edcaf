"""``network-bandwidth``: a rate limit (Kubernetes: NetworkChaos ``bandwidth``; host: the fault proxy's
throttle, or tc tbf for an interface selector)."""

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from chaos.faults.common import network_rendering, where
from chaos.model.faults import BANDWIDTH_RATE_PATTERN, NetworkFault
from chaos.model.kinds import FaultKind, HostRealisation, KernelEffect

_RATE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(bps|kbps|mbps|gbps|tbps)$")
_RATE_BITS = {"bps": 1, "kbps": 1_000, "mbps": 1_000_000, "gbps": 1_000_000_000, "tbps": 1_000_000_000_000}


def rate_bytes_per_s(rate: str) -> int:
    """``1mbps`` → 125000 bytes/s (Chaos Mesh/tc rates are bits per second)."""
    match = _RATE_RE.match(rate)
    if not match:
        raise ValueError(f"bad rate {rate!r}")
    return max(1, int(float(match.group(1)) * _RATE_BITS[match.group(2)] / 8))


class NetworkBandwidth(NetworkFault):
    type: Literal["network-bandwidth"]
    rate: Annotated[str, Field(pattern=BANDWIDTH_RATE_PATTERN)]
    """e.g. ``1mbps`` (bps, kbps, mbps, gbps, tbps)."""
    limit: int = Field(default=20971520, ge=1)
    """Bytes that can be queued."""
    buffer: int = Field(default=10000, ge=1)
    """Maximum bytes sent at once (bucket size)."""
    peakrate: int | None = Field(default=None, ge=0)
    minburst: int | None = Field(default=None, ge=0)


def _template(fault: NetworkBandwidth) -> dict[str, Any]:
    out: dict[str, Any] = {"rate": fault.rate, "limit": fault.limit, "buffer": fault.buffer}
    if fault.peakrate is not None:
        out["peakrate"] = fault.peakrate
    if fault.minburst is not None:
        out["minburst"] = fault.minburst
    return {"bandwidth": out}


def _proxy(fault: NetworkBandwidth) -> dict[str, Any]:
    return {"kind": "bandwidth", "rate_bytes_per_s": rate_bytes_per_s(fault.rate)}


def _kernel(fault: NetworkBandwidth) -> KernelEffect | None:
    if fault.selector.interface is None:
        return None
    return KernelEffect(via="tc", params={"rate": fault.rate, "rate_bytes_per_s": rate_bytes_per_s(fault.rate),
                                          "limit": fault.limit, "buffer": fault.buffer},
                        description=f"{fault.rate}")


KIND = FaultKind(
    name="network-bandwidth", model=NetworkBandwidth, words="bandwidth limit",
    describe=lambda f: f"bandwidth {f.rate}{where(f)}",
    kube=network_rendering("bandwidth", _template),
    host=HostRealisation(proxy=_proxy, kernel=_kernel, capabilities=("net_admin", "tc", "tc_tbf")),
    shrinkable=frozenset({"mode", "value"}),
)
