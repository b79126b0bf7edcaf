"""Fixtures of the end-to-end tests: fail loudly without Prometheus; adopt and audit every descendant process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from . import helpers
from .helpers import Subreaper, leftovers, running, terminate

pytestmark = pytest.mark.e2e


@pytest.fixture
def audit() -> Iterator[Subreaper]:
    """Adopt orphaned descendants during the test; after it, kill what is left (and fail on it)."""
    if shutil.which("prometheus") is None:
        pytest.fail("Prometheus is not installed: `make test` installs it (apt-get install -y prometheus)")
    helpers.BASELINE.clear()
    helpers.BASELINE.update(running())  # fixtures of other tests (a session's Prometheus) are not ours
    with Subreaper() as reaper:
        try:
            yield reaper
        finally:
            left = leftovers()
            terminate(left)
            helpers.BASELINE.clear()
    assert not left, f"processes left behind: {left}"
