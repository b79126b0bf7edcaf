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

from chaos.bundled import examples_dir
from chaos.commands.options import target_options


def _engine(state_dir: Path | None, **target: Any) -> Any:
    from chaos.engine.driver import Engine
    from chaos.engine.settings import EngineSettings

    return Engine(EngineSettings(state_dir=state_dir, **target))


@click.command("tui")
@click.option("--experiments", "experiments_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Directory of experiment files to browse (default: ./experiments when it "
              "exists, else the shipped examples; `aftershock init` copies them).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Engine state directory (runs, journals, reports).")
@click.option("--light", is_flag=True, help="Start with the light theme (t toggles).")
@target_options
def tui(experiments_dir: Path | None, state_dir: Path | None, light: bool,
        kubeconfig: str | None, context: str | None, namespace: str | None, prometheus: str | None) -> None:
    """Browse, launch and watch experiments in the terminal (press ? for keys)."""
    if experiments_dir is None:
        local = Path("experiments")
        experiments_dir = local if local.is_dir() else examples_dir()
    elif not experiments_dir.is_dir():
        raise click.BadParameter(f"{experiments_dir}: no such directory (`aftershock init {experiments_dir}` "
                                 "writes the examples there)", param_hint="--experiments")
    engine = _engine(state_dir, kubeconfig=kubeconfig, context=context, namespace=namespace,
                     prometheus=prometheus)
    store = getattr(engine, "store", None)
    state_dir = state_dir or getattr(store, "dir", None)
    where = describe_target(kubeconfig, context, namespace, prometheus, state_dir)
    app_module = importlib.import_module("tui.app")
    app = app_module.create_app(engine, experiments_dir, state_dir=state_dir,
                                theme="textual-light" if light else None, where=where)
    app.run()


def describe_target(kubeconfig: str | None, context: str | None, namespace: str | None,
                    prometheus: str | None, state_dir: Path | None) -> str:
    """One line: the kube context and namespace, the Prometheus URL and the state dir in use."""
    kube = "kube: no kubeconfig (host experiments only)"
    try:
        from kubernetes import config as kube_config

        from chaos.clients.kube.settings import KubeSettings

        path = KubeSettings(kubeconfig=kubeconfig).resolved_kubeconfig()
        if path is not None:
            contexts, active = kube_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
            chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
            name = (chosen or {}).get("name", "?")
            ns = namespace or (chosen or {}).get("context", {}).get("namespace") or "each experiment's"
            kube = f"kube {name} / ns {ns}"
    except Exception as exc:  # only a description: a broken kubeconfig is reported by the runs themselves
        kube = f"kube: kubeconfig unreadable ({type(exc).__name__})"
    prom = f"prom {prometheus.removeprefix('http://')}" if prometheus else "prom: each experiment's"
    return f"{kube} · {prom} · state {state_dir or 'default'}"


async def run_tui_for_demo(engine: Any, demo: Any, where: str) -> int:
    """Open the TUI over the demo's real engine in demo mode (``aftershock demo`` with a terminal):
    it launches ``demo.loaded`` as run ``demo.run_id`` by itself, narrates it, and awaits
    ``demo.finish(journal)`` (the report) when the run ends. The demo's environment (Prometheus
    URL, proxy admin and token) must already be in ``os.environ`` so the TUI's loading resolves
    the demo experiments' templates."""
    app_module = importlib.import_module("tui.app")
    app = app_module.create_app(engine, Path(demo.loaded.source).parent, state_dir=engine.store.dir,
                                demo=demo, where=where)
    await app.run_async()
    return 0
