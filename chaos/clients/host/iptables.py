"""Kernel loss and partition with iptables, every rule labelled ``aftershock:<run-id>:<fault>``.

Callers: the run engine (``add_loss`` / ``add_partition`` after it wrote its write-ahead record, and
``remove`` / ``remove_run`` on rollback) and ``aftershock recover`` (``list_rules`` / ``remove_run``).
Rules only ever go into the ``filter`` table, always with a port or an address (never a blanket DROP),
always with a deadline enforced by a detached :mod:`.watchdog` armed *before* the rule is added.
Only rules whose comment starts with ``aftershock:`` are ever listed or removed.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from chaos.clients.host import watchdog
from chaos.clients.host.commands import Runner
from chaos.errors import PreflightRefused, TargetError

PREFIX = "aftershock:"
CHAINS = ("INPUT", "OUTPUT", "FORWARD")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class KernelRule:
    """One of our iptables rules: ``iptables -t <table> -A <chain> <spec...>``."""

    chain: str
    spec: tuple[str, ...]
    comment: str
    table: str = "filter"
    netns: str | None = None
    watchdog_pid: int | None = None

    @property
    def run_id(self) -> str:
        return self.comment.split(":")[1]

    @property
    def fault(self) -> str:
        return self.comment.split(":", 2)[2]

    def command(self, op: str) -> list[str]:
        """``op`` is ``-I`` (insert first), ``-C`` (check) or ``-D`` (delete)."""
        position = ["1"] if op == "-I" else []
        return ["iptables", "-w", "5", "-t", self.table, op, self.chain, *position, *self.spec]


def comment_for(run_id: str, fault: str) -> str:
    for value, what in ((run_id, "run id"), (fault, "fault name")):
        if not _NAME.match(value):
            raise PreflightRefused(f"{what} {value!r} cannot label an iptables rule",
                                   ["use letters, digits, '.', '_' or '-' (at most 63)"])
    return f"{PREFIX}{run_id}:{fault}"


class IptablesFaults:
    """Add / list / remove our iptables rules, on the host or inside ``runner.netns``.

    ``pid_dir`` holds the watchdogs' pid files (a directory of the caller's state dir).
    """

    def __init__(self, pid_dir: Path, runner: Runner = Runner()) -> None:
        self.pid_dir = pid_dir
        self.runner = runner

    def add_loss(self, run_id: str, fault: str, percent: float, deadline: float, *, port: int | None = None,
                 address: str | None = None, protocol: str = "tcp", chain: str = "INPUT") -> KernelRule:
        """Drop ``percent`` % of packets to ``port`` (and/or from/to ``address``) until ``deadline``."""
        if not 0 < percent <= 100:
            raise PreflightRefused(f"loss percent must be within (0, 100], got {percent}")
        return self._add(run_id, fault, deadline, percent, port, address, protocol, chain)

    def add_partition(self, run_id: str, fault: str, deadline: float, *, port: int | None = None,
                      address: str | None = None, protocol: str = "tcp", chain: str = "INPUT") -> KernelRule:
        """Drop every packet to ``port`` (and/or from/to ``address``) until ``deadline``."""
        return self._add(run_id, fault, deadline, 100.0, port, address, protocol, chain)

    def list_rules(self) -> list[KernelRule]:
        """Our rules (comment ``aftershock:...``) in the filter table, as the kernel has them."""
        done = self.runner.run(["iptables", "-w", "5", "-t", "filter", "-S"])
        rules = []
        for line in done.stdout.splitlines():
            if not line.startswith("-A ") or PREFIX not in line:
                continue
            tokens = shlex.split(line)
            if "--comment" not in tokens:
                continue
            comment = tokens[tokens.index("--comment") + 1]
            if comment.startswith(PREFIX) and comment.count(":") >= 2:
                rules.append(KernelRule(chain=tokens[1], spec=tuple(tokens[2:]), comment=comment,
                                        netns=self.runner.netns))
        return rules

    def remove(self, rule: KernelRule) -> bool:
        """Remove ``rule`` (and stop its watchdog); False when it was already gone."""
        if not rule.comment.startswith(PREFIX):
            raise TargetError(f"refusing to remove a rule that is not ours: {rule.comment!r}")
        removed = self.runner.run(rule.command("-D"), check=False).returncode == 0
        watchdog.disarm_run(self.pid_dir, rule.run_id, rule.fault)
        return removed

    def remove_fault(self, run_id: str, fault: str) -> list[KernelRule]:
        comment = comment_for(run_id, fault)
        gone = [rule for rule in self.list_rules() if rule.comment == comment and self.remove(rule)]
        watchdog.disarm_run(self.pid_dir, run_id, fault)
        return gone

    def remove_run(self, run_id: str) -> list[KernelRule]:
        """Remove every rule of ``run_id`` and stop its pending watchdogs (``aftershock recover``)."""
        gone = [rule for rule in self.list_rules() if rule.run_id == run_id and self.remove(rule)]
        watchdog.disarm_run(self.pid_dir, run_id)
        return gone

    def _add(self, run_id: str, fault: str, deadline: float, percent: float, port: int | None,
             address: str | None, protocol: str, chain: str) -> KernelRule:
        comment = comment_for(run_id, fault)
        if chain not in CHAINS:
            raise PreflightRefused(f"chain must be one of {', '.join(CHAINS)}, got {chain!r}")
        if port is None and not address:
            raise PreflightRefused(f"fault {fault!r}: a kernel fault needs a port or an address",
                                   ["Aftershock never drops all traffic of a host"])
        if deadline <= time.time():
            raise PreflightRefused(f"fault {fault!r}: deadline is in the past")
        if protocol not in ("tcp", "udp"):
            raise PreflightRefused(f"protocol must be tcp or udp, got {protocol!r}")
        spec: list[str] = ["-p", protocol]
        if port is not None:
            if not 0 < port < 65536:
                raise PreflightRefused(f"invalid port {port}")
            spec += ["--dport", str(port)]
        if address:
            spec += ["-s" if chain == "INPUT" else "-d", address]
        if percent < 100:
            spec += ["-m", "statistic", "--mode", "random", "--probability", f"{percent / 100:.6f}"]
        spec += ["-m", "comment", "--comment", comment, "-j", "DROP"]
        rule = KernelRule(chain=chain, spec=tuple(spec), comment=comment, netns=self.runner.netns)
        if any(existing.comment == comment for existing in self.list_rules()):
            raise TargetError(f"a rule labelled {comment} already exists; remove it first")
        pid = watchdog.arm(deadline=deadline, check=self.runner.argv(rule.command("-C")),
                           remove=self.runner.argv(rule.command("-D")), pid_dir=self.pid_dir,
                           run_id=run_id, label=fault)
        try:
            self.runner.run(rule.command("-I"))
        except Exception:
            watchdog.disarm_run(self.pid_dir, run_id, fault)
            raise
        return KernelRule(chain=chain, spec=rule.spec, comment=comment, netns=self.runner.netns,
                          watchdog_pid=pid)
