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
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from chaos.demo.lifeline import die_with_parent, owned_tempdir
from chaos.errors import CapabilityMissing, TargetError

PROMETHEUS_BINARY = "/usr/bin/prometheus"
PROMTOOL_BINARY = "/usr/bin/promtool"
INSTALL_HINT = "install it with: apt-get install -y prometheus"

Targets = Mapping[str, Sequence[str]] | Sequence[tuple[str, str]]
"""Scrape targets: ``{job: ["host:port", ...]}`` or ``[(job, "host:port"), ...]``."""


@dataclass(frozen=True)
class Sample:
    """One backfilled sample: ``name{labels} value timestamp`` (timestamp in epoch seconds)."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(path: str, name: str) -> str:
    found = path if os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        raise CapabilityMissing(f"{name} is not installed ({path} not found); {INSTALL_HINT}")
    return found


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
    promtool = _binary(PROMTOOL_BINARY, "promtool")
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
    as given (e.g. ``kubernetes_sd_configs`` jobs)."""
    jobs = _normalise_targets(targets)
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                           for job, addresses in jobs.items()] + [dict(c) for c in scrape_configs],
    }
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusServer:
    """A real Prometheus on a free loopback port; sync (``start``/``stop``/``close``) or async context.

    ``stop()`` ends the process but keeps the port and data directory, so ``start()`` brings the
    same server back (used to test a monitor surviving a Prometheus outage); ``close()`` also removes
    the temporary directory. ``with PrometheusServer(...) as prom:`` / ``async with`` do start/close.
    """

    def __init__(self, targets: Targets | None = None, *, scrape_interval: str = "1s",
                 backfill_text: str | None = None, retention: str = "30d", lifecycle: bool = False,
                 ready_timeout_s: float = 30.0, stop_timeout_s: float = 10.0,
                 extra_args: Sequence[str] = (), scrape_configs: Sequence[Mapping[str, Any]] = ()) -> None:
        self.binary = _binary(PROMETHEUS_BINARY, "prometheus")
        self.scrape_configs = [dict(c) for c in scrape_configs]
        self.targets = _normalise_targets(targets)
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.lifecycle = lifecycle
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_args = list(extra_args)
        self._backfill_text = backfill_text
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    # ------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        if self.port is None:
            raise TargetError("Prometheus has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self._workdir() / "data"

    @property
    def log_path(self) -> Path:
        return self._workdir() / "prometheus.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _workdir(self) -> Path:
        if self._dir is None:
            self._dir = owned_tempdir("prometheus")
        return self._dir

    # ------------------------------------------------------------ lifecycle

    def start(self) -> PrometheusServer:
        """Start (or restart after :meth:`stop`) and wait until ``/-/ready`` answers 200."""
        if self.running:
            return self
        work = self._workdir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._backfill_text is not None:
            backfill(self.data_dir, self._backfill_text)
            self._backfill_text = None
        config = work / "prometheus.yml"
        config.write_text(render_config(self.targets, self.scrape_interval, self.scrape_configs), encoding="utf-8")
        attempts = 1 if self.port is not None else 3
        last = ""
        for _ in range(attempts):
            port = self.port if self.port is not None else free_port()
            self._spawn(config, port)
            try:
                self._await_ready(port)
            except TargetError as exc:
                last = str(exc)
                self._terminate()
                if "address already in use" in last and self.port is None:
                    continue
                raise
            self.port = port
            return self
        raise TargetError(last)

    def _spawn(self, config: Path, port: int) -> None:
        args = [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.retention.time={self.retention}",
                "--log.level=warn", *self.extra_args]
        if self.lifecycle:
            args.append("--web.enable-lifecycle")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          cwd=self._workdir(), start_new_session=True,
                                          preexec_fn=die_with_parent())

    def _await_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        url = f"http://127.0.0.1:{port}/-/ready"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise TargetError(f"prometheus exited during start-up: {self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise TargetError(f"prometheus not ready within {self.ready_timeout_s:g}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=self.stop_timeout_s)

    def stop(self) -> None:
        """End the process (SIGTERM, SIGKILL after ``stop_timeout_s``); keep port and data for restart."""
        self._terminate()

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PrometheusServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> PrometheusServer:
        import asyncio

        try:
            await asyncio.to_thread(self.start)
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        import asyncio

        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"PrometheusServer(port={self.port}, {state})"
