"""The Prometheus launcher: missing binaries, config generation, clean stop."""

from __future__ import annotations

import os

import pytest
import yaml

from chaos.demo import prometheus as launcher
from chaos.errors import CapabilityMissing


def test_missing_binary_names_the_apt_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "PROMETHEUS_BINARY", "/nonexistent/prometheus")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CapabilityMissing, match="apt-get install -y prometheus"):
        launcher.PrometheusServer()


def test_config_scrapes_targets_per_job() -> None:
    config = yaml.safe_load(launcher.render_config([("api", "127.0.0.1:1"), ("api", "127.0.0.1:2"),
                                                    ("db", "127.0.0.1:3")], "1s"))
    assert config["global"]["scrape_interval"] == "1s"
    assert [(j["job_name"], j["static_configs"][0]["targets"]) for j in config["scrape_configs"]] == [
        ("api", ["127.0.0.1:1", "127.0.0.1:2"]), ("db", ["127.0.0.1:3"])]


async def test_async_context_stops_the_process_and_removes_the_directory() -> None:
    async with launcher.PrometheusServer(lifecycle=True) as server:
        pid, workdir = server.pid, server.data_dir.parent
        assert pid is not None and server.url.startswith("http://127.0.0.1:")
    assert not server.running and not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
