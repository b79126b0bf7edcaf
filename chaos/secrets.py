"""Secrets: values that reach Aftershock through the environment, a file or a URL's userinfo.

A :class:`Secret` is typed as such from the moment it is read: the loader wraps every template
value that reads ``env`` (directly or through a parameter), the Prometheus client wraps tokens and
passwords it reads from env/files, and URLs are split into a public part and secret userinfo
(:func:`split_userinfo`). A secret renders as ``***`` in ``str``/``repr``/f-strings/pydantic dumps;
only :meth:`Secret.reveal` gives the value, and only the clients that send it call it (the
Prometheus session, the degrade/notify HTTP actuator).

A secret may carry a *recipe*: the template it was rendered from, as written (``Bearer {{ env.X }}``)
plus the parameters it needs. The state store keeps recipes, never values, so ``aftershock recover``
re-renders a header from its own environment (:func:`to_record` / ``chaos.loading.from_record``).

Last line of defence: every secret value seen by this process is remembered, and :func:`scrub`
replaces them (and any ``user:password@`` in a URL) in a text at the boundaries — CLI error
messages, events, journals, state-store rows, JUnit. Pure: no I/O. Callers: ``chaos.loading``,
``chaos.model``, ``chaos.clients.prometheus``, ``chaos.clients.http``, ``chaos.cli``, the state store.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

MASK = "***"
MIN_SCRUB_LEN = 6
"""Shorter values are not scrubbed from free text (``***``-ing every ``prod`` would garble it); they
still never leave a :class:`Secret` unmasked."""

_known: set[str] = set()
_known_lock = threading.Lock()
_URL_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(\S*)")
"""A URL in free text: scheme and ``//``, then everything up to whitespace."""
_HOSTPORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\[\]:@/?#]*)(:[0-9]*)?$")
"""RFC 3986 ``host [ ":" port ]``: an IP literal in brackets or a name without ``:`` or ``@``, then
digits only after the colon."""
_QUERY_TOKEN_RE = re.compile(
    r"(?i)([?&;][^=&#;\s]*(?:token|key|secret|passw|pwd|sig|auth|credential|session)[^=&#;\s]*=)[^&#;\s]*")
"""A query parameter whose name says it carries a credential (``?access_token=…``, ``&sig=…``)."""
_SECRET_KEY = "$secret"


def remember(value: str) -> None:
    """Add ``value`` to the values :func:`scrub` removes (done by :class:`Secret` itself)."""
    if len(value) >= MIN_SCRUB_LEN:
        with _known_lock:
            _known.add(value)
            stripped = value.strip()
            if len(stripped) >= MIN_SCRUB_LEN:
                _known.add(stripped)


def scrub(text: str) -> str:
    """``text`` without any secret value this process has seen, without URL userinfo (per RFC 3986,
    and up to the last ``@`` when a ``/``, ``?`` or ``#`` in a password made the authority invalid)
    and without the values of query parameters named like credentials."""
    if not text:
        return text
    if "://" in text:
        text = _URL_RE.sub(lambda m: m.group(1) + _scrub_url_rest(m.group(2)), text)
    if "=" in text:  # request targets without a scheme too (an access log's "POST /hook?token=…")
        text = _QUERY_TOKEN_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    with _known_lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_data(data: Any) -> Any:
    """:func:`scrub` over every string of a JSON-like structure (keys included); secrets → ``***``."""
    if isinstance(data, Secret):
        return str(data)
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, Mapping):
        return {scrub(str(k)): scrub_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v) for v in data]
    return data


