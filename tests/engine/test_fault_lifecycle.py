"""The one fault lifecycle: its retry policy (transient errors only) and its typed results."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.clients.state import StateStore
from chaos.errors import PreflightRefused, RecordRefused, TargetError, TargetRefused, TargetUnreachable
from chaos.targets.lifecycle import REMOVE_ATTEMPTS, AlreadyGone, Removal, Removed, remove_fault


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.start_run("r1", "x", "x.yaml", "host")
    store.record_fault("r1", "f", "network-delay", {"kind": "proxy"}, 0.0)
    return store


@pytest.mark.parametrize("error", [PreflightRefused("no token"), RecordRefused("not yours"),
                                   TargetRefused("HTTP 401")])
async def test_a_permanent_error_is_not_retried(store: StateStore, error: Exception) -> None:
    calls = 0

    async def remove() -> Removal:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await remove_fault(store, "r1", "f", remove)
    assert calls == 1
    assert store.fault("r1", "f").state == "recorded"  # type: ignore[union-attr]  # still live for recover


@pytest.mark.parametrize("error", [TargetUnreachable("connection refused"), TargetError("xtables lock")])
async def test_a_transient_error_is_retried_then_the_removal_lands(store: StateStore, error: Exception) -> None:
    calls = 0

    async def remove() -> Removal:
        nonlocal calls
        calls += 1
        if calls < REMOVE_ATTEMPTS:
            raise error
        return AlreadyGone("proxy fault f already gone")

    result = await remove_fault(store, "r1", "f", remove)
    assert calls == REMOVE_ATTEMPTS
    assert isinstance(result, AlreadyGone) and not isinstance(result, Removed)
    assert result == "proxy fault f already gone"  # and its words, for journals and messages
    assert store.fault("r1", "f").state == "removed"  # type: ignore[union-attr]
