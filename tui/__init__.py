"""Aftershock's Textual terminal UI: browse, launch and watch experiments safely.

Entry point: :func:`tui.app.create_app` (used by ``aftershock tui`` in ``chaos.commands.tui``,
the tests in ``tests/tui`` and ``bench/bench_tui.py``). Talks to Aftershock only through
``chaos.engine`` (events, the ``EngineAPI`` protocol), ``chaos.model``, ``chaos.loading`` and
``chaos.compiling``.
"""
