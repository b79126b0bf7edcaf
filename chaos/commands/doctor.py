"""``aftershock doctor``: what this machine can do (root/NET_ADMIN, iptables, tc, netem, Prometheus,
Alertmanager), and — when configured — whether the cluster answers, Chaos Mesh's CRDs are installed
and Prometheus answers. Exits 1 when any row is ✗; ``!`` rows (a capability with a fallback, a
component only some features use) and ``–`` rows (not configured, not checked) do not fail it."""

from __future__ import annotations

import os
import shutil
import sys

import click

CHAOS_MESH_KINDS = ("NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos")
WARN_ONLY = {"tc_netem"}
"""Missing capabilities with a fallback (delay goes through the fault proxy): ``!``, not ✗."""

Row = tuple[str, str, str]
"""(mark ✓ ✗ ! –, name, detail)."""


def _cluster(kubeconfig: str | None, context: str | None) -> list[Row]:
    from chaos.clients.kube.settings import KubeSettings, build_api_client
    from chaos.errors import ChaosError

    settings = KubeSettings(kubeconfig=kubeconfig, context=context, request_timeout=5.0)
    if settings.resolved_kubeconfig() is None and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return [("–", "cluster", "not configured (no --kubeconfig, KUBECONFIG or ~/.kube/config): host "
                                 "experiments need none"),
                ("–", "chaos_mesh", "not checked (no cluster)")]
    try:
        api = build_api_client(settings)
    except ChaosError as exc:
        return [("✗", "cluster", str(exc)), ("–", "chaos_mesh", "not checked (no cluster)")]
    from kubernetes import client

    try:
        try:
            version = client.VersionApi(api).get_code(_request_timeout=5.0)
        except Exception as exc:  # any failure to reach it is the answer
            return [("✗", "cluster", f"{api.configuration.host} does not answer: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:200]}"),
                    ("–", "chaos_mesh", "not checked (cluster unreachable)")]
        rows: list[Row] = [("✓", "cluster", f"{api.configuration.host} answers (Kubernetes {version.git_version})")]
        try:
            crds = client.ApiextensionsV1Api(api).list_custom_resource_definition(_request_timeout=5.0)
        except Exception as exc:
            return [*rows, ("✗", "chaos_mesh", f"cannot list CRDs: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")]
        found = {c.spec.names.kind for c in crds.items if c.spec.group == "chaos-mesh.org"}
        missing = [k for k in CHAOS_MESH_KINDS if k not in found]
        if missing:
            rows.append(("✗", "chaos_mesh", f"CRDs missing: {', '.join(missing)} — fix: install Chaos Mesh "
                                            "(helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh)"))
        else:
            rows.append(("✓", "chaos_mesh", f"CRDs of {', '.join(CHAOS_MESH_KINDS)} installed"))
        return rows
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _prometheus(url: str | None) -> Row:
    if not url:
        return ("–", "prometheus_server", "not checked (pass --prometheus URL or set AFTERSHOCK_PROMETHEUS_URL)")
    import httpx

    from chaos.secrets import split_userinfo

    public, _ = split_userinfo(url)
    try:
        reply = httpx.get(f"{url.rstrip('/')}/api/v1/status/buildinfo", timeout=5.0)
    except httpx.HTTPError as exc:
        return ("✗", "prometheus_server", f"{public} does not answer: {type(exc).__name__}")
    if reply.status_code != 200:
        return ("✗", "prometheus_server", f"{public} answered HTTP {reply.status_code}")
    version = (reply.json().get("data") or {}).get("version", "?")
    return ("✓", "prometheus_server", f"{public} answers (Prometheus {version})")


@click.command("doctor")
@click.option("--prometheus", metavar="URL", default=None,
              help="Prometheus to check (default: $AFTERSHOCK_PROMETHEUS_URL; not checked without one).")
@click.option("--kubeconfig", metavar="PATH", default=None, help="Kubeconfig of the cluster to check.")
@click.option("--context", metavar="NAME", default=None, help="Kubeconfig context.")
def doctor(prometheus: str | None, kubeconfig: str | None, context: str | None) -> None:
    """Report the host's capabilities for faults and the demo, the cluster and Prometheus."""
    from chaos.clients.host.capabilities import doctor_report

    rows: list[Row] = [("✓" if ok else ("!" if name in WARN_ONLY else "✗"), name, detail)
                       for name, ok, detail in doctor_report()]
    present = shutil.which("prometheus") is not None
    rows.append(("✓" if present else "✗", "prometheus", "present" if present else "missing: apt-get install -y prometheus"))
    rows.append(("✓" if shutil.which("promtool") else "✗", "promtool", "comes with the prometheus package"))
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    rows.append(("✓" if alertmanager else "!", "alertmanager",
                 "present (the demo's alerting loop)" if alertmanager
                 else "missing: apt-get install -y prometheus-alertmanager (the demo then skips its alerting loop)"))
    rows.extend(_cluster(kubeconfig, context))
    rows.append(_prometheus(prometheus or os.environ.get("AFTERSHOCK_PROMETHEUS_URL")))
    for mark, name, detail in rows:
        click.echo(f"{mark} {name}: {detail}")
    failed = [name for mark, name, _ in rows if mark == "✗"]
    if failed:
        click.echo(f"doctor: {len(failed)} problem(s): {', '.join(failed)}", err=True)
    sys.exit(1 if failed else 0)
