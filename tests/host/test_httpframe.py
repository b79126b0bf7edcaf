"""The fast path's response-head reader (chaos.clients.host.httpframe.fast_response) against the full
parser (parse_head + response_framing): the same status, framing and close decision for plain heads,
and the full parser's answer (or its MalformedMessage) for the heads the byte scan leaves to it."""

from __future__ import annotations

import pytest

from chaos.clients.host.httpframe import MalformedMessage, fast_response, parse_head, response_framing

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nCONTENT-LENGTH:   12  \r\nConnection: Close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 4\r\n\r\n",
    b"HTTP/1.1 500 Internal Server Error\r\nX-Connection: close\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: b\tc\r\nContent-Length: 1\r\n\r\n",
    # left to the full parser: odd spellings, repeats, a bad length
    b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length\t: 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
]


def _full(raw: bytes, method: str) -> tuple[bytes, str, int, bool]:
    head = parse_head(raw)
    kind, length = response_framing(head, method)
    return head.first[1].encode("latin-1"), kind, length, head.wants_close


@pytest.mark.parametrize("raw", HEADS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_fast_response_agrees_with_the_full_parser(raw: bytes, method: str) -> None:
    try:
        expected = _full(raw, method)
    except MalformedMessage:
        with pytest.raises(MalformedMessage):
            fast_response(raw, method.encode())
        return
    assert fast_response(raw, method.encode()) == expected
