"""The Aftershock Chaos Toolkit extension: what ``chaos discover aftershock`` reports.

Chaos Toolkit imports the distribution's top-level package (``chaos``) and calls its
``discover``; that delegates here. Probes live in :mod:`chaos.interop.ctk_probes`, actions in
:mod:`chaos.interop.ctk_actions`, the control in :mod:`chaos.interop.ctk_guard`.
"""

from __future__ import annotations

from typing import Any

from chaos.interop.ctk import ACTIONS, GUARD, PROBES

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Discovery document: the probes, the actions and the control (chaoslib's discovery format)."""
    from chaoslib.discovery.discover import discover_actions, discover_probes, initialize_discovery_result

    from chaos.version import __version__

    result: dict[str, Any] = initialize_discovery_result("aftershock", __version__, "aftershock")
    result["activities"].extend(discover_probes(PROBES))
    result["activities"].extend(discover_actions(ACTIONS))
    result["controls"] = [{"name": "aftershock-slo-guard", "module": GUARD,
                           "doc": "Aftershock's SLO monitor and policies in the background of a run"}]
    if discover_system:
        from chaos.clients.host import capabilities

        result["system"] = {"host": [{"capability": name, "available": ok, "detail": detail}
                                     for name, ok, detail in capabilities.probe().rows()]}
    return result
