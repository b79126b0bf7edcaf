"""Aftershock core: experiment model, compiler, SLO monitor, policy engine, run engine and I/O clients.

Never imports Textual or ``tui`` (enforced by import-linter)."""

__version__ = "0.1.0"
