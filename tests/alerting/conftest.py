"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on a free loopback port per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.demo.alertmanager import AlertmanagerServer


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer() as server:
        yield server
