"""Failure modes against real processes: Prometheus stopped mid-run, refused queries, HTTP errors,
a server that never answers, de-duplication, and per-monitor connection settings."""

from __future__ import annotations

import asyncio
import base64
import selectors
import socket
import threading
import time

import pytest

from chaos.clients.prometheus import PrometheusClient, PrometheusUnreachable
from chaos.demo.prometheus import PrometheusServer
from chaos.slo.monitoring import Monitor, verdicts_of
from chaos.slo.verdicts import MONITOR

from .conftest import Forwarder, slo, spec

ONE = slo("one", "vector(1)", "==", 1)


async def test_fails_closed_when_prometheus_stops_and_recovers_on_restart() -> None:
    with PrometheusServer() as server:
        async with Monitor(spec(server.url, error_tolerance=2, timeout="1s")) as monitor:
            monitor.add("run", [ONE])
            assert verdicts_of(await monitor.tick(), "run")[MONITOR].status == "ok"
            server.stop()
            first = verdicts_of(await monitor.tick(), "run")
            assert first["one"].status == "no-data" and first["one"].failure == "unreachable"
            assert first[MONITOR].status == "no-data" and not first[MONITOR].breached
            second = verdicts_of(await monitor.tick(), "run")
            assert second["one"].status == "unavailable" and second[MONITOR].status == "unavailable"
            assert second[MONITOR].breached and "cannot connect" in second[MONITOR].error
            server.start()
            back = verdicts_of(await monitor.tick(), "run")
            assert back["one"].status == "ok" and back[MONITOR].status == "ok" and back[MONITOR].failed_polls == 0


async def test_bad_promql_is_a_refused_query(prom: PrometheusServer) -> None:
    async with Monitor(spec(prom.url)) as monitor:
        monitor.add("run", [slo("bad", "sum(rate(x[1m]", "<", 1), ONE])
        verdicts = verdicts_of(await monitor.tick(), "run")
    assert verdicts["bad"].failure == "query" and "bad_data" in verdicts["bad"].error
    assert verdicts["one"].status == "ok"


@pytest.mark.parametrize(("status", "payload", "failure", "text"), [
    (503, {"status": "error", "errorType": "timeout", "error": "query timed out"}, "unreachable", "HTTP 503"),
    (401, {"message": "unauthorised"}, "unreachable", "HTTP 401"),
    (422, {"status": "error", "errorType": "execution", "error": "many-to-many"}, "query", "execution"),
    (200, {"status": "error", "errorType": "internal", "error": "boom"}, "query", "without data"),
])
async def test_http_errors_and_status_error(forwarder: Forwarder, status: int, payload: dict[str, str],
                                            failure: str, text: str) -> None:
    forwarder.fail_with(status, payload)
    async with Monitor(spec(forwarder.url, error_tolerance=1)) as monitor:
        verdict = (await monitor.evaluate_now([ONE])).verdicts[0]
    assert verdict.failure == failure and text in verdict.error
    assert len(forwarder.queries) == 1  # no retries: errorTolerance is the retry policy


async def test_slow_prometheus_does_not_delay_another_monitor(prom: PrometheusServer, blackhole: str) -> None:
    slow = Monitor(spec(blackhole, timeout="1s"))
    fast = Monitor(spec(prom.url, timeout="1s"))
    slow.add("a", [ONE])
    fast.add("b", [ONE])

    async def timed(monitor: Monitor) -> tuple[float, dict]:
        started = time.perf_counter()
        ticks = await monitor.tick()
        return time.perf_counter() - started, ticks

    (slow_s, slow_ticks), (fast_s, fast_ticks) = await asyncio.gather(timed(slow), timed(fast))
    await slow.aclose()
    await fast.aclose()
    assert verdicts_of(fast_ticks, "b")["one"].status == "ok" and fast_s < 0.6
    v = verdicts_of(slow_ticks, "a")["one"]
    assert v.failure == "unreachable" and "within 1s" in v.error
    assert 0.95 <= slow_s < 2.5


