"""Kernel bandwidth limits with ``tc tbf`` on an explicitly named interface; netem where it exists.

Callers: the run engine and ``aftershock recover``. Our root qdiscs carry the fixed handle
``a5c0:`` (that is how they are recognised as ours), and a marker file in ``pid_dir`` records which
run owns which interface. ``lo`` is refused on the host (a loopback tbf throttles all local traffic);
inside a namespace the caller created it is allowed. An interface whose root qdisc is not a kernel
default is refused (we never replace someone else's shaping). netem is detected, and its absence is
reported as :class:`chaos.errors.CapabilityMissing`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from chaos.clients.host import watchdog
from chaos.clients.host.commands import CommandFailed, Runner
from chaos.clients.host.iptables import comment_for
from chaos.errors import CapabilityMissing, PreflightRefused

HANDLE = "a5c0:"
DEFAULT_QDISCS = frozenset({"noqueue", "pfifo_fast", "fq_codel", "mq", "fq", "pfifo", "noop", "cake"})
NETEM_MISSING = ("tc netem is not available in this kernel (sch_netem missing); network-delay/duplicate/"
                 "corrupt on this host need the fault proxy, or a kernel with CONFIG_NET_SCH_NETEM")


@dataclass(frozen=True)
class TcQdisc:
    interface: str
    kind: str
    run_id: str = ""
    fault: str = ""
    netns: str | None = None
    watchdog_pid: int | None = None


class TcFaults:
    def __init__(self, pid_dir: Path, runner: Runner = Runner()) -> None:
        self.pid_dir = pid_dir
        self.runner = runner

    def add_bandwidth(self, run_id: str, fault: str, interface: str, rate_bytes_per_s: int, deadline: float,
                      *, burst_bytes: int | None = None, latency_ms: int = 400) -> TcQdisc:
        """Limit egress of ``interface`` to ``rate_bytes_per_s`` with a root tbf until ``deadline``."""
        comment_for(run_id, fault)
        self._preflight(interface, deadline)
        if rate_bytes_per_s <= 0:
            raise PreflightRefused(f"bandwidth rate must be > 0, got {rate_bytes_per_s}")
        burst = burst_bytes or max(16 * 1024, rate_bytes_per_s // 10)
        add = ["tc", "qdisc", "add", "dev", interface, "root", "handle", HANDLE, "tbf",
               "rate", f"{rate_bytes_per_s * 8}bit", "burst", str(burst), "latency", f"{latency_ms}ms"]
        return self._install(run_id, fault, interface, "tbf", add, deadline)

    def add_netem(self, run_id: str, fault: str, interface: str, deadline: float, netem_args: list[str]) -> TcQdisc:
        """A root netem qdisc (delay/loss/duplicate/corrupt args); CapabilityMissing where netem is absent."""
        comment_for(run_id, fault)
        self._preflight(interface, deadline)
        add = ["tc", "qdisc", "add", "dev", interface, "root", "handle", HANDLE, "netem", *netem_args]
        return self._install(run_id, fault, interface, "netem", add, deadline)

    def list_qdiscs(self) -> list[TcQdisc]:
        """Our root qdiscs (handle ``a5c0:``), with their owners where the marker files know them."""
        done = self.runner.run(["tc", "qdisc", "show"])
        found = []
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] == "qdisc" and parts[2] == HANDLE and "dev" in parts:
                interface = parts[parts.index("dev") + 1]
                owner = self._read_marker(interface)
                found.append(TcQdisc(interface, parts[1], owner.get("run_id", ""), owner.get("fault", ""),
                                     self.runner.netns))
        return found

    def remove(self, interface: str, run_id: str = "", fault: str = "") -> bool:
        """Remove our root qdisc on ``interface``; False when none was there. With ``run_id`` and
        ``fault`` (a record's), only the qdisc whose marker names that run and fault: an ``a5c0:`` qdisc
        another run installed on the same interface (or one no marker claims) is left alone."""
        owner = self._read_marker(interface)
        if run_id and (owner.get("run_id"), owner.get("fault")) != (run_id, fault):
            return False
        ours = any(q.interface == interface for q in self.list_qdiscs())
        if ours:
            self.runner.run(["tc", "qdisc", "del", "dev", interface, "root", "handle", HANDLE], check=False)
        if owner:
            watchdog.disarm_run(self.pid_dir, owner["run_id"], owner["fault"])
        self._marker(interface).unlink(missing_ok=True)
        return ours

    def remove_run(self, run_id: str) -> list[TcQdisc]:
        gone = [q for q in self.list_qdiscs() if q.run_id == run_id and self.remove(q.interface, run_id, q.fault)]
        watchdog.disarm_run(self.pid_dir, run_id)
        return gone

    def _preflight(self, interface: str, deadline: float) -> None:
        if not interface:
            raise PreflightRefused("tc faults need an explicitly named interface")
        if interface == "lo" and self.runner.netns is None:
            raise PreflightRefused("refusing tc on the host's loopback: it would throttle all local traffic",
                                   ["name a real interface, or use the fault proxy's bandwidth fault"])
        if deadline <= time.time():
            raise PreflightRefused("deadline is in the past")
        shown = self.runner.run(["tc", "qdisc", "show", "dev", interface, "root"]).stdout.split()
        current = shown[1] if len(shown) > 1 and shown[0] == "qdisc" else "noqueue"
        if current not in DEFAULT_QDISCS:
            raise PreflightRefused(f"{interface} already has a {current} root qdisc; refusing to replace it")

    def _install(self, run_id: str, fault: str, interface: str, kind: str, add: list[str],
                 deadline: float) -> TcQdisc:
        remove = ["tc", "qdisc", "del", "dev", interface, "root", "handle", HANDLE]
        check = ["tc", "qdisc", "show", "dev", interface, "root"]
        pid = watchdog.arm(deadline=deadline, check=self.runner.argv(check), remove=self.runner.argv(remove),
                           pid_dir=self.pid_dir, run_id=run_id, label=fault, expect=f" {HANDLE} ")
        self._marker(interface).write_text(json.dumps({"run_id": run_id, "fault": fault, "deadline": deadline}))
        try:
            self.runner.run(add)
        except CommandFailed as exc:
            watchdog.disarm_run(self.pid_dir, run_id, fault)
            self._marker(interface).unlink(missing_ok=True)
            if kind == "netem" and "unknown" in exc.stderr.lower():
                raise CapabilityMissing(NETEM_MISSING) from exc
            raise
        except Exception:
            watchdog.disarm_run(self.pid_dir, run_id, fault)
            self._marker(interface).unlink(missing_ok=True)
            raise
        return TcQdisc(interface, kind, run_id, fault, self.runner.netns, pid)

    def _marker(self, interface: str) -> Path:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        return self.pid_dir / f"tc-{self.runner.netns or 'host'}-{interface}.json"

    def _read_marker(self, interface: str) -> dict[str, str]:
        try:
            data = json.loads(self._marker(interface).read_text())
        except (OSError, ValueError):
            return {}
        return {"run_id": str(data.get("run_id", "")), "fault": str(data.get("fault", ""))}
