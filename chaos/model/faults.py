"""What fault types share: selectors, :class:`FaultBase` and the network and HTTP bases.

Each fault type is one kind module (``chaos.faults.<name>``, or a plugin's) holding its class; the
model's discriminated union ``Fault`` is built from the kinds registry (``chaos.model.experiment``).
Each class carries exactly the fields its type accepts, with the ranges Chaos Mesh enforces
(percentages 0-100, workers <= 8192, single-unit netem durations, integer bandwidth rates,
memory sizes as Chaos Mesh parses them), so a file that validates here compiles to objects
the Chaos Mesh CRDs and webhooks accept; tests/kube/test_differential.py checks that claim
against Chaos Mesh's own code and the real API server. Pure values; used by loading,
compiling (Kubernetes and host) and the run engine.
"""

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from chaos.model.base import DnsLabel, Duration, Model, PublicUrl
from chaos.model.durations import parse_duration

Mode = Literal["one", "all", "fixed", "fixed-percent", "random-max-percent"]
Direction = Literal["to", "from", "both"]
Percent = Annotated[float, Field(ge=0, le=100)]

MAX_FAULT_DURATION_S = 24 * 3600.0
"""No fault may be longer than a day: every fault is bounded, 'forever' is refused."""

BANDWIDTH_RATE_PATTERN = r"^\s*[0-9]+\s*([kKmMgGtT]?([bB][iI][tT]|[bB][pP][sS]))\s*$"
"""Rates as Chaos Mesh's webhook parses them: an unsigned integer (``1.5mbps`` is refused) and a unit,
any case (bps, kbps, mbps, gbps, tbps, bit, kbit, mbit, gbit, tbit)."""
NETEM_DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$"
"""The NetworkChaos CRD pattern of ``delay.latency``/``jitter``: one number, one unit (no ``1m30s``, no ``µs``)."""
MEMORY_SIZE_PATTERN = r"^([0-9]+%|[0-9]+(\.[0-9]+)? ?([kKmMgGtTpP][iI]?[bB]?|[bB])?)$"
"""StressChaos ``memory.size``: a whole percent (checked <= 100) or a size such as ``256MB``/``1.5GiB``."""
_NETEM_DURATION_RE = re.compile(NETEM_DURATION_PATTERN)
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


def _check_netem_duration(text: str) -> str:
    if not _NETEM_DURATION_RE.match(text):
        raise ValueError(f"{text!r} is not a duration of one number and one unit (ns, us, ms, s, m, h) as "
                         "the NetworkChaos CRD wants for latency and jitter, e.g. 500ms or 90s (not 1m30s)")
    return text


NetemDuration = Annotated[str, AfterValidator(_check_netem_duration)]
OptionalNetemDuration = Annotated[str, BeforeValidator(lambda v: "0ms" if v == "" else v),
                                  AfterValidator(_check_netem_duration)]
"""An optional netem time: an empty string is no value, as Chaos Mesh's defaulting webhook drops it."""


class LabelRequirement(Model):
    """One ``matchExpressions`` entry (Chaos Mesh ``expressionSelectors``)."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default=[])

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class Selector(Model):
    """Which targets a fault reaches.

    Kubernetes: namespaces (default: ``spec.target.namespace``), labels, expressions, fields,
    annotations, node selectors, pods.
    Host: ``proxy``, or a ``port`` (with optional ``address``/``interface``/``netns``) for kernel rules.
    """

    namespaces: list[str] | None = None
    labels: dict[str, str] = Field(default={})
    expressions: list[LabelRequirement] = Field(default=[])
    """Label requirements (Chaos Mesh ``expressionSelectors``)."""
    fields: dict[str, str] = Field(default={})
    annotations: dict[str, str] = Field(default={})
    node_selectors: dict[str, str] = Field(default={})
    """Labels of the nodes the pods run on (Chaos Mesh ``nodeSelectors``)."""
    pods: dict[str, list[str]] = Field(default={})
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
    labels: dict[str, str] = Field(default={})
    fields: dict[str, str] = Field(default={})
    mode: Mode = "all"
    value: str = ""
    external_targets: list[str] = Field(default=[])
    """IPs or hostnames outside the cluster (NetworkChaos ``externalTargets``)."""


class FaultBase(Model):
    """Fields every fault has. Each fault kind (``chaos.faults.*``, or a plugin's) subclasses it with
    ``type: Literal["<its name>"]`` and its own fields; the model's union is built from the registry."""

    if TYPE_CHECKING:
        type: str

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
    def _mode_value(self) -> Self:
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
    def _peer_mode(self) -> Self:
        if self.peer is not None:
            _check_mode_value(self.peer.mode, self.peer.value)
        if self.direction in ("from", "both"):
            pods = self.peer is not None and bool(self.peer.labels or self.peer.fields or self.peer.namespaces)
            external = self.peer is not None and bool(self.peer.external_targets)
            partition = getattr(self, "type", None) == "network-partition"
            if partition and not (pods or external):
                raise ValueError(f"direction {self.direction!r} needs a 'peer' (pods or externalTargets)")
            if not partition:
                if not pods:
                    raise ValueError(f"direction {self.direction!r} needs a 'peer' selecting pods "
                                     "(Chaos Mesh requires a target)")
                if external:
                    raise ValueError(f"peer.externalTargets cannot be used with direction {self.direction!r} "
                                     "except by network-partition (Chaos Mesh's rule for netem actions)")
        return self


class Reorder(Model):
    """netem reorder: send ``percent`` of packets immediately, the rest delayed by ``latency``."""

    percent: Percent
    correlation: Percent = 0
    gap: int = Field(default=0, ge=0)
    """Reorder every ``gap``-th packet (0: tc's default)."""


HttpMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"]


class HttpTls(Model):
    """Kubernetes: the Secret holding the certificate HTTPChaos uses to intercept HTTPS (HTTPChaos ``tls``)."""

    secret_name: str = Field(min_length=1)
    secret_namespace: str = Field(min_length=1)
    cert_name: str = Field(min_length=1)
    """Key of the certificate in the Secret."""
    key_name: str = Field(min_length=1)
    """Key of the private key in the Secret."""
    ca_name: str | None = None


class HttpFault(FaultBase):
    port: int = Field(default=80, ge=1, le=65535)
    """Kubernetes: the port the target pods serve HTTP on (HTTPChaos ``port``)."""
    method: HttpMethod | None = None
    path: str | None = None
    """Path match (prefix on the host proxy; HTTPChaos path on Kubernetes)."""
    request_headers: dict[str, str] = Field(default={})
    """Kubernetes: only requests carrying these headers (HTTPChaos ``request_headers``)."""
    tls: HttpTls | None = None
    percent: Percent = 100
    """Share of matching requests affected (host proxy; Kubernetes supports only 100)."""
