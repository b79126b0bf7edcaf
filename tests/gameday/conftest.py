"""Fixtures of the game-day tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ScheduleStore, StateStore]:
    return ScheduleStore(tmp_path / "state"), StateStore(tmp_path / "state")
