"""HTTP/1.1 message framing for the fault proxy's HTTP mode, strict per RFC 9112.

Finds request and response boundaries on a keep-alive connection (head up to the blank line, body by
Content-Length, chunked encoding, or until close) and copies the raw bytes unchanged. Used by
:mod:`chaos.clients.host.sessions`; no message is re-serialised, so the proxy stays transparent.

Every request head is read by llhttp (``httptools``, the C parser uvicorn uses) before a byte of it is
forwarded, and a chunked request body is fed to the same parser piece by piece before each piece is
forwarded (:class:`RequestCheck`): what llhttp refuses — ``Content-Length: 5, 10``, repeated
Content-Length, whitespace before a colon, obs-fold, ``Transfer-Encoding`` together with
``Content-Length``, a transfer coding other than a final ``chunked``, bad chunk sizes, bare CR/LF —
is a :class:`MalformedMessage` (the proxy answers 400 and closes the connection). Response heads are
read by :func:`parse_head`, which refuses the same framing ambiguities (the proxy answers 502).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

import httptools

from chaos.clients.host.lanes import CHUNK

REASONS = {400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class Sink(Protocol):
    async def send(self, data: bytes) -> None: ...


class Discard:
    """A sink that drops what it gets (the body of an aborted request)."""

    async def send(self, data: bytes) -> None:
        return None


class MalformedMessage(Exception):
    """The peer sent something that is not HTTP/1.x framing we understand."""


@dataclass(frozen=True)
class Head:
    raw: bytes
    first: list[str]
    headers: dict[str, str]

    @property
    def wants_close(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if "close" in connection:
            return True
        return self.first[0] == "HTTP/1.0" or (len(self.first) > 2 and self.first[2] == "HTTP/1.0"
                                                and "keep-alive" not in connection)

    def framing(self) -> tuple[str, int]:
        """``("chunked", 0)``, ``("length", n)`` or ``("none", 0)`` from the headers."""
        if self.headers.get("transfer-encoding", "").lower().rstrip().endswith("chunked"):
            return "chunked", 0
        length = self.headers.get("content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()) or len(length) > 15:
                raise MalformedMessage(f"bad Content-Length {length[:40]!r}")
            return "length", int(length)
        return "none", 0


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next message head, or None on a clean end of stream before any byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise MalformedMessage("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise MalformedMessage("message head too large") from exc
    return parse_head(raw)


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A field name (RFC 9110 §5.1: a token; no whitespace before the colon)."""
_FIELD_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
"""A field value: no control characters but HTAB (no bare CR or LF)."""
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r\n")
"""A chunk-size line (RFC 9112 §7.1): hex digits only (no sign, ``0x``, ``_`` or leading space), then
optional extensions; at most 15 digits so no size overflows."""


