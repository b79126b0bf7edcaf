"""``aftershock compile --in-cluster`` against the real API server: every object it emits for the
example game day (and for an experiment with ``spec.schedule``) passes server-side dry run
(``dryRun=All``: admission, validation and defaulting, nothing stored) without a warning, the
CronJob's pod template included under Pod Security ``restricted``; its Role/RoleBinding carry
exactly what ``aftershock rbac`` prints, and, created for real, let the emitted ServiceAccount (a
real TokenRequest token) do what the experiments need and nothing outside it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from kube.testbed import Testbed

CLI = Path(sys.executable).with_name("aftershock")
REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "gamedays" / "checkout-friday.yaml", REPO / "experiments" / "payment-latency.yaml"]


def run_cli(*args: str) -> str:
    proc = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def emitted(source: Path) -> list[dict[str, Any]]:
    # the game day takes Prometheus' URL and token from a Secret (its env and volume judged too)
    extra = ["--prometheus-secret", "shop-prometheus"] if source.parent.name == "gamedays" else []
    return [d for d in yaml.safe_load_all(run_cli("compile", "--in-cluster", str(source), *extra)) if d]


@pytest.fixture()
def admin(kube_testbed: Testbed) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kube_testbed.kubeconfig))
    yield api
    api.close()


RESTRICTED = {"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest"}


def ensure_namespace(api: client.ApiClient, name: str) -> None:
    """Create ``name`` (or find it: the session's API server is shared) with Pod Security admission
    warning on anything the ``restricted`` profile forbids (a warning only: other tests' pods stay)."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    core.patch_namespace(name, {"metadata": {"labels": RESTRICTED}})


def create(api: client.ApiClient, obj: dict[str, Any], dry_run: bool) -> tuple[dict[str, Any], list[str]]:
    """Create ``obj`` (``dryRun=All`` when ``dry_run``): the object as the server returned it and
    the server's warnings (e.g. Pod Security admission on a CronJob's pod template)."""
    resource = dynamic.DynamicClient(api).resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kwargs = {"dry_run": "All"} if dry_run else {}
    reply = resource.create(body=obj, namespace=obj["metadata"]["namespace"], serialize=False, **kwargs)
    return json.loads(reply.data), list(reply.headers.getlist("Warning"))


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_every_emitted_object_passes_server_side_dry_run(admin: client.ApiClient, source: Path) -> None:
    objects = emitted(source)
    assert {o["kind"] for o in objects} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                                            "PersistentVolumeClaim", "CronJob"}
    for ns in sorted({o["metadata"]["namespace"] for o in objects}):
        ensure_namespace(admin, ns)
    for obj in objects:
        try:
            accepted, warnings = create(admin, obj, dry_run=True)
        except ApiException as exc:
            raise AssertionError(f"the API server rejected {obj['kind']} {obj['metadata']['name']}: "
                                 f"{exc.status} {exc.body}") from exc
        assert warnings == [], (obj["kind"], warnings)
        assert accepted["kind"] == obj["kind"] and accepted["metadata"]["name"] == obj["metadata"]["name"]
        if obj["kind"] == "CronJob":
            assert accepted["spec"]["timeZone"] == "Europe/Berlin"
            assert accepted["spec"]["schedule"] == obj["spec"]["schedule"]
    # dry run stored nothing
    name = objects[-1]["metadata"]["name"]
    with pytest.raises(ApiException) as gone:
        client.BatchV1Api(admin).read_namespaced_cron_job(name, objects[-1]["metadata"]["namespace"])
    assert gone.value.status == 404


def rbac_rules_printed(source: Path) -> dict[str, list[dict[str, Any]]]:
    """What ``aftershock rbac`` prints for each experiment of ``source``, merged per namespace."""
    gd = yaml.safe_load(source.read_text())
    if gd["kind"] == "GameDay":
        files = [source.parent / e["file"] for e in gd["spec"]["experiments"]]
        sets = [e.get("set") or {} for e in gd["spec"]["experiments"]]
    else:
        files, sets = [source], [{}]
    merged: dict[str, dict[tuple[str, str], set[str]]] = {}
    for file, params in zip(files, sets, strict=True):
        args = [a for k, v in params.items() for a in ("--set", f"{k}={v}")]
        for doc in yaml.safe_load_all(run_cli("rbac", str(file), *args)):
            if doc and doc["kind"] == "Role":
                rules = merged.setdefault(doc["metadata"]["namespace"], {})
                for rule in doc["rules"]:
                    key = (rule["apiGroups"][0], rule["resources"][0], (rule.get("resourceNames") or [""])[0])
                    rules.setdefault(key, set()).update(rule["verbs"])
    return {ns: [{"apiGroups": [g], "resources": [r], **({"resourceNames": [n]} if n else {}), "verbs": sorted(v)}
                 for (g, r, n), v in sorted(rules.items())]
            for ns, rules in sorted(merged.items())}


def access(api: client.ApiClient, namespace: str, verb: str, group: str, resource: str, name: str = "") -> bool:
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
    if name:
        attributes["name"] = name
    review = client.AuthorizationV1Api(api).create_self_subject_access_review({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes}})
    return bool(review.status.allowed)


def test_the_emitted_service_account_may_do_exactly_what_aftershock_rbac_prints(
        kube_testbed: Testbed, admin: client.ApiClient, tmp_path: Path) -> None:
    source = SOURCES[0]
    objects = emitted(source)
    roles = {o["metadata"]["namespace"]: o["rules"] for o in objects if o["kind"] == "Role"}
    assert roles == rbac_rules_printed(source)  # one computation: what `aftershock rbac` prints

    sa = next(o for o in objects if o["kind"] == "ServiceAccount")
    sa_ns, sa_name = sa["metadata"]["namespace"], sa["metadata"]["name"]
    for ns in sorted({o["metadata"]["namespace"] for o in objects}):
        ensure_namespace(admin, ns)
    for obj in objects:
        if obj["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            create(admin, obj, dry_run=False)
    token_config = kube_testbed.service_account_kubeconfig(sa_ns, sa_name, tmp_path / "sa.kubeconfig")
    runner = config.new_client_from_config(config_file=str(token_config))
    try:
        whoami = client.AuthenticationV1Api(runner).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert whoami.status.user_info.username == f"system:serviceaccount:{sa_ns}:{sa_name}"
        # everything the Roles grant is allowed, as that ServiceAccount
        for ns, rules in roles.items():
            for rule in rules:
                for verb in rule["verbs"]:
                    name = (rule.get("resourceNames") or [""])[0]
                    assert access(runner, ns, verb, rule["apiGroups"][0], rule["resources"][0], name), (ns, rule, verb)
        assert access(runner, "shop", "create", "chaos-mesh.org", "networkchaos")
        # and nothing outside them
        assert not access(runner, "shop", "delete", "", "secrets")
        assert not access(runner, "shop", "get", "", "secrets")
        assert not access(runner, "shop", "delete", "apps", "deployments")
        for resource in ("jobs", "pods"):  # no run identity creates workloads (the reaper is installed once)
            assert not access(runner, "shop", "create", "batch" if resource == "jobs" else "", resource)
        assert not access(runner, "default", "create", "chaos-mesh.org", "networkchaos")
        assert "default" not in roles
    finally:
        runner.close()
