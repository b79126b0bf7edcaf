"""``aftershock rbac FILE``: the least-privilege Role(s) and RoleBinding(s) a Kubernetes run needs;
``aftershock rbac FILE --reaper``: the reaper an administrator installs once per namespace.

Prints exactly the rules the run's pre-flight asks the API server about (Chaos Mesh kinds used,
pods and PodDisruptionBudgets read for the blast radius, ``get`` of the namespace's reaper CronJob,
degrade patches and route weights by object name), as ``kubectl apply``-able YAML. The run's Role
creates no pods, Jobs, ServiceAccounts, Roles or RoleBindings; every patch outside chaos-mesh.org
names its object (a circuit-break without ``with.routes`` is refused here, exit 2). Offline: the route
kinds are both unless ``--route-kind`` names the ones the cluster serves.
"""

from __future__ import annotations

import click

from chaos.commands.options import parse_sets
from chaos.errors import InvalidInput, Problem

ROUTE_KINDS = ("HTTPRoute", "VirtualService")


@click.command("rbac")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--service-account", "service_account", metavar="NS/NAME", default=None,
              help="Also print RoleBindings granting the Roles to this ServiceAccount.")
@click.option("-n", "--namespace", default=None, help="Override spec.target.namespace (as `run -n`).")
@click.option("--route-kind", "route_kinds", multiple=True, type=click.Choice(ROUTE_KINDS),
              help="Route kinds circuit-break uses (repeatable; default: both); with --reaper, the kinds of "
                   "with.routes the reaper may restore.")
@click.option("--no-reaper", is_flag=True, help="The run will use --no-reaper (no check of the reaper CronJob).")
@click.option("--reaper", "reaper", is_flag=True,
              help="Print instead the reaper (ServiceAccount, Role, RoleBinding, CronJob) an administrator "
                   "installs once in each namespace of FILE: the dead-man's switch of every run there.")
@click.option("--reaper-image", default=None, envvar="AFTERSHOCK_REAPER_IMAGE", metavar="IMAGE",
              help="With --reaper: the aftershock image the sweeps run (default: the release image).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Set a parameter (repeatable).")
def rbac(file: str, service_account: str | None, namespace: str | None, route_kinds: tuple[str, ...],
         no_reaper: bool, reaper: bool, reaper_image: str | None, sets: tuple[str, ...]) -> None:
    """Print the Role(s)/RoleBinding(s) that running FILE on Kubernetes needs."""
    import yaml

    from chaos.clients.kube.rbac import (
        degrade_objects,
        experiment_namespaces,
        experiment_permissions,
        rbac_manifests,
        route_objects,
        unnamed_patches,
    )
    from chaos.clients.kube.reaper import reaper_manifests
    from chaos.clients.kube.settings import KubeSettings
    from chaos.loading import load_file

    if service_account is not None:
        sa_ns, _, sa_name = service_account.partition("/")
        if not sa_ns or not sa_name or "/" in sa_name:
            raise InvalidInput(Problem(f"--service-account {service_account!r}: use NAMESPACE/NAME"))
    loaded = load_file(file, overrides=parse_sets(sets))
    exp = loaded.experiment
    if namespace:
        target = exp.spec.target.model_copy(update={"namespace": namespace})
        exp = exp.model_copy(update={"spec": exp.spec.model_copy(update={"target": target})})
    if reaper:
        settings = KubeSettings(reaper_image=reaper_image) if reaper_image else KubeSettings()
        default_ns = exp.spec.target.namespace or "default"
        degraded = degrade_objects(exp, default_ns) + route_objects(exp, default_ns, route_kinds or ROUTE_KINDS)
        docs = [d for ns in experiment_namespaces(exp, source=file)
                for d in reaper_manifests(settings, ns, undo_objects=[(k, n) for k, o, n in degraded if o == ns])]
        click.echo("".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=None) for d in docs),
                   nl=False)
        return
    needed = experiment_permissions(exp, reaper=not no_reaper, route_kinds=route_kinds or ROUTE_KINDS,
                                    source=file)
    unnamed = unnamed_patches(needed)
    if unnamed:
        raise InvalidInput(Problem(
            f"{unnamed[0].describe()} would name no object: a least-privilege Role grants patch by name",
            file=file, path="spec.policies[].with.routes",
            hint="name the HTTPRoutes/VirtualServices the circuit-break may re-weight in with.routes"))
    click.echo(rbac_manifests(needed, service_account), nl=False)