def parse_head(raw: bytes) -> Head:
    """A message head (start line up to the blank line) split into start line and headers.

    Refuses (:class:`MalformedMessage`) what RFC 9112 makes ambiguous: obs-fold (a line starting with
    whitespace), whitespace or other non-token characters in a field name, control characters in a
    value, a repeated or list-valued Content-Length, Transfer-Encoding together with Content-Length."""
    lines = raw.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2:
        raise MalformedMessage(f"bad start line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise MalformedMessage(f"bad header line {line[:80]!r} (obs-fold, or whitespace in a field name)")
        if not _FIELD_VALUE.fullmatch(value):
            raise MalformedMessage(f"control character in header {name!r}")
        key = name.lower()
        if key == "content-length" and key in headers:
            raise MalformedMessage("repeated Content-Length")
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "transfer-encoding" in headers and "content-length" in headers:
        raise MalformedMessage("Transfer-Encoding together with Content-Length")
    return Head(raw=raw, first=first, headers=headers)


def request_framing(head: Head) -> tuple[str, int]:
    return head.framing()


def response_framing(head: Head, request_method: str) -> tuple[str, int]:
    """Body framing of a response; ``("close", 0)`` when it ends with the connection."""
    status = int(head.first[1]) if head.first[1].isdigit() else 0
    if request_method == "HEAD" or status < 200 or status in (204, 304):
        return "none", 0
    kind, length = head.framing()
    return ("close", 0) if kind == "none" else (kind, length)


def chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (with its CRLF), or :class:`MalformedMessage`."""
    match = _CHUNK_SIZE.fullmatch(line)
    if match is None:
        raise MalformedMessage(f"bad chunk size line {line[:40]!r}")
    return int(match.group(1), 16)


async def copy_body(reader: asyncio.StreamReader, framing: tuple[str, int], sink: Sink,
                    check: RequestCheck | None = None) -> None:
    """Copy one message body to ``sink``; with ``check`` (a request's), every piece is read by llhttp
    before it is sent, and the body must end where llhttp says the request ends."""
    if check is not None:
        sink = _Checked(check, sink)
    kind, length = framing
    if kind == "length":
        await _copy_exactly(reader, length, sink)
    elif kind == "chunked":
        while True:
            line = await _readline(reader)
            size = chunk_size(line)
            await sink.send(line)
            if size == 0:
                while True:  # trailers up to the blank line
                    trailer = await _readline(reader)
                    if trailer != b"\r\n" and _TRAILER.fullmatch(trailer) is None:
                        raise MalformedMessage(f"bad trailer line {trailer[:40]!r}")
                    await sink.send(trailer)
                    if trailer == b"\r\n":
                        break
                break
            await _copy_exactly(reader, size, sink)
            if await _readline(reader) != b"\r\n":
                raise MalformedMessage("chunk data not followed by CRLF")
            await sink.send(b"\r\n")
    elif kind == "close":
        while data := await reader.read(CHUNK):
            await sink.send(data)
    if check is not None:
        check.finished()


_TRAILER = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n")


class _Checked:
    """A sink that lets llhttp read each piece of a request body before it goes on."""

    def __init__(self, check: RequestCheck, sink: Sink) -> None:
        self.check = check
        self.sink = sink

    async def send(self, data: bytes) -> None:
        self.check.feed(data)
        await self.sink.send(data)


async def _readline(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise MalformedMessage("connection closed or line too long inside a chunked body") from exc


async def _copy_exactly(reader: asyncio.StreamReader, length: int, sink: Sink) -> None:
    while length > 0:
        data = await reader.read(min(length, CHUNK))
        if not data:
            raise MalformedMessage("connection closed inside a message body")
        length -= len(data)
        await sink.send(data)


class RequestCheck:
    """llhttp's reading of one request: the head at construction, then the body piece by piece.

    Raises :class:`MalformedMessage` for whatever llhttp refuses (see the module docstring), for a
    start line without ``HTTP/1.0`` or ``HTTP/1.1`` (HTTP/0.9), and for ``Transfer-Encoding`` in an
    HTTP/1.0 request (RFC 9112 §6.1: faulty framing)."""

    def __init__(self, raw: bytes) -> None:
        self._begun = 0
        self._complete = False
        self._upgrade = False
        self._parser = httptools.HttpRequestParser(self)
        try:
            self._parser.feed_data(raw)
        except httptools.HttpParserUpgrade:
            self._upgrade = True  # llhttp stops at an upgrade: the rest is the new protocol's
        except httptools.HttpParserError as exc:
            raise MalformedMessage(f"bad request head: {exc}") from None
        version = self._parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise MalformedMessage(f"unsupported HTTP version {version!r}")
        if version == "1.0" and b"\r\ntransfer-encoding:" in raw.lower():
            raise MalformedMessage("Transfer-Encoding in an HTTP/1.0 request")

    def on_message_begin(self) -> None:
        self._begun += 1

    def on_message_complete(self) -> None:
        self._complete = True

    def feed(self, data: bytes) -> None:
        """One piece of the body, before it is forwarded."""
        if self._upgrade:
            return
        if self._complete:
            raise MalformedMessage("bytes after the end of the request body")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade = True
        except httptools.HttpParserError as exc:
            raise MalformedMessage(f"bad request body: {exc}") from None
        if self._begun > 1:
            raise MalformedMessage("request body framing disagrees with llhttp")

    def finished(self) -> None:
        """The body ended by our framing: llhttp must agree that the request ended there."""
        if not self._upgrade and not self._complete:
            raise MalformedMessage("request body framing disagrees with llhttp")


def simple_response(code: int, body: bytes, close: bool = False, retry_after_s: int = 0) -> bytes:
    reason = REASONS.get(code, "Injected")
    connection = "close" if close else "keep-alive"
    retry = f"Retry-After: {retry_after_s}\r\n" if retry_after_s > 0 else ""
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {connection}\r\n{retry}X-Aftershock: injected\r\n\r\n").encode("latin-1") + body


# -- the fast path's framing (bytes in, no decoding; see chaos.clients.host.fastpath) ------------------

class _Unusual(Exception):
    """A head the byte scan leaves to the full parser."""


def _odd(lower: bytes) -> bool:
    """Header spellings the byte scan does not read: space before a colon, folded lines."""
    return b" :" in lower or b"\t:" in lower or b"\n " in lower or b"\n\t" in lower


def _value(lower: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (``b"\r\nname:"``) in a lower-cased head, or None."""
    start = lower.find(name)
    if start < 0:
        return None
    start += len(name)
    end = lower.find(b"\r\n", start)
    if lower.find(name, end) >= 0:
        raise _Unusual("repeated header")
    return lower[start:end].strip()


def fast_request(raw: bytes) -> tuple[bytes, int, bool] | None:
    """``(method, content_length, wants_close)`` of a plain request head, or None when the request needs
    the full path (chunked or other transfer coding, upgrade, repeated or odd headers, bad start line)."""
    lower = raw.lower()
    first = raw[:lower.find(b"\r\n")].split(b" ")
    if (len(first) != 3 or b"\r\ntransfer-encoding:" in lower or b"\r\nupgrade:" in lower
            or _odd(lower)):
        return None
    try:
        value = _value(lower, b"\r\ncontent-length:")
        connection = _value(lower, b"\r\nconnection:")
    except _Unusual:
        return None
    length = 0
    if value is not None:
        if not value.isdigit():
            return None
        length = int(value)
    if connection is None:
        return first[0], length, first[2] == b"HTTP/1.0"
    close = b"close" in connection or (first[2] == b"HTTP/1.0" and b"keep-alive" not in connection)
    return first[0], length, close


_FRAMING = re.compile(rb"\r\n(content-length|connection|transfer-encoding):(.*?)(?=\r\n)", re.S)
"""The headers that frame a response, in a lower-cased head: ``(name, value)`` of each occurrence."""


def fast_response(raw: bytes, method: bytes) -> tuple[bytes, str, int, bool]:
    """``(status, kind, length, wants_close)`` of a response head; ``(kind, length)`` is the framing of
    :func:`response_framing`. Heads the byte scan does not read (odd spellings, a repeated framing
    header, a bad length or start line) go to :func:`parse_head`, which raises
    :class:`MalformedMessage` for what it cannot read."""
    # _odd without lower-casing (it looks for no letters); both tab spellings contain a tab
    if (raw.find(b" :") >= 0 or raw.find(b"\n ") >= 0
            or (raw.find(b"\t") >= 0 and (raw.find(b"\t:") >= 0 or raw.find(b"\n\t") >= 0))):
        return _parsed_response(raw, method)
    first = raw.split(b" ", 2)  # version and status, when both end inside the start line
    line_end = raw.find(b"\r\n")
    if len(first) < 3 or len(first[0]) + len(first[1]) + 1 >= line_end:
        first = raw[:line_end].split(b" ", 2)
        if len(first) < 2:
            return _parsed_response(raw, method)
    found = _FRAMING.findall(raw.lower())
    if len(found) == 1:
        values = {found[0][0]: found[0][1]}
    else:
        values = dict(found)
        if len(values) < len(found):  # a repeated framing header
            return _parsed_response(raw, method)
    length = values.get(b"content-length")
    if length is not None:
        length = length.strip()
        if not length.isdigit() or len(length) > 15:
            return _parsed_response(raw, method)
    if length is not None and b"transfer-encoding" in values:
        return _parsed_response(raw, method)  # refuses Transfer-Encoding with Content-Length
    connection = values.get(b"connection")
    close = first[0] == b"HTTP/1.0" or (connection is not None and b"close" in connection)
    status = first[1]
    if method == b"HEAD" or not status.isdigit() or status[0] in b"01" or status in (b"204", b"304"):
        return status, "none", 0, close
    coding = values.get(b"transfer-encoding")
    if coding is not None and coding.strip().endswith(b"chunked"):
        return status, "chunked", 0, close
    if length is None:
        return status, "close", 0, close
    return status, "length", int(length), close


def _parsed_response(raw: bytes, method: bytes) -> tuple[bytes, str, int, bool]:
    """:func:`fast_response` by the full parser, for the heads the byte scan leaves to it."""
    head = parse_head(raw)
    kind, length = response_framing(head, method.decode("latin-1"))
    return head.first[1].encode("latin-1"), kind, length, head.wants_close


class RequestHeads:
    """Reads the request heads of one client connection with httptools (llhttp, the C parser uvicorn
    uses): about a sixth of the CPU of the byte scan of :func:`fast_request` for a body-less request.
    What llhttp refuses is a :class:`MalformedMessage` (the proxy answers 400 and closes); a request
    with a body is read by llhttp first and then framed by that scan (llhttp does not tell where a body
    ends in a pipelined stream, and the proxy must stop there)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._complete = False
        self._keep_alive = True

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self._complete = True

    def read(self, raw: bytes) -> tuple[bytes, int, bool] | None:
        """As :func:`fast_request`, for one whole head (start line to the blank line); None for the
        heads the stream path reads (upgrades, chunked bodies, repeated headers)."""
        if raw.find(b"pgrade") >= 0 or raw.find(b"PGRADE") >= 0:  # Upgrade: / Connection: upgrade -> the stream path
            return None
        self._complete = False
        try:
            self._parser.feed_data(raw)
        except httptools.HttpParserUpgrade:
            self._parser = httptools.HttpRequestParser(self)
            return None
        except httptools.HttpParserError as exc:
            self._parser = httptools.HttpRequestParser(self)
            raise MalformedMessage(f"bad request head: {exc}") from None
        if self._complete:
            if not self._keep_alive and self._parser.get_http_version() not in ("1.1", "1.0"):
                self._parser = httptools.HttpRequestParser(self)
                raise MalformedMessage("unsupported HTTP version (HTTP/0.9)")
            return self._parser.get_method(), 0, not self._keep_alive
        self._parser = httptools.HttpRequestParser(self)  # it waits for a body: start afresh
        return fast_request(raw)
