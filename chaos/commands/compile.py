"""``aftershock compile``: Chaos Mesh objects as multi-document YAML (or the in-cluster CronJob of a
schedule with ``--in-cluster``).

Registered lazily by ``chaos.cli``.
"""

from __future__ import annotations

import click

from chaos.commands.options import out_option, parse_sets, set_option
from chaos.errors import InvalidInput, Problem


@click.command("compile")
@click.argument("file", type=click.Path(dir_okay=False))
@out_option("Write one YAML file per object into this directory instead of stdout.", directory=True)
@click.option("--run-id", default=None, help="Run id used in names and labels (default: a fresh one).")
@set_option
@click.option("--in-cluster", is_flag=True, help="A CronJob (+ ConfigMap, ServiceAccount, Role/RoleBinding, PVC) that "
              "runs FILE's schedule in the cluster (docs/gamedays.md).")
@click.option("--image", default=None, help="--in-cluster: the image built from the Dockerfile.")
@click.option("--journals-url", default=None, help="--in-cluster: POST reports and journals here instead of a PVC.")
@click.option("--pushgateway", default=None, metavar="URL",
              help="--in-cluster: the Job pushes its metrics to this Pushgateway (AFTERSHOCK_PUSHGATEWAY_URL).")
@click.option("--prometheus-secret", default=None, metavar="NAME",
              help="--in-cluster: a Secret of the namespace with Prometheus' `url` (and optionally a bearer `token`): "
                   "the Job reads them from it; neither is written in the YAML.")
def compile_cmd(file: str, out: str | None, run_id: str | None, sets: tuple[str, ...], in_cluster: bool,
                image: str | None, journals_url: str | None, pushgateway: str | None,
                prometheus_secret: str | None) -> None:
    """Compile FILE to Chaos Mesh objects (multi-document YAML)."""
    from pathlib import Path

    import yaml

    from chaos.compiling import naming
    from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
    from chaos.loading import load_file

    if in_cluster:
        from chaos.gameday.incluster import compile_in_cluster_file

        click.echo(compile_in_cluster_file(file, parse_sets(sets), image, journals_url, pushgateway=pushgateway,
                                           prometheus_secret=prometheus_secret), nl=False)
        return

    if run_id is not None and not naming.valid_run_id(run_id):
        raise InvalidInput(Problem(f"--run-id {run_id!r}: 4 to 12 lower-case letters or digits"))
    loaded = load_file(file, overrides=parse_sets(sets))
    objects = compile_experiment(loaded.experiment, run_id or naming.new_run_id(), source=file)
    if out is None:
        click.echo(to_yaml_stream(objects), nl=False)
        return
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        path = directory / f"{obj.kind.lower()}-{obj.name}.yaml"
        path.write_text(yaml.safe_dump(obj.body, sort_keys=False))
        click.echo(str(path))
