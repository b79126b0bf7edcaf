"""The ``http`` probe's runner: one aiohttp session (keep-alive) per probe, each observation one
request bounded by the probe's timeout. Never raises for a failed request: it is a
:class:`~chaos.model.kinds.ProbeResult` that does not hold, with the reason in words."""

from __future__ import annotations

import re
import ssl
import time

import aiohttp

from chaos import timers
from chaos.model.durations import parse_duration
from chaos.model.kinds import ProbeContext, ProbeResult
from chaos.probes.http import HttpProbe
from chaos.secrets import reveal, scrub

BODY_LIMIT = 64 * 1024


class HttpProbeRunner:
    def __init__(self, block: HttpProbe, ctx: ProbeContext) -> None:
        self.block = block
        self.timeout_s = parse_duration(block.timeout)
        self._headers = {name: reveal(value) for name, value in block.headers.items()}
        self._expect = frozenset(block.expect_status)
        self._pattern = re.compile(block.expect_body) if block.expect_body is not None else None
        self._body = block.body.encode() if block.body is not None else None
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        ssl_arg: ssl.SSLContext | bool = not self.block.insecure
        connector = aiohttp.TCPConnector(limit=4, ssl=ssl_arg, enable_cleanup_closed=True)
        # no aiohttp timer (its default is a 5-minute one per request, left cancelled in the loop's timer
        # heap after every answer): the probe's own timeout bounds the whole request
        return aiohttp.ClientSession(connector=connector, headers=self._headers, auto_decompress=True,
                                     timeout=aiohttp.ClientTimeout(total=None),
                                     skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar())

    async def observe(self) -> ProbeResult:
        session = self._session = self._session or self._open()
        started = time.perf_counter()
        try:
            # the timeout: one loop timer for every probe (chaos.timers), not one per request
            async with (timers.timeout(self.timeout_s),
                        session.request(self.block.method, self.block.url, data=self._body,
                                        allow_redirects=False) as response):
                status = response.status
                body = await response.content.read(BODY_LIMIT) if self._pattern is not None else b""
                if self._pattern is None and not response.content.is_eof():
                    await response.read()  # drain, so the connection is kept alive (a body that
                    # already arrived whole is dropped with the response, the connection kept)
        except TimeoutError:
            return ProbeResult(False, self.timeout_s, f"timeout after {self.block.timeout}")
        except (aiohttp.ClientError, OSError) as exc:
            return ProbeResult(False, time.perf_counter() - started, scrub(f"{type(exc).__name__}: {exc}")[:300])
        elapsed = time.perf_counter() - started
        if status not in self._expect:
            wanted = "/".join(str(c) for c in sorted(self._expect))
            return ProbeResult(False, elapsed, f"status {status} (expected {wanted})")
        if self._pattern is not None and not self._pattern.search(body.decode("utf-8", "replace")):
            return ProbeResult(False, elapsed, f"status {status} but the body does not match {self._pattern.pattern!r}")
        return ProbeResult(True, elapsed, f"status {status} in {elapsed * 1000:.0f}ms")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
