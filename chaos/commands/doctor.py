"""``aftershock doctor``: what this machine can do (root/NET_ADMIN, iptables, tc, netem, Prometheus)."""

from __future__ import annotations

import shutil
import sys

import click


@click.command("doctor")
def doctor() -> None:
    """Report the host's capabilities for faults and the demo."""
    from chaos.clients.host.capabilities import doctor_report

    rows = list(doctor_report())
    rows.append(("prometheus", shutil.which("prometheus") is not None,
                 "present" if shutil.which("prometheus") else "missing: apt-get install -y prometheus"))
    rows.append(("promtool", shutil.which("promtool") is not None, "comes with the prometheus package"))
    for name, ok, detail in rows:
        click.echo(f"{'✓' if ok else '✗'} {name}: {detail}")
    sys.exit(0 if all(ok for name, ok, _ in rows if name in ("prometheus",)) else 1)
