"""Launcher of a real, throw-away Alertmanager on loopback (Debian's ``prometheus-alertmanager``).

Callers: the demo (``aftershock demo``: its experiments silence their expected alerts and send
theirs here) and the tests. Started on a free ``127.0.0.1`` port with clustering off, a temporary
storage directory and a config that routes every alert to an optional webhook; waits for
``/-/ready`` (bounded); stopped with SIGTERM (SIGKILL after a bound). Only
:mod:`chaos.clients.alertmanager` talks to its API.
"""

from __future__ import annotations

import yaml

from chaos.demo.daemon import LoopbackDaemon, find_binary

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"


def render_config(webhook: str | None) -> str:
    receiver: dict[str, object] = {"name": "aftershock"}
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    config = {"route": {"receiver": "aftershock", "group_wait": "0s", "group_interval": "1s",
                        "repeat_interval": "1h"},
              "receivers": [receiver]}
    return yaml.safe_dump(config, sort_keys=False)


class AlertmanagerServer(LoopbackDaemon):
    """A real Alertmanager on a free loopback port: ``with AlertmanagerServer() as am: am.url``."""

    name = "Alertmanager"

    def __init__(self, *, webhook: str | None = None, ready_timeout_s: float = 30.0,
                 stop_timeout_s: float = 10.0) -> None:
        super().__init__(find_binary(ALERTMANAGER_BINARY, "prometheus-alertmanager", "alertmanager",
                                     package="prometheus-alertmanager"),
                         ready_timeout_s=ready_timeout_s, stop_timeout_s=stop_timeout_s)
        self.webhook = webhook

    def prepare(self) -> None:
        (self.workdir / "alertmanager.yml").write_text(render_config(self.webhook), encoding="utf-8")

    def args(self, port: int) -> list[str]:
        return [f"--config.file={self.workdir / 'alertmanager.yml'}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address={self.host}:{port}", "--cluster.listen-address=", "--log.level=warn"]
