"""Aftershock core: experiment model, compiler, SLO monitor, policy engine, run engine and I/O clients.

Never imports Textual or ``tui`` (enforced by import-linter)."""

from chaos.version import __version__

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> dict[str, object]:
    """``chaos discover aftershock`` (Chaos Toolkit) calls this; see :mod:`chaos.interop.ctk_extension`."""
    from chaos.interop.ctk_extension import discover as _discover

    return _discover(discover_system)
