"""Launcher of a real, throw-away Alertmanager on loopback (Debian's ``prometheus-alertmanager``).

Callers: the demo (``aftershock demo``: its experiments silence their expected alerts and send
theirs here) and the tests. Started on a free ``127.0.0.1`` port with clustering off, a temporary
storage directory and a config that routes every alert to an optional webhook; waits for
``/-/ready`` (bounded); stopped with SIGTERM (SIGKILL after a bound). Only
:mod:`chaos.clients.alertmanager` talks to its API.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import yaml

from chaos.demo.lifeline import die_with_parent, owned_tempdir
from chaos.demo.prometheus import free_port
from chaos.errors import CapabilityMissing, TargetError

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"
INSTALL_HINT = "install it with: apt-get install -y prometheus-alertmanager"


def render_config(webhook: str | None) -> str:
    receiver: dict[str, object] = {"name": "aftershock"}
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    config = {"route": {"receiver": "aftershock", "group_wait": "0s", "group_interval": "1s",
                        "repeat_interval": "1h"},
              "receivers": [receiver]}
    return yaml.safe_dump(config, sort_keys=False)


class AlertmanagerServer:
    """A real Alertmanager on a free loopback port: ``with AlertmanagerServer() as am: am.url``."""

    def __init__(self, *, webhook: str | None = None, ready_timeout_s: float = 30.0,
                 stop_timeout_s: float = 10.0) -> None:
        found = ALERTMANAGER_BINARY if os.access(ALERTMANAGER_BINARY, os.X_OK) else shutil.which(
            "prometheus-alertmanager") or shutil.which("alertmanager")
        if not found:
            raise CapabilityMissing(f"Alertmanager is not installed ({ALERTMANAGER_BINARY} not found); {INSTALL_HINT}")
        self.binary = found
        self.webhook = webhook
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise TargetError("Alertmanager has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> AlertmanagerServer:
        if self.running:
            return self
        work = self._dir = self._dir or owned_tempdir("alertmanager")
        config = work / "alertmanager.yml"
        config.write_text(render_config(self.webhook), encoding="utf-8")
        last = ""
        for _ in range(3):
            port = free_port()
            args = [self.binary, f"--config.file={config}", f"--storage.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
            with open(work / "alertmanager.log", "ab") as log:
                self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=work,
                                              start_new_session=True, preexec_fn=die_with_parent())
            try:
                self._await_ready(port)
            except TargetError as exc:
                last = str(exc)
                self._terminate()
                if "address already in use" in last:
                    continue
                raise
            self.port = port
            return self
        raise TargetError(last)

    def _await_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise TargetError(f"alertmanager exited during start-up: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise TargetError(f"alertmanager not ready within {self.ready_timeout_s:g}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        if self._dir is None:
            return "(no log)"
        try:
            lines = (self._dir / "alertmanager.log").read_text(encoding="utf-8", errors="replace").splitlines()
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

    def close(self) -> None:
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> AlertmanagerServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
