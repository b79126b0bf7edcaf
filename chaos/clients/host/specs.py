"""Value types of the fault proxy: what a fault is and where traffic goes.

:class:`ProxyFault` is what the compiler produces from an experiment fault on a host target and what
the proxy (:mod:`.proxy`), its admin endpoint (:mod:`.admin`) and its admin client exchange (as JSON via
:meth:`ProxyFault.to_dict` / :meth:`ProxyFault.from_dict`). :class:`Upstream` is one proxied backend.
Pure values, no I/O.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any, Literal, get_args

from chaos.errors import InvalidInput, Problem

FaultKind = Literal["latency", "bandwidth", "reset", "loss", "partition", "http-abort", "http-delay"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
HTTP_KINDS = frozenset({"http-abort", "http-delay"})
Direction = Literal["to", "from", "both"]
"""``to``: client → upstream (requests); ``from``: upstream → client (responses); ``both``."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _problem(path: str, message: str, hint: str = "") -> InvalidInput:
    return InvalidInput(Problem(message=message, path=path, hint=hint))


@dataclass(frozen=True, kw_only=True)
class ProxyFault:
    """One fault injected into the proxy, removed by the proxy itself at ``deadline``.

    Which parameters matter depends on ``kind``:

    - ``latency``: ``latency_ms``, ``jitter_ms``, ``correlation`` (0-100, like netem), ``direction``
    - ``bandwidth``: ``rate_bytes_per_s`` (per connection and direction)
    - ``reset``: ``percent`` of connections (and of later chunks) get a TCP RST
    - ``loss``: ``percent`` of connections (and of later chunks) are dropped (closed)
    - ``partition``: connections are refused (closed at once)
    - ``http-abort``: ``code``, ``percent``, ``method``, ``path_prefix``, ``retry_after_s`` (HTTP mode only;
      a ``Retry-After`` header with the answer when > 0, as a throttling API server sends with 429/503)
    - ``http-delay``: ``delay_ms``, ``percent``, ``method``, ``path_prefix`` (HTTP mode only)

    ``upstream`` restricts any kind to one upstream name ("" = all).
    """

    id: str
    run_id: str
    kind: FaultKind
    deadline: float
    """Absolute wall-clock deadline, epoch seconds."""
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    correlation: float = 0.0
    direction: Direction = "to"
    rate_bytes_per_s: int = 0
    percent: float = 100.0
    code: int = 503
    delay_ms: float = 0.0
    upstream: str = ""
    method: str = ""
    path_prefix: str = ""
    retry_after_s: int = 0

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str, str]] = [
            (bool(_NAME.match(self.id)), "id", "must be a name of letters, digits, '.', '_' or '-'"),
            (bool(_NAME.match(self.run_id)), "run_id", "must be a name of letters, digits, '.', '_' or '-'"),
            (self.kind in FAULT_KINDS, "kind", f"must be one of {', '.join(FAULT_KINDS)}"),
            (self.deadline > 0, "deadline", "must be an absolute epoch time in seconds"),
            (self.latency_ms >= 0, "latency_ms", "must be >= 0"),
            (self.jitter_ms >= 0, "jitter_ms", "must be >= 0"),
            (0 <= self.correlation <= 100, "correlation", "must be within 0-100"),
            (self.direction in ("to", "from", "both"), "direction", "must be to, from or both"),
            (self.rate_bytes_per_s >= 0, "rate_bytes_per_s", "must be >= 0"),
            (self.kind != "bandwidth" or self.rate_bytes_per_s > 0, "rate_bytes_per_s",
             "must be > 0 for a bandwidth fault"),
            (0 <= self.percent <= 100, "percent", "must be within 0-100"),
            (100 <= self.code <= 599, "code", "must be an HTTP status code (100-599)"),
            (self.delay_ms >= 0, "delay_ms", "must be >= 0"),
            (0 <= self.retry_after_s <= 3600, "retry_after_s", "must be whole seconds within 0-3600"),
            (not self.path_prefix or self.path_prefix.startswith("/"), "path_prefix", "must start with '/'"),
        ]
        problems = [Problem(message=f"{msg} (got {getattr(self, field)!r})", path=field)
                    for ok, field, msg in checks if not ok]
        if problems:
            raise InvalidInput(problems)

    @property
    def is_http(self) -> bool:
        return self.kind in HTTP_KINDS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ProxyFault:
        """Build from JSON; unknown fields and wrong types are refused as :class:`InvalidInput`."""
        if not isinstance(data, dict):
            raise _problem("", "a fault must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise _problem(unknown[0], "unknown field", hint=f"known: {', '.join(sorted(fields))}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = fields[name].default
            if isinstance(default, bool) or isinstance(value, bool):
                raise _problem(name, "booleans are not accepted here")
            if isinstance(default, float) or name == "deadline":
                if not isinstance(value, int | float):
                    raise _problem(name, f"must be a number (got {value!r})")
                if not math.isfinite(value):
                    raise _problem(name, f"must be a finite number (got {value!r}): every fault is bounded")
                values[name] = float(value)
            elif isinstance(default, int):
                if not isinstance(value, int):
                    raise _problem(name, f"must be an integer (got {value!r})")
                values[name] = value
            else:
                if not isinstance(value, str):
                    raise _problem(name, f"must be a string (got {value!r})")
                values[name] = value
        for required in ("id", "run_id", "kind", "deadline"):
            if required not in values:
                raise _problem(required, "is required")
        return cls(**values)

    def replace(self, **changes: Any) -> ProxyFault:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Upstream:
    """A proxied backend. Non-backup upstreams share traffic by ``weight`` (percent); backups share
    the remainder ``100 - sum(non-backup weights)``.

    ``ssl`` (optional) makes the proxy re-originate TLS to this upstream with that client context
    (trusted CA, optional client certificate); ``server_hostname`` is the name checked against the
    upstream's certificate (default: ``host``)."""

    name: str
    host: str
    port: int
    weight: int = 100
    backup: bool = False
    ssl: SSLContext | None = field(default=None, compare=False, repr=False)
    server_hostname: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise _problem("upstream.name", f"invalid upstream name {self.name!r}")
        if not 0 < self.port < 65536:
            raise _problem("upstream.port", f"invalid port {self.port}")
        if not 0 <= self.weight <= 100:
            raise _problem("upstream.weight", f"weight must be within 0-100 (got {self.weight})")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Upstream:
        """Parse ``name=host:port[,weight=N][,backup]`` (the proxy's ``--upstream`` flag)."""
        head, _, rest = text.partition(",")
        name, eq, address = head.partition("=")
        if not eq:
            raise _problem("--upstream", f"expected name=host:port[,weight=N][,backup], got {text!r}")
        host, port = split_address(address, "--upstream")
        weight, backup = 100, False
        for option in filter(None, rest.split(",")):
            key, _, value = option.partition("=")
            if key == "backup" and not value:
                backup = True
            elif key == "weight" and value.isdigit():
                weight = int(value)
            else:
                raise _problem("--upstream", f"unknown option {option!r} in {text!r}",
                               hint="options are weight=N and backup")
        return cls(name=name, host=host, port=port, weight=weight, backup=backup)


def split_address(text: str, path: str = "address") -> tuple[str, int]:
    """``host:port`` → ``(host, port)``; port 0 is allowed (pick a free one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise _problem(path, f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)
