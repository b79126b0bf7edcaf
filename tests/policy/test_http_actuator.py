"""The real HTTP degrade/notify actuator against a local server on 127.0.0.1 (started per test)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from chaos.clients.http import HttpActuator
from chaos.errors import ActuatorError
from chaos.policy.actions import RemoveFaults
from chaos.policy.actuators import Actuators, RecordingActuators
from chaos.policy.decisions import Decider
from chaos.policy.executor import apply_all, revert_all
from chaos.policy.ledger import Ledger, final_reverts

from .helpers import config, tick


@dataclass
class Server:
    """A scripted HTTP server: answers the queued statuses (then 200) and records every request."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: threading.Event | None = None
    """When set, requests block until this event is set (to provoke client timeouts)."""


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                   "json": json.loads(body) if body else None})
            if state.hold is not None:
                state.hold.wait(5)
            status = state.statuses.pop(0) if state.statuses else 200
            payload = b'{"ok": true}' if status < 400 else b"fallback broken"
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def degrade_policy(url: str, **http: Any) -> dict[str, Any]:
    return {"name": "fallback", "when": {"slo": "errors"}, "action": "degrade",
            "with": {"http": {"method": "POST", "url": f"{url}/fallback", "json": {"channel": "backup"},
                              "headers": {"X-Token": "t"}, **http},
                     "revert": {"method": "DELETE", "url": f"{url}/fallback"}}}


def first_decision(*docs: dict[str, Any]) -> Any:
    return Decider(config(*docs)).on_tick(tick(0, errors="breached", p95="breached")).decisions[0]


async def test_degrade_and_revert(server: Server) -> None:
    decision = first_decision(degrade_policy(server.url))
    async with HttpActuator(backoff_s=0.001) as http:
        handle = await http.apply_degrade(decision)
        assert await http.apply_degrade(decision) == handle  # same id: no second request
        await http.revert_degrade(handle)
        await http.revert_degrade(handle)
    assert [(r["method"], r["path"], r["json"]) for r in server.requests] == [
        ("POST", "/fallback", {"channel": "backup"}), ("DELETE", "/fallback", None)]
    assert server.requests[0]["headers"]["X-Token"] == "t"


async def test_retries_transient_errors_with_backoff(server: Server) -> None:
    server.statuses = [503, 502]
    decision = first_decision(degrade_policy(server.url, retries=2))
    async with HttpActuator(backoff_s=0.001) as http:
        await http.apply_degrade(decision)
    assert len(server.requests) == 3


async def test_gives_up_after_with_retries(server: Server) -> None:
    server.statuses = [503, 503, 503, 503]
    decision = first_decision(degrade_policy(server.url, retries=1))
    async with HttpActuator(backoff_s=0.001) as http:
        with pytest.raises(ActuatorError, match=r"answered 503, expected 200/201/202/204.*after 2 attempts"):
            await http.apply_degrade(decision)
    assert len(server.requests) == 2


async def test_unexpected_status_fails_at_once(server: Server) -> None:
    server.statuses = [404]
    decision = first_decision(degrade_policy(server.url, expectStatus=[200]))
    async with HttpActuator(backoff_s=0.001) as http:
        with pytest.raises(ActuatorError, match="answered 404, expected 200: fallback broken"):
            await http.apply_degrade(decision)
    assert len(server.requests) == 1


async def test_timeout_is_an_actuator_error(server: Server) -> None:
    server.hold = threading.Event()
    decision = first_decision(degrade_policy(server.url, timeout="100ms", retries=0))
    async with HttpActuator(backoff_s=0.001) as http:
        with pytest.raises(ActuatorError, match=r"timed out after 0\.1s") as caught:
            await http.apply_degrade(decision)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_endpoint_down_is_a_clear_error(dead_url: str) -> None:
    decision = first_decision(degrade_policy(dead_url, retries=1))
    async with HttpActuator(backoff_s=0.001) as http:
        with pytest.raises(ActuatorError, match=rf"degrade fallback#1: POST {dead_url}/fallback is unreachable") as caught:
            await http.apply_degrade(decision)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_endpoint_down_escalates_to_rollback_in_the_decider(dead_url: str) -> None:
    decider = Decider(config(degrade_policy(dead_url, retries=0)))
    world = RecordingActuators.with_faults("f1", "f2")
    ledger = Ledger()
    for f in ("f1", "f2"):
        ledger.record_injection(f)
    async with HttpActuator(backoff_s=0.001) as http:
        actuators = Actuators(remover=world, degrader=http)
        step = decider.on_tick(tick(0, errors="breached"))
        outcomes = await apply_all(step.decisions, actuators, ledger, at=0)
        assert not outcomes[0].ok and "unreachable" in outcomes[0].error
        step = decider.on_tick(tick(1, errors="breached"), outcomes)
        assert [(d.id, d.cause, d.action) for d in step.decisions] == [
            ("fallback#1.on-failure", "failure", RemoveFaults(("f1", "f2")))]
        assert (await apply_all(step.decisions, actuators, ledger, at=1))[0].ok
    assert world.faults == {} and final_reverts(ledger) == []


async def test_end_of_run_reverts_the_http_degrade(server: Server) -> None:
    decider = Decider(config(degrade_policy(server.url)))
    ledger = Ledger()
    async with HttpActuator(backoff_s=0.001) as http:
        actuators = Actuators(degrader=http)
        await apply_all(decider.on_tick(tick(0, errors="breached")).decisions, actuators, ledger)
        outcomes = await revert_all(final_reverts(ledger), actuators, ledger)
    assert [o.ok for o in outcomes] == [True]
    assert [r["method"] for r in server.requests] == ["POST", "DELETE"]


async def test_notify_posts_slack_compatible_evidence(server: Server) -> None:
    notify = {"name": "page", "when": {"slo": "p95"}, "action": "notify",
              "with": {"url": f"{server.url}/hook", "headers": {"Authorization": "Bearer x"}}}
    rollback = {"name": "fast-rollback", "when": {"slo": "p95"}, "action": "rollback"}
    decision = first_decision(notify, rollback)
    async with HttpActuator(backoff_s=0.001) as http:
        await http.notify(decision)
        await http.notify(decision)
    (request,) = server.requests
    body = request["json"]
    assert request["headers"]["Authorization"] == "Bearer x"
    assert body["text"].startswith("[aftershock] exp: policy page — p95 breached (value 0.9, objective < 0.8)")
    assert "also: fast-rollback#1: remove faults f1, f2" in body["text"]
    assert body["decision"] == "page#1" and body["evidence"]["slo"] == "p95"
    assert body["evidence"]["series"] == [{"labels": {"service": "order"}, "value": 0.9}]


async def test_notify_endpoint_down(dead_url: str) -> None:
    decision = first_decision({"name": "page", "when": {"slo": "p95"}, "action": "notify",
                               "with": {"url": f"{dead_url}/hook"}})
    async with HttpActuator(backoff_s=0.001, notify_retries=0) as http:
        with pytest.raises(ActuatorError, match=r"notify page#1: POST .* is unreachable"):
            await http.notify(decision)


async def test_refuses_kubernetes_degrades() -> None:
    kube = {"name": "flags", "when": {"slo": "errors"}, "action": "degrade",
            "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "f", "data": {"a": "b"}}}}}
    async with HttpActuator() as http:
        with pytest.raises(ActuatorError, match="only applies HTTP degrades"):
            await http.apply_degrade(first_decision(kube))
