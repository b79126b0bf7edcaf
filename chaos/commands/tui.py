"""``aftershock tui``: start the terminal UI over the run engine (``chaos.engine.driver.Engine``).

Registered lazily by ``chaos.cli`` (``chaos.commands.tui:tui``). The ``tui`` package (and
Textual with it) is loaded by name only when the command runs, so ``chaos`` keeps no static
dependency on the UI (import-linter contract ``core-free-of-ui``). To try the TUI without a
cluster, ``aftershock demo`` opens it over the real engine and the embedded demo.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from chaos.commands.options import target_options


def _engine(state_dir: Path | None, **target: Any) -> Any:
    from chaos.engine.driver import Engine
    from chaos.engine.settings import EngineSettings

    return Engine(EngineSettings(state_dir=state_dir, **target))


@click.command("tui")
@click.option("--experiments", "experiments_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("experiments"), show_default=True, help="Directory of experiment files to browse.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Engine state directory (runs, journals, reports).")
@click.option("--light", is_flag=True, help="Start with the light theme (t toggles).")
@target_options
def tui(experiments_dir: Path, state_dir: Path | None, light: bool,
        kubeconfig: str | None, context: str | None, namespace: str | None, prometheus: str | None) -> None:
    """Browse, launch and watch experiments in the terminal (press ? for keys)."""
    engine = _engine(state_dir, kubeconfig=kubeconfig, context=context, namespace=namespace,
                     prometheus=prometheus)
    app_module = importlib.import_module("tui.app")
    app = app_module.create_app(engine, experiments_dir, state_dir=state_dir,
                                theme="textual-light" if light else None)
    app.run()


async def run_tui_for_demo(engine: Any, loaded: Any) -> int:
    """Open the TUI over the demo's real engine, on the demo's experiments (``aftershock demo``
    with a terminal attached). The demo's environment (Prometheus URL, proxy admin and token) must
    already be in ``os.environ`` so the TUI's loading resolves the demo experiments' templates."""
    app_module = importlib.import_module("tui.app")
    app = app_module.create_app(engine, Path(loaded.source).parent, state_dir=engine.store.dir,
                                open_experiment=Path(loaded.source))
    await app.run_async()
    code = getattr(app, "return_code", 0)
    return int(code or 0)
