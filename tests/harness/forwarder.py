"""A counting HTTP forwarder in front of a real Prometheus: records every request (when, which path,
which queries, which headers) and can answer a forced status instead of forwarding.

Callers: the monitor tests (``tests/monitor/conftest.py``), the engine's pacing test
(``tests/engine/test_pacing.py``) and ``bench/bench_peers.py`` (which counts the SLO queries each
contender sends). Importable as ``harness.forwarder`` (``tests/`` is on ``sys.path`` under pytest;
bench scripts put it there).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Forwarder:
    """Counting HTTP forwarder in front of Prometheus; can answer a forced status instead."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.queries: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.seen: list[tuple[float, str, str]] = []
        """(time, path, the request's queries joined by a space) of every request."""
        self.force: tuple[int, bytes] | None = None
        self.refuse_batches = False
        """Answer 422 to any query joining expressions with ``or`` (a stand-in for Prometheus' sample limit)."""
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def _forward(self, data: bytes | None) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parsed.query)
                if data is not None:
                    params.update(urllib.parse.parse_qs(data.decode()))
                with owner.lock:
                    owner.seen.append((time.time(), parsed.path, " ".join(params.get("query", []))))
                    owner.queries.extend(params.get("query", []))
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    force = owner.force
                    if owner.refuse_batches and any(" or " in q for q in params.get("query", [])):
                        force = (422, json.dumps({"status": "error", "errorType": "execution",
                                                  "error": "query processing would load too many samples"}).encode())
                if force is not None:
                    status, body = force
                else:
                    try:
                        request = urllib.request.Request(owner.target + self.path, data=data)
                        if data is not None:
                            request.add_header("Content-Type", "application/x-www-form-urlencoded")
                        with urllib.request.urlopen(request, timeout=10) as answer:
                            status, body = answer.status, answer.read()
                    except urllib.error.HTTPError as exc:
                        status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.queries.clear()
            self.headers.clear()
            self.seen.clear()

    def fail_with(self, status: int, payload: dict[str, Any]) -> None:
        self.force = (status, json.dumps(payload).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
