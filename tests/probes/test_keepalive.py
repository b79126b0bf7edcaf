"""A probe keeps its connection: every request of one HTTP probe goes over one keep-alive connection,
whether its body is read or dropped, until a failed request closes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chaos.clients.http_probe import HttpProbeRunner
from chaos.model.kinds import ProbeContext
from chaos.probes.http import HttpProbe

from .server import Backend


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    async with Backend() as b:
        yield b


@pytest.mark.parametrize("expect_body", [None, "healthy"])
async def test_one_connection_for_all_requests(backend: Backend, expect_body: str | None) -> None:
    block = HttpProbe.model_validate({"url": backend.url("/health"), "timeout": "1s", "expectBody": expect_body})
    runner = HttpProbeRunner(block, ProbeContext(environ={}, timeout_s=1.0))
    try:
        results = [await runner.observe() for _ in range(20)]
    finally:
        await runner.aclose()
    assert all(r.ok for r in results) and backend.requests == 20
    assert len(backend.peers) == 1


async def test_a_timed_out_request_opens_a_new_connection(backend: Backend) -> None:
    block = HttpProbe.model_validate({"url": backend.url("/health"), "timeout": "100ms"})
    runner = HttpProbeRunner(block, ProbeContext(environ={}, timeout_s=1.0))
    try:
        assert (await runner.observe()).ok
        backend.delay = 0.5
        failed = await runner.observe()
        assert (failed.ok, failed.detail) == (False, "timeout after 100ms")
        backend.delay = 0.0
        assert (await runner.observe()).ok
    finally:
        await runner.aclose()
    assert len(backend.peers) == 2
