"""Aftershock's Textual terminal UI: browse, launch and watch experiments safely.

Entry point: :func:`tui.app.create_app` (used by ``aftershock tui`` in ``chaos.commands.tui``,
the tests in ``tests/tui`` and ``bench/bench_tui.py``). Talks to Aftershock only through
``chaos.engine`` (events, the ``EngineAPI`` protocol), ``chaos.model``, ``chaos.loading`` and
``chaos.compiling``.
"""

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's discovery entry point, the same as :func:`chaos.discover`.

    ``chaos discover aftershock`` imports ONE top-level package of the distribution: chaoslib takes
    the first name ``importlib.metadata.packages_distributions()`` maps to ``aftershock``, whose order
    is the installer's (``top_level.txt``, or the files of the wheel). Both of the distribution's
    top-level packages (``chaos`` and ``tui``) therefore answer alike, whichever comes first; the
    TUI itself never calls this (tests/interop/test_ctk_discovery.py plays both orders)."""
    import chaos

    return chaos.discover(discover_system)
