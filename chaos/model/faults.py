"""Fault types of the experiment format, one class per ``type`` (a discriminated union).

Each class carries exactly the fields its type accepts, with the ranges Chaos Mesh enforces
(percentages 0-100, workers <= 8192, bounded durations), so a file that validates here
compiles to objects the Chaos Mesh CRDs accept. Pure values; used by loading, compiling
(Kubernetes and host) and the run engine.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from chaos.model.base import DnsLabel, Duration, Model, PublicUrl
from chaos.model.durations import parse_duration

Mode = Literal["one", "all", "fixed", "fixed-percent", "random-max-percent"]
Direction = Literal["to", "from", "both"]
Percent = Annotated[float, Field(ge=0, le=100)]

MAX_FAULT_DURATION_S = 24 * 3600.0
"""No fault may be longer than a day: every fault is bounded, 'forever' is refused."""

BANDWIDTH_RATE_PATTERN = r"^[0-9]+(\.[0-9]+)?(bps|kbps|mbps|gbps|tbps)$"
_ASCII_DIGITS_RE = re.compile(r"^[0-9]+$")
"""``str.isdigit`` accepts ``²`` and ``٣``; Chaos Mesh wants ASCII digits."""


class ProxySelector(Model):
    """Host target: traffic through a fault proxy ``listen → upstream``.

    With ``admin`` set, the proxy already runs (e.g. the demo's) and is driven over its
    authenticated admin endpoint; without it, the run starts its own proxy for its duration.
    """

    listen: str
    """Address the proxy listens on, ``host:port`` (loopback)."""
    upstream: str
    """Upstream address ``host:port``, or the name of an upstream of an existing proxy."""
    admin: PublicUrl | None = None
    """Admin endpoint URL of an already running proxy (``http://127.0.0.1:PORT``)."""
    token_env: str | None = None
    """Environment variable holding the admin token."""
    token_file: str | None = None
    """File holding the admin token."""
    http: bool = False
    """Proxy speaks HTTP/1.1 (needed for http-abort / http-delay)."""

    @field_validator("listen")
    @classmethod
    def _loopback_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not _ASCII_DIGITS_RE.match(port):
            raise ValueError(f"{value!r} is not host:port")
        if not (host.startswith("127.") or host in ("localhost", "[::1]")):
            raise ValueError(f"{value!r}: the fault proxy only listens on loopback (127.0.0.0/8)")
        return value


class Selector(Model):
    """Which targets a fault reaches.

    Kubernetes: namespaces (default: ``spec.target.namespace``), labels, fields, pods.
    Host: ``proxy``, or a ``port`` (with optional ``address``/``interface``/``netns``) for kernel rules.
    """

    namespaces: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    pods: dict[str, list[str]] = Field(default_factory=dict)
    """Explicit pods: ``{namespace: [pod names]}``."""
    proxy: ProxySelector | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    address: str | None = None
    """Host: destination address of kernel rules (default: any)."""
    interface: str | None = None
    """Host: network interface for ``tc`` faults (bandwidth)."""
    netns: str | None = None
    """Host: run kernel rules inside this network namespace."""
    protocol: Literal["tcp", "udp"] = "tcp"

    def is_kubernetes(self) -> bool:
        return self.proxy is None and self.port is None and self.interface is None


class PeerSelector(Model):
    """The other side of a network fault (NetworkChaos ``target``)."""

    namespaces: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    mode: Mode = "all"
    value: str = ""
    external_targets: list[str] = Field(default_factory=list)
    """IPs or hostnames outside the cluster (NetworkChaos ``externalTargets``)."""


class FaultBase(Model):
    """Fields every fault has."""

    name: DnsLabel
    description: str = ""
    selector: Selector = Field(default_factory=Selector)
    mode: Mode = "one"
    value: str = ""
    """Count (``fixed``) or percent (``fixed-percent``, ``random-max-percent``)."""
    duration: Duration
    """Always bounded; enforced server-side (Chaos Mesh ``spec.duration``, proxy deadline, watchdog)."""

    @field_validator("value", mode="before")
    @classmethod
    def _value_to_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("duration")
    @classmethod
    def _bounded(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("a fault needs a positive duration (faults are always bounded)")
        if seconds > MAX_FAULT_DURATION_S:
            raise ValueError(f"{value!r} is longer than the 24h limit for one fault")
        return value

    @model_validator(mode="after")
    def _mode_value(self) -> FaultBase:
        _check_mode_value(self.mode, self.value)
        return self

    @property
    def duration_s(self) -> float:
        return parse_duration(self.duration)


def _check_mode_value(mode: str, value: str) -> None:
    if mode in ("fixed", "fixed-percent", "random-max-percent"):
        if value == "":
            raise ValueError(f"mode {mode!r} needs 'value' (a count for fixed, a percent for *-percent)")
        if not _ASCII_DIGITS_RE.match(value):
            raise ValueError(f"value {value!r} must be a whole number for mode {mode!r}")
        number = int(value)
        if mode == "fixed" and number < 1:
            raise ValueError("value must be >= 1 for mode 'fixed'")
        if mode != "fixed" and not 0 < number <= 100:
            raise ValueError(f"value must be a percent in 1..100 for mode {mode!r}")
    elif value != "":
        raise ValueError(f"'value' is only used with fixed/fixed-percent/random-max-percent, not {mode!r}")


class NetworkFault(FaultBase):
    direction: Direction = "to"
    peer: PeerSelector | None = None
    device: str | None = None
    """Network device inside the pod (NetworkChaos ``device``)."""

    @model_validator(mode="after")
    def _peer_mode(self) -> NetworkFault:
        if self.peer is not None:
            _check_mode_value(self.peer.mode, self.peer.value)
        if self.direction in ("from", "both") and self.peer is None:
            raise ValueError(f"direction {self.direction!r} needs a 'peer' (Chaos Mesh requires a target)")
        return self


class NetworkDelay(NetworkFault):
    type: Literal["network-delay"]
    latency: Duration
    jitter: Duration = "0ms"
    correlation: Percent = 0


class NetworkLoss(NetworkFault):
    type: Literal["network-loss"]
    percent: Percent
    correlation: Percent = 0


class NetworkPartition(NetworkFault):
    type: Literal["network-partition"]


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


class NetworkDuplicate(NetworkFault):
    type: Literal["network-duplicate"]
    percent: Percent
    correlation: Percent = 0


class NetworkCorrupt(NetworkFault):
    type: Literal["network-corrupt"]
    percent: Percent
    correlation: Percent = 0


class HttpFault(FaultBase):
    port: int = Field(default=80, ge=1, le=65535)
    """Kubernetes: the port the target pods serve HTTP on (HTTPChaos ``port``)."""
    method: str | None = None
    path: str | None = None
    """Path match (prefix on the host proxy; HTTPChaos path on Kubernetes)."""
    percent: Percent = 100
    """Share of matching requests affected (host proxy; Kubernetes supports only 100)."""


class HttpAbort(HttpFault):
    type: Literal["http-abort"]
    code: int | None = Field(default=None, ge=100, le=599)
    """Status code to answer with; without it the connection is aborted."""


class HttpDelay(HttpFault):
    type: Literal["http-delay"]
    delay: Duration


class PodKill(FaultBase):
    type: Literal["pod-kill"]
    grace_period: int = Field(default=0, ge=0)


class PodFailure(FaultBase):
    type: Literal["pod-failure"]


class ContainerKill(FaultBase):
    type: Literal["container-kill"]
    container_names: list[str] = Field(min_length=1)


class CpuStress(FaultBase):
    type: Literal["cpu-stress"]
    workers: int = Field(default=1, ge=1, le=8192)
    load: int = Field(default=100, ge=0, le=100)


class MemoryStress(FaultBase):
    type: Literal["memory-stress"]
    workers: int = Field(default=1, ge=1, le=8192)
    size: Annotated[str, Field(pattern=r"^[0-9]+(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)?$")] = "256MB"


class RawChaosMesh(FaultBase):
    type: Literal["chaos-mesh"]
    manifest: dict[str, Any]
    """A raw Chaos Mesh object; passed through after validation, with our labels and duration."""


Fault = Annotated[
    NetworkDelay | NetworkLoss | NetworkPartition | NetworkBandwidth | NetworkDuplicate | NetworkCorrupt
    | HttpAbort | HttpDelay | PodKill | PodFailure | ContainerKill | CpuStress | MemoryStress | RawChaosMesh,
    Field(discriminator="type"),
]

FAULT_TYPES: tuple[str, ...] = (
    "network-delay", "network-loss", "network-partition", "network-bandwidth", "network-duplicate",
    "network-corrupt", "http-abort", "http-delay", "pod-kill", "pod-failure", "container-kill",
    "cpu-stress", "memory-stress", "chaos-mesh",
)
