"""Launcher of a real, throw-away Prometheus server on loopback (``/usr/bin/prometheus``).

Callers: the demo (``aftershock demo``), ``tests/monitor`` and ``bench/bench_monitor.py``. It starts
Prometheus on a free ``127.0.0.1`` port with a temporary data directory and a generated config that
scrapes the given ``host:port`` targets, waits for ``/-/ready`` (bounded), exposes :attr:`url`, and
stops it (SIGTERM, then SIGKILL after a bound). :func:`backfill` writes exact, repeatable series into
the data directory with ``promtool tsdb create-blocks-from openmetrics`` before the server starts.

Missing binaries raise :class:`~chaos.errors.CapabilityMissing` naming the apt package. Only
:mod:`chaos.clients.prometheus` *queries* Prometheus; this module only runs it.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos.demo.daemon import LoopbackDaemon, find_binary, free_port
from chaos.errors import TargetError

__all__ = ["PrometheusServer", "Sample", "backfill", "free_port", "openmetrics", "render_config"]

PROMETHEUS_BINARY = "/usr/bin/prometheus"
PROMTOOL_BINARY = "/usr/bin/promtool"

Targets = Mapping[str, Sequence[str]] | Sequence[tuple[str, str]]
"""Scrape targets: ``{job: ["host:port", ...]}`` or ``[(job, "host:port"), ...]``."""


@dataclass(frozen=True)
class Sample:
    """One backfilled sample: ``name{labels} value timestamp`` (timestamp in epoch seconds)."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def openmetrics(samples: Iterable[Sample], types: Mapping[str, str] | None = None) -> str:
    """OpenMetrics text for ``samples`` (grouped per family and series, time-ordered, ``# EOF``).

    ``types`` maps a family name to ``gauge``/``counter`` (default gauge); a counter family ``x``
    has samples named ``x_total``.
    """
    types = types or {}
    families: dict[str, dict[tuple[tuple[str, str], ...], list[Sample]]] = {}
    for s in samples:
        family = s.name[: -len("_total")] if types.get(s.name[: -len("_total")]) == "counter" else s.name
        key = tuple(sorted(s.labels.items()))
        families.setdefault(family, {}).setdefault(key, []).append(s)
    lines: list[str] = []
    for family, series in families.items():
        lines.append(f"# TYPE {family} {types.get(family, 'gauge')}")
        for key, points in series.items():
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
            for p in sorted(points, key=lambda p: p.timestamp):
                head = f"{p.name}{{{labels}}}" if labels else p.name
                lines.append(f"{head} {_format_value(p.value)} {p.timestamp:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(data_dir: str | os.PathLike[str], text: str, *, timeout_s: float = 60.0) -> None:
    """Write OpenMetrics ``text`` as TSDB blocks into ``data_dir`` (run before Prometheus starts).

    Timestamps must lie in the past (older than the head, e.g. ``now - 3h``) and inside the
    retention window; query them with explicit evaluation times.
    """
    promtool = find_binary(PROMTOOL_BINARY, "promtool", package="prometheus")
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", dir=data.parent, delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
        source = handle.name
    try:
        proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", source, str(data)],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TargetError(f"promtool backfill did not finish within {timeout_s:g}s") from exc
    finally:
        os.unlink(source)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise TargetError("promtool tsdb create-blocks-from openmetrics failed: " + " | ".join(tail))


def _normalise_targets(targets: Targets | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if targets is None:
        return out
    if isinstance(targets, Mapping):
        for job, addresses in targets.items():
            out.setdefault(job, []).extend(addresses)
    else:
        for job, address in targets:
            out.setdefault(job, []).append(address)
    return out


def render_config(targets: Targets | None, scrape_interval: str = "1s",
                  scrape_configs: Sequence[Mapping[str, Any]] = ()) -> str:
    """The ``prometheus.yml`` scraping ``targets`` every ``scrape_interval``, plus ``scrape_configs``
    as given (e.g. an ``http_sd_configs`` job)."""
    jobs = _normalise_targets(targets)
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                           for job, addresses in jobs.items()] + [dict(c) for c in scrape_configs],
    }
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusServer(LoopbackDaemon):
    """A real Prometheus on a free loopback port (or on ``host``, another local address: the node
    tests put it on the node's bridge, where pods reach it); sync (``start``/``stop``/``close``) or
    async context.

    ``stop()`` ends the process but keeps the port and data directory, so ``start()`` brings the
    same server back (used to test a monitor surviving a Prometheus outage); ``close()`` also removes
    the temporary directory. ``with PrometheusServer(...) as prom:`` / ``async with`` do start/close.
    """

    name = "Prometheus"

    def __init__(self, targets: Targets | None = None, *, scrape_interval: str = "1s",
                 backfill_text: str | None = None, retention: str = "30d", lifecycle: bool = False,
                 ready_timeout_s: float = 30.0, stop_timeout_s: float = 10.0,
                 extra_args: Sequence[str] = (), scrape_configs: Sequence[Mapping[str, Any]] = (),
                 host: str = "127.0.0.1") -> None:
        super().__init__(find_binary(PROMETHEUS_BINARY, "prometheus", package="prometheus"),
                         ready_timeout_s=ready_timeout_s, stop_timeout_s=stop_timeout_s, host=host)
        self.targets = _normalise_targets(targets)
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.lifecycle = lifecycle
        self.extra_args = list(extra_args)
        self.scrape_configs = [dict(c) for c in scrape_configs]
        self._backfill_text = backfill_text

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._backfill_text is not None:
            backfill(self.data_dir, self._backfill_text)
            self._backfill_text = None
        (self.workdir / "prometheus.yml").write_text(render_config(self.targets, self.scrape_interval, self.scrape_configs),
                                                     encoding="utf-8")

    def args(self, port: int) -> list[str]:
        return [f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address={self.host}:{port}", f"--storage.tsdb.retention.time={self.retention}",
                "--log.level=warn", *self.extra_args, *(["--web.enable-lifecycle"] if self.lifecycle else [])]
