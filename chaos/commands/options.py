"""Shared click options so every command spells them alike: ``--state-dir``, the target flags,
``-o/--output`` for the *format* of what a command prints (text, json or yaml, everywhere) and
``--out PATH`` for the *file or directory* a command writes (compile, report, demo)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from chaos.errors import InvalidInput, Problem

F = Callable[..., Any]


def state_dir_option(f: F) -> F:
    return click.option("--state-dir", type=click.Path(file_okay=False), default=None, envvar="AFTERSHOCK_STATE_DIR",
                        help="State directory (runs, write-ahead fault records, journals). "
                             "Default: $XDG_STATE_HOME/aftershock.")(f)


def target_options(f: F) -> F:
    f = click.option("--prometheus", default=None, envvar="AFTERSHOCK_PROMETHEUS_URL", metavar="URL",
                     help="Prometheus URL (overrides spec.monitor.prometheus; env AFTERSHOCK_PROMETHEUS_URL).")(f)
    f = click.option("-n", "--namespace", default=None, envvar="AFTERSHOCK_NAMESPACE",
                     help="Kubernetes namespace (overrides spec.target.namespace; env AFTERSHOCK_NAMESPACE).")(f)
    f = click.option("--context", default=None, envvar="AFTERSHOCK_CONTEXT",
                     help="kubeconfig context (env AFTERSHOCK_CONTEXT).")(f)
    f = click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, envvar="KUBECONFIG",
                     help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).")(f)
    return f


def output_option(f: F, help: str = "text: progress lines; json: NDJSON events; yaml: the same as YAML documents.") -> F:
    """``-o/--output text|json|yaml``: the command sees ``json`` for ``yaml`` (its JSON is rendered as
    YAML documents on the way out, :mod:`chaos.commands.output`); errors are JSON/YAML too."""
    from chaos.commands.output import output_callback

    return click.option("--output", "-o", type=click.Choice(["text", "json", "yaml"]), default="text",
                        show_default=True, callback=output_callback, help=help)(f)


def format_option(help: str) -> Callable[[F], F]:
    """``-o/--output text|json`` with a command's own help text."""
    return lambda f: output_option(f, help)


def out_option(help: str, *, directory: bool = False) -> Callable[[F], F]:
    """``--out PATH``: where a command writes its file (or directory)."""
    kind = click.Path(file_okay=not directory, dir_okay=directory)
    return click.option("--out", "out", type=kind, default=None, metavar="DIR" if directory else "FILE", help=help)


pushgateway_option = click.option(
    "--pushgateway", default=None, metavar="URL", envvar="AFTERSHOCK_PUSHGATEWAY_URL",
    help="Push this command's metrics to a Prometheus Pushgateway at URL when it ends "
         "(env AFTERSHOCK_PUSHGATEWAY_URL).")


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set key=value`` pairs; a malformed one is an :class:`InvalidInput`."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(Problem(f"--set {item!r}: expected key=value", hint="e.g. --set latency=800ms"))
        out[key.strip()] = value
    return out


set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Override a parameter of spec.parameters (repeatable).")
