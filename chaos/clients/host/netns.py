"""Throwaway network namespaces for probing kernel features without touching the host's interfaces.

Used by :mod:`.capabilities` (is netem / tbf / ``-m statistic`` usable?) and by the kernel-fault tests.
Every namespace is named ``aftershock-<purpose>-<pid>-<random>`` and deleted in ``finally``; one left by
a process killed inside the block (kill -9 during a pre-flight's capability probe) is deleted by the
next :func:`temporary_netns` of any process, once its owner's pid is gone (:func:`sweep_dead`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos.clients.host.commands import Runner

NETNS_DIR = Path("/run/netns")
_OURS = re.compile(r"aftershock-[a-z0-9]+-(\d+)-[0-9a-f]{8}")


def sweep_dead(host: Runner | None = None) -> list[str]:
    """Delete the temporary namespaces whose creating process is gone; their names."""
    try:
        names = [p.name for p in NETNS_DIR.iterdir()]
    except OSError:
        return []
    gone = []
    for name in names:
        found = _OURS.fullmatch(name)
        if found and not Path(f"/proc/{found[1]}").exists():
            (host or Runner()).run(["ip", "netns", "del", name], check=False)
            gone.append(name)
    return gone


@contextmanager
def temporary_netns(purpose: str = "probe", veth: bool = False) -> Iterator[Runner]:
    """Create ``aftershock-<purpose>-<pid>-<hex>`` with ``lo`` up (and a veth pair ``as0``/``as1`` when
    ``veth``); yields a :class:`Runner` executing inside it; deletes it afterwards."""
    host = Runner()
    sweep_dead(host)
    name = f"aftershock-{purpose}-{os.getpid()}-{secrets.token_hex(4)}"
    host.run(["ip", "netns", "add", name])
    try:
        inside = Runner(netns=name)
        inside.run(["ip", "link", "set", "lo", "up"])
        if veth:
            inside.run(["ip", "link", "add", "as0", "type", "veth", "peer", "name", "as1"])
            inside.run(["ip", "link", "set", "as0", "up"])
            inside.run(["ip", "link", "set", "as1", "up"])
        yield inside
    finally:
        host.run(["ip", "netns", "del", name], check=False)
