"""Launcher of a real, throw-away Pushgateway on loopback (Debian's ``prometheus-pushgateway``).

Callers: the tests of ``aftershock run``'s and ``gameday``'s metrics push (``tests/metrics``). Started
on a free ``127.0.0.1`` port, in-memory (no persistence file); the rest is :class:`LoopbackDaemon`'s.
"""

from __future__ import annotations

from chaos.demo.daemon import LoopbackDaemon, find_binary

PUSHGATEWAY_BINARY = "/usr/bin/prometheus-pushgateway"


class PushgatewayServer(LoopbackDaemon):
    """A real Pushgateway on a free loopback port: ``with PushgatewayServer() as pg: pg.url``."""

    name = "Pushgateway"

    def __init__(self, *, ready_timeout_s: float = 30.0, stop_timeout_s: float = 10.0) -> None:
        super().__init__(find_binary(PUSHGATEWAY_BINARY, "prometheus-pushgateway", "pushgateway",
                                     package="prometheus-pushgateway"),
                         ready_timeout_s=ready_timeout_s, stop_timeout_s=stop_timeout_s)

    def args(self, port: int) -> list[str]:
        return [f"--web.listen-address={self.host}:{port}", "--log.level=warn"]
