"""Fixtures of the TUI tests: the real engine over a scripted world (``world.py``), the app over
tests/tui/experiments, and a bounded ``wait_for`` (poll a condition between pilot pauses, never a
bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from world import WorldEngine

from tui.app import AftershockApp, create_app

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _stable_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Experiments template env vars; the tests see the files' defaults, from a fixed cwd."""
    for name in ("AFTERSHOCK_PROMETHEUS_URL", "AFTERSHOCK_DEMO_PROXY_LISTEN", "AFTERSHOCK_DEMO_PROXY_ADMIN",
                 "AFTERSHOCK_DEMO_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(HERE)


@pytest.fixture
def new_engine(tmp_path: Path) -> Callable[..., WorldEngine]:
    """``new_engine(pause_at=..., ...)``: a fresh engine with its own state directory."""
    count = [0]

    def make(**kwargs: object) -> WorldEngine:
        count[0] += 1
        return WorldEngine(tmp_path / f"state-{count[0]}", **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def engine(new_engine: Callable[..., WorldEngine]) -> WorldEngine:
    return new_engine(seed_history=True)


@pytest.fixture
def make_app() -> Callable[..., AftershockApp]:
    def make(engine: WorldEngine, **kwargs: object) -> AftershockApp:
        # the engine's state dir, as ``aftershock tui`` passes it (reports are written there)
        kwargs.setdefault("state_dir", engine.store.dir)
        return create_app(engine, Path("experiments"), clock=engine.now, **kwargs)  # type: ignore[arg-type]

    return make


async def _wait_for(pilot, predicate: Callable[[], object], what: str = "condition",  # type: ignore[no-untyped-def]
                   timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


@pytest.fixture
def wait_for() -> Callable[..., object]:
    return _wait_for
