"""Shared pydantic base and constrained types for the experiment model.

Every model class forbids unknown keys (so typos are reported with a "did you mean"), is
frozen (values, not objects with identity) and accepts both the camelCase names of the file
format and the snake_case attribute names. Pure: no I/O.
"""

import ipaddress
import re
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict

from chaos.model.durations import parse_duration, parse_window
from chaos.secrets import Secret, split_userinfo

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_window(text: str) -> str:
    parse_window(text)
    return text


def _check_dns_label(text: str) -> str:
    if len(text) > 63 or not DNS_LABEL_RE.match(text):
        raise ValueError(
            f"{text!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


def check_cron(value: str) -> str:
    """A 5-field cron expression that fires at least once (``0 0 30 2 *`` never does: no 30 February)."""
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (5 fields: minute hour day month weekday)")
    try:
        croniter(value, datetime(2001, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron {value!r} never fires: no date matches it (e.g. 30 February or 31 April)") from None
    return value


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, IPv6 with or without brackets) is this machine's
    loopback: ``localhost`` or an address in 127.0.0.0/8 or ::1 (an IPv4-mapped ``::ffff:127.x`` too).
    A real address check: ``127.0.0.1.evil.example`` is a name, not loopback."""
    if host.lower() in ("localhost", "localhost."):
        return True
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_admin_url(url: str | None, remote: bool, field: str) -> None:
    """An admin endpoint gets the admin token: loopback, unless the file says ``remoteAdmin: true``
    explicitly, and then only over https (its certificate is verified)."""
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field}: {url!r} is not an http(s) URL with a host")
    if remote:
        if parts.scheme != "https":
            raise ValueError(f"{field}: a remote admin endpoint (remoteAdmin: true) must use https: the admin "
                             "token is sent to it")
        return
    if not is_loopback_host(parts.hostname):
        raise ValueError(f"{field}: {parts.hostname!r} is not loopback (127.0.0.0/8, ::1, localhost); the admin "
                         "token would be sent there. Set remoteAdmin: true (https only) if that host is meant")


def _check_no_userinfo(text: str) -> str:
    if split_userinfo(text)[1] is not None:
        raise ValueError("a URL here may not carry credentials (user:password@): they would be stored and "
                         "shown with it; send them in a header from the environment instead, e.g. "
                         "headers: {Authorization: \"Bearer {{ env.TOKEN }}\"}")
    return text


PublicUrl = Annotated[str, AfterValidator(_check_no_userinfo)]
"""A URL that is stored and shown as written, so it may not hold credentials."""

SecretHeaders = dict[str, Secret]
"""HTTP header values: secrets (``***`` in every dump; revealed only by the client that sends them)."""

Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration string such as ``500ms``; validated, kept as text (Chaos Mesh wants the text)."""

Window = Annotated[str, AfterValidator(_check_window)]
"""A window or schedule duration: ``Duration``'s units plus ``d``, ``w``, ``y`` (``30d``)."""

DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
"""A Kubernetes DNS-1123 label (names of experiments, faults, SLOs, policies)."""


def _to_camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


class Model(BaseModel):
    """Base of every model class: strict keys, immutable, camelCase aliases."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=_to_camel,
        str_strip_whitespace=True,
        defer_build=True,
    )
