"""Overlapping circuit-breaks on the fault proxy never restore each other's 0: weights set for an owner
(a run) are holds, and ending a hold restores conditionally (routing.Router.release), through the real
admin endpoint and its client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from harness.admin import proxy_admin

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.routing import Router
from chaos.clients.host.specs import Upstream

TOKEN = "k" * 32


def router() -> Router:
    return Router([Upstream("gw", "127.0.0.1", 9), Upstream("backup", "127.0.0.1", 10, backup=True)])


@pytest.mark.parametrize("first_to_end", ["run-a", "run-b"])
def test_the_weight_comes_back_when_the_last_overlapping_break_ends(first_to_end: str) -> None:
    r = router()
    assert r.set_weight("gw", 0, owner="run-a") == 100
    assert r.set_weight("gw", 0, owner="run-b") == 0  # run-b's break sees run-a's 0 as "before"
    last = "run-b" if first_to_end == "run-a" else "run-a"
    assert r.release("gw", first_to_end) == 0  # the other break still holds: no restore of a 0 over it
    assert r.release("gw", last) == 100  # the weight from before the first break
    assert r.release("gw", last) is None  # nothing held any more: nothing changes


def test_a_half_open_change_keeps_the_first_previous() -> None:
    r = router()
    r.set_weight("gw", 0, owner="run-a")
    r.set_weight("gw", 10, owner="run-a")  # half-open
    r.set_weight("gw", 0, owner="run-a")  # re-open
    assert r.release("gw", "run-a") == 100


@pytest.fixture
async def admin_url() -> AsyncIterator[str]:
    async with proxy_admin(TOKEN, "gw") as url:
        yield url


async def test_holds_through_the_admin_endpoint(admin_url: str) -> None:
    async with ProxyAdminClient(admin_url, TOKEN) as admin:
        assert await admin.set_weight("gw", 0, owner="run-a") == 100
        assert await admin.set_weight("gw", 0, owner="run-b") == 0
        assert await admin.release_weight("gw", "run-b") == 0
        assert await admin.weights() == {"gw": 0}
        assert await admin.release_weight("gw", "run-a") == 100
        assert await admin.release_weight("gw", "run-a") is None