class HungServer:
    """Accepts connections and never answers; counts how many are open at once (a thread watching
    each for the client's close), so the bound is checked without relying on timer order."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.opened = self.most_at_once = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    if key.fileobj is self.sock:
                        conn, _ = self.sock.accept()
                        sel.register(conn, selectors.EVENT_READ)
                        self.opened += 1
                        self.most_at_once = max(self.most_at_once, len(sel.get_map()) - 1)
                    elif not key.fileobj.recv(65536):  # the client closed it
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
            for key in list(sel.get_map().values()):
                key.fileobj.close()

    def __enter__(self) -> HungServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_connections_are_bounded_and_waiting_is_bounded_by_the_timeout() -> None:
    with HungServer() as hung:
        async with Monitor(spec(hung.url, timeout="300ms", max_concurrency=2)) as monitor:
            outcomes = await asyncio.gather(*(monitor.client.query(f"vector({i})", time.time()) for i in range(4)),
                                            return_exceptions=True)
        assert all(isinstance(o, PrometheusUnreachable) and "within 0.3s" in str(o) for o in outcomes)
    # max_concurrency connections at once; the other queries waited for one, then gave up at their timeout
    # (one may get a connection freed by a query that gave up a moment before it)
    assert hung.most_at_once == 2 and 2 <= hung.opened <= 4


async def test_identical_queries_are_sent_once_per_tick(forwarder: Forwarder) -> None:
    async with Monitor(spec(forwarder.url)) as monitor:
        monitor.add("run-1", [slo("a", "vector(1)", "==", 1), slo("b", "vector(1)", "<", 2),
                              slo("c", " vector(2) ", "==", 2)])
        monitor.add("run-2", [slo("a", "vector(1)", "==", 1), slo("z", "vector(3)", "==", 3)])
        ticks = await monitor.tick()
        [batch] = forwarder.queries  # one request per tick, each distinct query once in it
        assert [batch.count(f"(vector({i}))") for i in (1, 2, 3)] == [1, 1, 1]
        assert monitor.last_tick_queries == 3 and monitor.last_tick_requests == 1
        assert set(ticks) == {"run-1", "run-2"}
        assert all(v.status == "ok" for t in ticks.values() for v in t.verdicts)
        assert len({v.eval_time for t in ticks.values() for v in t.verdicts}) == 1
        monitor.remove("run-1")
        forwarder.reset()
        ticks = await monitor.tick()
        [batch] = forwarder.queries
        assert set(ticks) == {"run-2"} and "vector(2)" not in batch and "(vector(3))" in batch


async def test_connection_settings_are_per_monitor_and_secret(prom: PrometheusServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text("file-token-b\n")
    fwd_a, fwd_b, fwd_c = Forwarder(prom.url), Forwarder(prom.url), Forwarder(prom.url)
    environ = {"TOKEN_A": "env-token-a", "PASS_C": "s3cret"}
    try:
        a = Monitor(spec(fwd_a.url, bearer_token_env="TOKEN_A", headers={"X-Tenant": "a"}), environ=environ)
        b = Monitor(spec(fwd_b.url, bearer_token_file=str(token_file), headers={"X-Tenant": "b"}))
        c = Monitor(spec(fwd_c.url, basic_auth={"username": "u", "password_env": "PASS_C"}), environ=environ)
        for m in (a, b, c):
            m.add("r", [ONE])
        results = await asyncio.gather(a.tick(), b.tick(), c.tick())
        assert all(verdicts_of(r, "r")["one"].status == "ok" for r in results)
        assert [h["authorization"] for h in fwd_a.headers] == ["Bearer env-token-a"]
        assert [h["x-tenant"] for h in fwd_a.headers] == ["a"]
        assert [h["authorization"] for h in fwd_b.headers] == ["Bearer file-token-b"]
        assert [h["x-tenant"] for h in fwd_b.headers] == ["b"]
        assert fwd_c.headers[0]["authorization"] == "Basic " + base64.b64encode(b"u:s3cret").decode()
        for m in (a, b, c):
            text = repr(m) + repr(m.client) + repr(vars(m.client))
            assert "env-token-a" not in text and "file-token-b" not in text and "s3cret" not in text
            assert base64.b64encode(b"u:s3cret").decode() not in text  # nor the basic-auth header
            await m.aclose()
    finally:
        for f in (fwd_a, fwd_b, fwd_c):
            f.close()
    with pytest.raises(PrometheusUnreachable, match="TOKEN_MISSING is not set"):
        PrometheusClient(spec(prom.url, bearer_token_env="TOKEN_MISSING"), environ={})
