"""Checks before acting on a record read back from the state store: a record is data, never an instruction.

A fault record names the fault proxy's admin URL and where its token comes from; ``recover``,
``status`` and removal send that token to that URL. A record is data, not an instruction (a
forged one must not make Aftershock hand a token to a listener of someone else's), so a token read
for a record goes only to a listening socket on this host owned by the invoking user — or by root —
as the kernel reports it (``/proc/net/tcp``, ``/proc/net/tcp6``: the ``uid`` of each LISTEN
socket). :func:`check_admin` is that check. Likewise a recorded kubeconfig (which may run an
``exec`` credential plugin) is used only if it belongs to the invoking user (or root) and nobody
else can write it (:func:`check_kubeconfig`). A record that carries credential recipes for another
service (an Alertmanager silence's headers, an HTTP degrade's revert headers) has them read only for
a URL the user named outside the record — the one in :data:`CONFIGURED_URLS`' variables — or a
listener of ours on this host (:func:`check_credential_url`). Used by :mod:`chaos.targets.host`,
:mod:`chaos.targets.kubernetes`, :mod:`chaos.targets.undo` and ``aftershock status``.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from urllib.parse import urlsplit

from chaos.errors import RecordRefused, TargetUnreachable

_LISTEN = "0A"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _listeners(port: int) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, uid) of every socket listening on ``port`` in this network namespace."""
    out: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = []
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] != _LISTEN:
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
            out.append((ip, int(fields[7])))
    return out


def check_admin(url: str) -> None:
    """Allow sending a recorded credential to ``url`` only if it is a listener of ours on this host.

    Raises :class:`RecordRefused` (permanent) when the URL is not on this host or whoever listens
    there is another user, :class:`TargetUnreachable` when nothing listens (the proxy is gone)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RecordRefused(f"the recorded admin URL {url!r} has no valid port") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise RecordRefused(f"the recorded admin URL {url!r} is not an http(s) URL")
    try:
        local = host in _LOCAL_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise RecordRefused(f"the record names the admin endpoint {url}, not on this host: a token read for a "
                            "record is never sent off the host; remove that fault through its proxy by hand")
    listening = [(ip, uid) for ip, uid in _listeners(port) if ip.is_loopback or ip.is_unspecified
                 or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)]
    if not listening:
        raise TargetUnreachable(f"fault proxy admin at {url} unreachable (nothing listens on port {port})")
    me = os.geteuid()
    strangers = sorted({uid for _, uid in listening if uid not in (me, 0)})
    if strangers:
        raise RecordRefused(f"the admin endpoint {url} named by the record is a socket of uid "
                            f"{', '.join(map(str, strangers))}, not yours (uid {me}): no token is sent to it")


class AdminChecks:
    """:func:`check_admin` once per URL for one pass over many records (``recover`` of a hundred
    faults at one proxy reads the kernel's socket tables once, not a hundred times): a URL found to be
    a listener of ours stays trusted for that pass only, seconds, as between any check and its request.
    A refusal or an unreachable URL is never remembered."""

    def __init__(self) -> None:
        self._ours: set[str] = set()

    def check(self, url: str) -> None:
        if url not in self._ours:
            check_admin(url)
            self._ours.add(url)


CONFIGURED_URLS = ("AFTERSHOCK_ALERTMANAGER_URL",)
"""Variables naming services the user configured: a record's credentials may go to these URLs."""
ALLOWED_HOSTS = "AFTERSHOCK_ALLOW_CREDENTIALS_TO"
"""Comma-separated ``host`` or ``host:port`` a record's credentials may go to (``aftershock recover
--allow-credentials-to HOST``; the run sets it for its undo watchdog from the experiment it holds)."""


def host_key(url: str) -> str:
    """``host:port`` of ``url`` (the scheme's default port when none is written), lower case."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    return f"{(parts.hostname or '').lower()}:{port}"


def _allowed(url: str, environ: Mapping[str, str]) -> bool:
    key = host_key(url)
    for entry in (environ.get(ALLOWED_HOSTS) or "").split(","):
        entry = entry.strip().lower()
        if entry and (entry == key or (":" not in entry.strip("[]") and key.rsplit(":", 1)[0] == entry)):
            return True
    return False


def _same_service(a: str, b: str) -> bool:
    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip())
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
        return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")

    return key(a) == key(b)


def check_credential_url(url: str, environ: Mapping[str, str], what: str) -> None:
    """Allow reading the credentials a record names (header recipes) for ``url`` only if the user
    configured that URL (``AFTERSHOCK_ALERTMANAGER_URL``), allowed its host (:data:`ALLOWED_HOSTS`)
    or it is a listener of ours on this host.

    Raises :class:`RecordRefused` otherwise (nothing is sent), :class:`TargetUnreachable` when the
    local URL has no listener."""
    if any(environ.get(name) and _same_service(url, str(environ[name])) for name in CONFIGURED_URLS):
        return
    if _allowed(url, environ):
        return
    try:
        check_admin(url)
    except RecordRefused as exc:
        raise RecordRefused(f"the record sends credentials to {url} ({what}), which is neither a URL you configured "
                            f"({' or '.join(CONFIGURED_URLS)}), nor a host you allowed ({ALLOWED_HOSTS}, "
                            f"`aftershock recover --allow-credentials-to {host_key(url).rsplit(':', 1)[0]}`), nor a "
                            f"listener of yours on this host ({exc}): no credential is read for it; allow it if "
                            "it is yours, or act on it by hand") from None


def check_kubeconfig(path: str | None) -> None:
    """Allow a kubeconfig named by a record only if it is the user's (or root's) and nobody else can
    write it (its ``exec`` plugins run as us). None (the default kubeconfig) is the user's choice."""
    if not path:
        return
    try:
        info = os.stat(path)
    except OSError as exc:
        raise RecordRefused(f"the kubeconfig {path} named by the record cannot be read: {exc.strerror}") from exc
    me = os.geteuid()
    if info.st_uid not in (me, 0) or info.st_mode & 0o022 or not stat.S_ISREG(info.st_mode):
        raise RecordRefused(f"the kubeconfig {path} named by the record belongs to uid {info.st_uid} or is writable "
                            f"by others (mode {stat.S_IMODE(info.st_mode):o}): it is not used (its exec plugins "
                            "would run as you); remove the fault with a kubeconfig of your own")
