"""Traffic helper run *inside* a test network namespace (``ip netns exec NS python netns_traffic.py ...``).

Prints one JSON line with what it measured. Loopback of the namespace only.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time


def udp_loss(port: int, count: int) -> dict[str, int]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 * 1024 * 1024)
    rx.bind(("127.0.0.1", port))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        tx.sendto(i.to_bytes(4, "big"), ("127.0.0.1", port))
    received = 0
    while select.select([rx], [], [], 0.3)[0]:
        rx.recv(64)
        received += 1
    return {"sent": count, "received": received}


def tcp_probe(port: int, timeout: float) -> dict[str, object]:
    server = socket.create_server(("127.0.0.1", port))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return {"connected": True}
    except OSError as exc:
        return {"connected": False, "error": type(exc).__name__}
    finally:
        server.close()


def bulk(port: int, size: int) -> dict[str, float]:
    server = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"x" * size)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        start = time.perf_counter()
        got = 0
        while chunk := client.recv(1 << 20):
            got += len(chunk)
        elapsed = time.perf_counter() - start
    server.close()
    return {"bytes": got, "seconds": elapsed, "rate": got / elapsed}


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "udp-loss":
        print(json.dumps(udp_loss(port, int(sys.argv[3]))))
    elif mode == "tcp-probe":
        print(json.dumps(tcp_probe(port, float(sys.argv[3]))))
    else:
        print(json.dumps(bulk(port, int(sys.argv[3]))))