class Secret:
    """A value that must never be shown. ``str(s)`` is ``***`` (or the public form of a URL)."""

    __slots__ = ("_parts", "_shown", "_value", "recipe")

    def __init__(self, value: str, *, shown: str = MASK, recipe: Mapping[str, Any] | None = None,
                 parts: tuple[str, ...] = (), keep: bool = True) -> None:
        self._value = value
        self._shown = shown
        self._parts = parts
        self.recipe = dict(recipe) if recipe is not None else None
        if keep:
            self.keep()

    def keep(self) -> None:
        """Scrub this value (and the environment values it was made of) from every text from now on.
        The loader defers it until the value lands in a secret field: an address read from the
        environment is used as text, not scrubbed."""
        remember(self._value)
        for part in self._parts:
            remember(part)

    @property
    def parts(self) -> tuple[str, ...]:
        return self._parts

    def with_parts(self, parts: tuple[str, ...]) -> Secret:
        return Secret(self._value, shown=self._shown, recipe=self.recipe, parts=(*self._parts, *parts), keep=False)

    def reveal(self) -> str:
        """The value. Call it only where the value is sent (an HTTP header, a request's auth)."""
        return self._value

    def __str__(self) -> str:
        return self._shown

    def __repr__(self) -> str:
        return f"Secret({self._shown!r})"

    def __format__(self, spec: str) -> str:
        return format(self._shown, spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _to_secret, serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"))


def _to_secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        value.keep()
        return value
    if isinstance(value, str):
        # a literal written in the file: masked wherever it is shown, but not scrubbed from free text
        # (``Content-Type: application/json`` must not garble every "application/json")
        return Secret(value.strip(), recipe={"template": value}, keep=False)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def mask(text: str, values: tuple[str, ...] | list[str]) -> str:
    """``text`` with each of ``values`` (at least :data:`MIN_SCRUB_LEN` long) replaced by ``***``."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= MIN_SCRUB_LEN:
            text = text.replace(value, MASK)
    return text


def reveal(value: str | Secret) -> str:
    """The value of a secret, or a plain string as it is (for call sites that take both)."""
    return value.reveal() if isinstance(value, Secret) else value


class BadAuthority(ValueError):
    """A URL whose authority (RFC 3986 §3.2) is not ``[userinfo@]host[:port]``. The message never holds
    the URL: an unencoded ``/``, ``?`` or ``#`` in a password ends the authority early, so the rest of the
    password would be shown as the path."""


def _authority_end(rest: str) -> int:
    """Where the authority of ``rest`` (a URL after ``scheme://``) ends: the first ``/``, ``?`` or ``#``."""
    ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    return min(ends) if ends else len(rest)


def split_authority(rest: str) -> tuple[str | None, str, str]:
    """``(userinfo, host[:port], path-and-after)`` of ``rest``, a URL after ``scheme://``, per RFC 3986:
    the authority ends at the first ``/``, ``?`` or ``#``; userinfo is everything before the authority's
    last ``@``. Raises :class:`BadAuthority` when that cannot be what was meant: ``host[:port]`` is not
    one (``bob:hun/ter2@host`` reads as host ``bob``, port ``hun``), or an ``@`` follows in the path, or
    after userinfo anywhere (``bob:p@ss/w?r#d@host``: a password holding ``/``, ``?`` or ``#``)."""
    end = _authority_end(rest)
    authority, after = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    path = after[:_authority_end(after[1:]) + 1] if after.startswith("/") else ""
    if not _HOSTPORT_RE.match(hostport) or "@" in path or (at and "@" in after):
        raise BadAuthority("the URL's authority is not [user:password@]host[:port]; a '/', '?', '#' or '@' "
                           "in a user name or password must be percent-encoded (%2F, %3F, %23, %40), or "
                           "better, the credential passed from the environment")
    return (userinfo if at else None), hostport, after


def _scrub_url_rest(rest: str) -> str:
    """A URL after ``scheme://`` as it may be shown: userinfo masked, credential query values masked."""
    try:
        userinfo, hostport, after = split_authority(rest)
    except BadAuthority:
        at = rest.rfind("@")
        userinfo, after = (MASK, rest[at + 1:]) if at >= 0 else (None, rest)
        hostport = ""
    return (f"{MASK}@{hostport}" if userinfo is not None else hostport) + after


def split_userinfo(url: str) -> tuple[str, Secret | None]:
    """``http://bob:pw@host/x`` → (``http://host/x``, Secret(``bob:pw``)); no userinfo → (url, None).

    RFC 3986 exactly (:func:`split_authority`); a URL whose authority is not ``host[:port]`` raises
    :class:`BadAuthority` (a ``ValueError``), whose message does not hold the URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return url, None
    userinfo, hostport, after = split_authority(rest)
    if userinfo is None:
        return url, None
    return f"{scheme}://{hostport}{after}", Secret(userinfo)


def to_record(data: Any) -> Any:
    """A JSON-able copy of ``data`` for the state store: each secret becomes its recipe (how to
    obtain it again: the template as written), never its value; one without a recipe becomes ``***``."""
    if isinstance(data, Secret):
        return {_SECRET_KEY: data.recipe} if data.recipe is not None else MASK
    if isinstance(data, Mapping):
        return {str(k): to_record(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [to_record(v) for v in data]
    return data


def is_recorded_secret(data: Any) -> bool:
    return isinstance(data, Mapping) and set(data) == {_SECRET_KEY}


def recorded_recipe(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    recipe = data.get(_SECRET_KEY)
    return recipe if isinstance(recipe, Mapping) else None


class ScrubbingFilter(logging.Filter):
    """A log filter that passes every record through :func:`scrub` (its message rendered first): URL
    userinfo, credential query values and every known secret become ``***``. Installed on the handlers
    of long-running commands (``gameday serve``), whose libraries log URLs (httpx logs each request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def quiet_http_logs() -> None:
    """Log handlers of the root logger scrub what they write; httpx and httpcore (a line per request,
    with its full URL) log warnings only."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
