"""One launcher for the throw-away Prometheus-family servers on loopback.

Callers: :class:`chaos.demo.prometheus.PrometheusServer`, :class:`chaos.demo.alertmanager.AlertmanagerServer`
and :class:`chaos.demo.pushgateway.PushgatewayServer` subclass :class:`LoopbackDaemon`; they say which
binary, which arguments for a port and what to write before the start. This module owns what they
share: a work dir of its own (:func:`~chaos.demo.lifeline.owned_tempdir`), a free ``127.0.0.1`` port
(or on another local address given as ``host``, e.g. a bridge pods reach; retried when another
process took it first), the wait for ``/-/ready`` (bounded), a log whose last
lines go into every error, and the stop (SIGTERM, SIGKILL after a bound). A child dies with its parent
(:func:`~chaos.demo.lifeline.die_with_parent`). Missing binaries raise
:class:`~chaos.errors.CapabilityMissing` naming the Debian package.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from chaos.demo.lifeline import die_with_parent, owned_tempdir
from chaos.errors import CapabilityMissing, TargetError

START_ATTEMPTS = 3
"""Fresh ports tried when the one picked was taken between :func:`free_port` and the bind."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(path: str, *names: str, package: str) -> str:
    """``path`` when executable, else the first of ``names`` on PATH; CapabilityMissing otherwise."""
    if os.access(path, os.X_OK):
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise CapabilityMissing(f"{names[0] if names else path} is not installed ({path} not found); "
                            f"install it with: apt-get install -y {package}")


class LoopbackDaemon:
    """A server process on a free loopback port: ``start``/``stop``/``close``, ``with`` and ``async with``.

    ``stop()`` ends the process and keeps the port and work dir, so ``start()`` brings the same server
    back; ``close()`` also removes the work dir. Subclasses set :attr:`name` and implement :meth:`args`
    (and :meth:`prepare` for files written before each start).
    """

    name = "daemon"

    def __init__(self, binary: str, *, ready_timeout_s: float = 30.0, stop_timeout_s: float = 10.0,
                 host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.host = host
        """The local address it listens on: loopback unless a caller names another of this host's."""
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    # ------------------------------------------------------------ what subclasses say

    def args(self, port: int) -> Sequence[str]:
        """The command line's arguments after the binary, listening on ``self.host:port``."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write what the process reads (config, backfilled data) before each start."""

    # ------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        if self.port is None:
            raise TargetError(f"{self.name} has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._dir is None:
            self._dir = owned_tempdir(self.name.lower())
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name.lower()}.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start (or restart after :meth:`stop`, on the same port) and wait until ``/-/ready`` answers 200."""
        if self.running:
            return self
        self.prepare()
        attempts = 1 if self.port is not None else START_ATTEMPTS
        last = ""
        for _ in range(attempts):
            port = self.port if self.port is not None else free_port(self.host)
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen([self.binary, *self.args(port)], stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=log, cwd=self.workdir, start_new_session=True,
                                              preexec_fn=die_with_parent())
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

    def _await_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        url = f"http://{self.host}:{port}/-/ready"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise TargetError(f"{self.name.lower()} exited during start-up: {self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)  # another process's readiness is an HTTP answer: no event to wait on
        raise TargetError(f"{self.name.lower()} not ready within {self.ready_timeout_s:g}s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The log's last three lines, joined (what a start-up error quotes)."""
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
        """End the process (SIGTERM, SIGKILL after ``stop_timeout_s``); keep port and work dir for restart."""
        self._terminate()

    def close(self) -> None:
        """Stop and remove the work dir."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        try:
            await asyncio.to_thread(self.start)
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, {'running' if self.running else 'stopped'})"
