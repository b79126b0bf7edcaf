"""Shell completion of values that live in the state directory (Click's ``shell_complete``): run ids
for ``show``, ``report`` and ``recover --run``, schedule names for ``gameday pause|resume``.

Completion runs on every <TAB>: it reads the state DB of ``--state-dir`` (or
``$AFTERSHOCK_STATE_DIR``, or the default) and never fails loudly — no state yet means no candidates.
Enable it with ``eval "$(_AFTERSHOCK_COMPLETE=bash_source aftershock)"`` (zsh_source, fish_source;
docs/completion.md)."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import CompletionItem


def _state_dir(ctx: click.Context) -> Path | None:
    """The state directory asked for, or None when it has no state DB yet (a TAB creates nothing)."""
    from chaos.clients.state import default_state_dir

    given = ctx.params.get("state_dir")
    path = Path(given) if given else default_state_dir()
    return path if (path / "state.db").is_file() else None


def run_ids(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Run ids, newest first, each with its experiment and verdict as the help text."""
    try:
        from chaos.clients.state import StateStore

        where = _state_dir(ctx)
        if where is None:
            return []
        rows = StateStore(where).runs(200)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(r.id, help=f"{r.experiment} {r.verdict or ('running' if r.alive else 'died')}")
            for r in rows if r.id.startswith(incomplete)]


def schedule_names(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Names of the schedules the state DB knows (what ``gameday list`` shows)."""
    try:
        from chaos.clients.schedule_store import ScheduleStore

        where = _state_dir(ctx)
        if where is None:
            return []
        rows = ScheduleStore(where).schedules()
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(r.name) for r in rows if r.name.startswith(incomplete)]
