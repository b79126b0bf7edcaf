"""Pre-flight of the host target: which kernel faults this machine can realise, and how to fix gaps.

Callers: ``aftershock doctor`` (:func:`doctor_report`) and the run engine's pre-flight
(:func:`require` before injecting a kernel fault). Kernel features are probed inside a throwaway
network namespace (:mod:`.netns`), never on the host's own interfaces.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field

from chaos import registry
from chaos.clients.host.commands import CommandFailed, Runner
from chaos.clients.host.netns import temporary_netns
from chaos.errors import CapabilityMissing, ChaosError

CAP_NET_ADMIN = 12


@dataclass(frozen=True)
class Capability:
    """One host capability: whether it is there, and what was found."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class CapabilityReport:
    """The host's capabilities by name."""

    items: dict[str, Capability] = field(default_factory=dict)

    def ok(self, name: str) -> bool:
        item = self.items.get(name)
        return item is not None and item.ok

    def rows(self) -> list[tuple[str, bool, str]]:
        return [(c.name, c.ok, c.detail if c.ok or not c.fix else f"{c.detail} — fix: {c.fix}")
                for c in self.items.values()]


ALIASES = {"loss": "network-loss", "partition": "network-partition", "bandwidth": "network-bandwidth",
           "netem": "network-delay", "delay": "network-delay"}


def _net_admin() -> Capability:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            caps = next((line.split()[1] for line in handle if line.startswith("CapEff:")), "0")
        ok = bool(int(caps, 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        ok = os.geteuid() == 0
    return Capability("net_admin", ok, f"euid {os.geteuid()}, CAP_NET_ADMIN {'present' if ok else 'missing'}",
                      "run as root or grant CAP_NET_ADMIN (e.g. setcap / a privileged container)")


def _binary(name: str, version_argv: list[str], fix: str) -> tuple[Capability, str]:
    path = shutil.which(name)
    if path is None:
        return Capability(name, False, f"`{name}` not found on PATH", fix), ""
    try:
        done = Runner().run(version_argv, check=False)
        version = (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    except ChaosError as exc:
        version = str(exc)
    return Capability(name, True, f"{path} {version}".strip()), version


def _probe_in_netns(caps: dict[str, Capability], have_iptables: bool, have_tc: bool) -> None:
    tests: list[tuple[str, list[str], str, str]] = []
    if have_iptables:
        tests += [
            ("iptables_comment", ["iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-m", "comment",
                                  "--comment", "aftershock:probe:comment", "-j", "DROP"],
             "-m comment works", "load the xt_comment module / install iptables extensions"),
            ("iptables_statistic", ["iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-m", "statistic",
                                    "--mode", "random", "--probability", "0.5", "-m", "comment",
                                    "--comment", "aftershock:probe:statistic", "-j", "DROP"],
             "-m statistic --mode random works", "load the xt_statistic module"),
        ]
    if have_tc:
        tests += [
            ("tc_tbf", ["tc", "qdisc", "add", "dev", "as0", "root", "tbf", "rate", "1mbit", "burst", "32kbit",
                        "latency", "400ms"], "tbf qdisc available", "load the sch_tbf module"),
            ("tc_netem", ["tc", "qdisc", "add", "dev", "as1", "root", "netem", "delay", "1ms"],
             "netem qdisc available", "use a kernel with CONFIG_NET_SCH_NETEM (sch_netem); until then "
             "delay/duplicate/corrupt go through the fault proxy or are refused"),
        ]
    with temporary_netns("probe", veth=True) as inside:
        for name, argv, good, fix in tests:
            try:
                inside.run(argv)
                caps[name] = Capability(name, True, good + " (probed in a throwaway netns)")
            except CommandFailed as exc:
                reason = exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else f"exit {exc.returncode}"
                caps[name] = Capability(name, False, f"not available: {reason}", fix)


def probe() -> CapabilityReport:
    """Probe this host (creates and deletes one throwaway netns when permitted)."""
    caps: dict[str, Capability] = {}
    caps["net_admin"] = _net_admin()
    ipt, version = _binary("iptables", ["iptables", "--version"], "install iptables (nf_tables or legacy)")
    caps["iptables"] = ipt
    backend = re.search(r"\((nf_tables|legacy)\)", version)
    caps["iptables_backend"] = Capability("iptables_backend", ipt.ok and backend is not None,
                                          backend.group(1) if backend else "unknown backend",
                                          "" if backend else "install iptables >= 1.8")
    caps["tc"], _ = _binary("tc", ["tc", "-V"], "install iproute2")
    caps["ip"], _ = _binary("ip", ["ip", "-V"], "install iproute2")
    probed = ("iptables_comment", "iptables_statistic", "tc_tbf", "tc_netem")
    if caps["net_admin"].ok and caps["ip"].ok:
        try:
            _probe_in_netns(caps, caps["iptables"].ok, caps["tc"].ok)
        except ChaosError as exc:
            for name in probed:
                caps.setdefault(name, Capability(name, False, f"could not probe: {exc}"))
    for name in probed:
        caps.setdefault(name, Capability(name, False, "not probed (needs root, ip, iptables/tc)",
                                         "run `aftershock doctor` as root"))
    return CapabilityReport(caps)


def require(kind: str, report: CapabilityReport | None = None) -> None:
    """Raise :class:`CapabilityMissing` naming what ``kind`` (a fault type) needs and how to fix it
    (its kind's ``HostRealisation.capabilities``)."""
    fault_kind = registry.faults.get(ALIASES.get(kind, kind))
    needs = fault_kind.host.capabilities if fault_kind is not None and fault_kind.host is not None else ()
    if not needs:
        return  # realised by the fault proxy or by the kind itself: no kernel capability needed
    report = report or probe()
    missing = [report.items[n] for n in needs if not report.ok(n)]
    if missing:
        lines = "; ".join(f"{c.name}: {c.detail}" + (f" (fix: {c.fix})" if c.fix else "") for c in missing)
        raise CapabilityMissing(f"this host cannot realise {kind} with kernel tools: {lines}")


def doctor_report() -> list[tuple[str, bool, str]]:
    """``(name, ok, detail)`` rows for ``aftershock doctor``."""
    return probe().rows()
