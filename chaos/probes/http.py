"""``http`` probe: an HTTP request that must answer an expected status (and optionally a body that
matches) within its timeout. One failed request — a timeout, a refused connection, a wrong status —
is one breached evaluation of its SLO, so ``when: {slo: ..., consecutive: 3}`` is "3 consecutive
failed probes". Header values are secrets (``{{ env.TOKEN }}``): shown as ``***``, revealed only into
the request. The runner is :class:`chaos.clients.http_probe.HttpProbeRunner` (aiohttp).
"""

import re
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from chaos.model.base import Duration, Model, PublicUrl, SecretHeaders
from chaos.model.durations import parse_duration
from chaos.model.kinds import ProbeContext, ProbeKind, ProbeRunner


class HttpProbe(Model):
    url: PublicUrl = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: SecretHeaders = Field(default={})
    body: str | None = None
    """Request body (sent as written)."""
    timeout: Duration = "1s"
    """The whole request (connect, send, status and the body read when it is matched)."""
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1, max_length=50)
    expect_body: str | None = None
    """A regular expression the response body (its first 64 KiB) must contain."""
    insecure: bool = False
    """https: do not verify the server's certificate."""

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if not 0 < parse_duration(self.timeout) <= 300:
            raise ValueError("timeout must be more than 0s and at most 5m")
        if any(not 100 <= code <= 599 for code in self.expect_status):
            raise ValueError("expectStatus holds HTTP status codes (100-599)")
        if self.expect_body is not None:
            try:
                re.compile(self.expect_body)
            except re.error as exc:
                raise ValueError(f"expectBody is not a regular expression: {exc}") from exc
        return self


def _describe(block: Any) -> str:
    assert isinstance(block, HttpProbe)
    expect = "/".join(str(c) for c in block.expect_status)
    body = f" and a body matching {block.expect_body!r}" if block.expect_body else ""
    return f"{block.method} {block.url} expects {expect}{body} within {block.timeout}"


def _runner(block: Any, ctx: ProbeContext) -> ProbeRunner:
    from chaos.clients.http_probe import HttpProbeRunner

    assert isinstance(block, HttpProbe)
    return HttpProbeRunner(block, ctx)


KIND = ProbeKind(name="http", model=HttpProbe, words="HTTP probe", describe=_describe, runner=_runner)
