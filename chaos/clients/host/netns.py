"""Throwaway network namespaces for probing kernel features without touching the host's interfaces.

Used by :mod:`.capabilities` (is netem / tbf / ``-m statistic`` usable?) and by the kernel-fault tests.
Every namespace is named ``aftershock-<purpose>-<random>`` and deleted in ``finally``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from chaos.clients.host.commands import Runner


@contextmanager
def temporary_netns(purpose: str = "probe", veth: bool = False) -> Iterator[Runner]:
    """Create ``aftershock-<purpose>-<hex>`` with ``lo`` up (and a veth pair ``as0``/``as1`` when
    ``veth``); yields a :class:`Runner` executing inside it; deletes it afterwards."""
    name = f"aftershock-{purpose}-{secrets.token_hex(4)}"
    host = Runner()
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
