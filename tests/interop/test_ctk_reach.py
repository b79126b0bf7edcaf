"""The blast radius of Chaos Toolkit actions: what a chaostoolkit-kubernetes action selects by its
arguments (chaosk8s' own names and defaults) is counted like an Aftershock Kubernetes fault's selector;
what cannot be counted (a command on the Aftershock host, an HTTP endpoint, other drivers, nodes) is
said in words. The actions are the real files of ``tests/interop/corpus``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from chaos.cli import main
from chaos.errors import InvalidExperiment
from chaos.interop.ctk_fault_kind import describe_params
from chaos.interop.ctk_reach import command_words, reach_of
from chaos.loading import load_text

CORPUS = Path(__file__).parent / "corpus"
NOT_CHAOSK8S = "reaches is not counted by Aftershock (only chaostoolkit-kubernetes arguments are)"

REACHES: dict[str, str] = {
    # file: the words of what its first method action reaches
    "k8s-pod-kill.json": "blast radius counted: 1 pod labelled app=storefront in namespace shop",
    "k8s-env-selector.json": "blast radius counted: 1 pod labelled app=${app_label} in namespace shop",
    "es-pagos.yaml": "blast radius counted: 1 pod labelled app=pagos in namespace pagos",
    "k8s-scale-deployment.json": "blast radius counted: deployment recommendations in namespace shop",
    "k8s-network-latency.yaml": "blast radius counted: 1 pod labelled app=checkout in namespace shop",
    "k8s-stress-cpu.yaml": "blast radius counted: 1 pod labelled app=search in namespace search",
    "k8s-drain-node.json": "it acts on cluster-scoped nodes, and every pod on them: not counted by Aftershock's "
                           "blast radius, which is namespaces",
    "process-sigstop.json": "what the command reaches is not counted by Aftershock",
    "aws-ec2-stop.json": f"what chaosaws {NOT_CHAOSK8S}",
    "istio-delay.json": f"what chaosistio {NOT_CHAOSK8S}",
    "toxiproxy-latency.json": f"what chaostoxi {NOT_CHAOSK8S}",
}


def first_action(name: str) -> dict[str, Any]:
    document = yaml.safe_load((CORPUS / name).read_text())
    return next(a for a in document["method"] if a.get("type") == "action")


@pytest.mark.parametrize("name", sorted(REACHES))
def test_what_each_corpus_action_reaches(name: str) -> None:
    assert reach_of(first_action(name)).describe() == REACHES[name]


def test_an_http_action_says_what_cannot_be_counted() -> None:
    action = {"type": "action", "name": "flip", "provider": {"type": "http", "url": "http://admin.shop/flags",
                                                               "method": "post"}}
    assert reach_of(action).describe() == "an HTTP request: what the endpoint does is not counted by Aftershock"


def imported(name: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "out.yaml"
    done = CliRunner().invoke(main, ["import", str(CORPUS / name), "--out", str(out)])
    assert done.exit_code == 0, done.output
    document: dict[str, Any] = yaml.safe_load(out.read_text())
    return document


def problems(document: dict[str, Any]) -> list[str]:
    """The problems of ``document``, each with ``@KEY`` standing for the line of the action's argument KEY."""
    text = yaml.safe_dump(document, sort_keys=False)
    try:
        load_text(text, "exp.yaml")
    except InvalidExperiment as exc:
        rendered = [p.render() for p in exc.problems]
    else:
        return []
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "arguments:")
    for i in range(start, start + 1 + len(document["spec"]["faults"][0]["action"]["provider"]["arguments"])):
        key = "arguments" if i == start else lines[i].strip().split(":")[0]
        rendered = [r.replace(f"exp.yaml:{i + 1}:", f"exp.yaml@{key}:") for r in rendered]
    return rendered


def test_import_writes_the_namespaces_the_actions_name_as_the_blast_radius(tmp_path: Path) -> None:
    scale = imported("k8s-scale-deployment.json", tmp_path)
    assert scale["spec"]["target"] == {"type": "host"}
    assert scale["spec"]["blastRadius"] == {"namespaces": ["shop"]}
    assert problems(scale) == []
    fault = scale["spec"]["faults"][0]
    assert describe_params(fault) == (
        "Chaos Toolkit action chaosk8s.deployment.actions.scale_deployment, rollback "
        "chaosk8s.deployment.actions.scale_deployment at the deadline; blast radius counted: deployment "
        "recommendations in namespace shop")


def test_chaosk8s_arguments_are_counted_like_a_selector(tmp_path: Path) -> None:
    base = imported("k8s-env-selector.json", tmp_path)
    assert problems(base) == []

    def changed(**arguments: Any) -> list[str]:
        document = copy.deepcopy(base)
        args = document["spec"]["faults"][0]["action"]["provider"]["arguments"]
        for key, value in arguments.items():
            if value is None:
                args.pop(key)
            else:
                args[key] = value
        return problems(document)

    assert changed(ns="payments") == [
        "exp.yaml@ns: spec.faults[0].action.provider.arguments.ns: the action reaches namespace 'payments' outside "
        "the blast radius ['shop'] (add it to spec.blastRadius.namespaces)"]
    assert changed(ns="kube-system") == [
        "exp.yaml@ns: spec.faults[0].action.provider.arguments.ns: the action reaches system namespace "
        "'kube-system' (set spec.blastRadius.allowSystemNamespaces: true and list it in blastRadius.namespaces)"]
    assert changed(label_selector=None) == [
        "exp.yaml@arguments: spec.faults[0].action.provider.arguments: the action selects 1 pod (any pod) in the whole "
        "namespace: its arguments name no label selector or name (name what it acts on (label_selector, "
        "label_selectors, name))"]
    assert changed(all=True) == [
        "exp.yaml@arguments: spec.faults[0].action.provider.arguments: mode 'all' needs spec.blastRadius.maxTargets or "
        "maxPercent (bound the blast radius, or use mode: one / fixed)"]
    wide = copy.deepcopy(base)
    wide["spec"]["blastRadius"]["maxTargets"] = 2
    wide["spec"]["faults"][0]["action"]["provider"]["arguments"]["qty"] = 3
    assert problems(wide) == [
        "exp.yaml@arguments: spec.faults[0].action.provider.arguments: mode fixed with value 3 exceeds "
        "blastRadius.maxTargets 2"]
    # a namespace chaoslib resolves at run time cannot be counted: said, not refused
    assert changed(ns="${target_ns}") == []
    document = copy.deepcopy(base)
    document["spec"]["faults"][0]["action"]["provider"]["arguments"]["ns"] = "${target_ns}"
    assert "namespace ${target_ns} (ns) is resolved at run time: not counted by Aftershock" in \
        describe_params(document["spec"]["faults"][0])


def test_a_process_command_is_shown_with_its_credentials_scrubbed() -> None:
    provider = {"type": "process", "path": "/usr/local/bin/flip",
                "arguments": ["--token", "s3cr3t-value", "--api-key=abc123456", "AWS_SECRET_ACCESS_KEY=xyz987654",
                              "-H", "Authorization: Bearer eyJhbGciOi", "https://bob:hunter22@admin.shop/x", "on"]}
    words = command_words(provider)
    assert words == ("/usr/local/bin/flip --token *** --api-key=*** AWS_SECRET_ACCESS_KEY=*** -H "
                     "Authorization:*** https://***@admin.shop/x on")
    for secret in ("s3cr3t", "abc123", "xyz987", "eyJhb", "hunter22"):
        assert secret not in words
    assert command_words({"path": "pkill", "arguments": "-STOP -f queue-worker"}) == "pkill -STOP -f queue-worker"


def test_a_process_probe_says_what_it_runs_and_where() -> None:
    from chaos.model.slos import Slo

    document = yaml.safe_load((CORPUS / "process-sigstop.json").read_text())
    activity = document["steady-state-hypothesis"]["probes"][0]
    slo = Slo.model_validate({"name": "worker-health", "probe": {"chaostoolkit": {"activity": activity}}})
    assert slo.probe is not None
    assert slo.probe.describe() == ("probe chaostoolkit: process 'curl -s http://127.0.0.1:9000/health' on the "
                                    "Aftershock host, holds while stdout matches /\"status\":\\s*\"ok\"/")


def _create_chaos_mesh(selector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    resource = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos", "metadata": {"name": "cut"},
                "spec": {"action": "partition", "mode": "one", "selector": selector, **spec}}
    action = {"type": "action", "name": "cut", "provider": {
        "type": "python", "module": "chaosk8s.crd.actions", "func": "create_custom_object",
        "arguments": {"group": "chaos-mesh.org", "version": "v1alpha1", "plural": "networkchaos", "ns": "shop",
                      "resource": resource}}}
    rollback = {"type": "action", "name": "heal", "provider": {
        "type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "delete_network_fault",
        "arguments": {"name": "cut", "ns": "shop"}}}
    return {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "cm"},
            "spec": {"target": {"type": "host"}, "blastRadius": {"namespaces": ["shop"]},
                     "faults": [{"name": "cut", "type": "chaostoolkit", "duration": "30s", "action": action,
                                 "rollback": rollback}]}}


def _refusals(document: dict[str, Any]) -> list[str]:
    try:
        load_text(yaml.safe_dump(document, sort_keys=False), "exp.yaml")
    except InvalidExperiment as exc:
        return [p.render().split(": ", 1)[1] for p in exc.problems]
    return []


def test_a_chaos_mesh_object_written_out_is_counted_by_its_own_selector() -> None:
    """chaosk8s' ``create_custom_object`` of a Chaos Mesh object: the object's ``selector.namespaces`` (not
    only the ``ns`` it is created in) and ``target.selector.namespaces`` are what it reaches."""
    ok = _create_chaos_mesh({"namespaces": ["shop"], "labelSelectors": {"app": "order-service"}})
    assert _refusals(ok) == []
    assert describe_params(ok["spec"]["faults"][0]).endswith(
        "blast radius counted: NetworkChaos over 1 pod labelled app=order-service in namespace shop")
    elsewhere = _create_chaos_mesh({"namespaces": ["kube-system"], "labelSelectors": {"k8s-app": "kube-dns"}})
    assert _refusals(elsewhere) == [
        "spec.faults[0].action.provider.arguments.resource.spec.selector.namespaces: the action reaches system "
        "namespace 'kube-system' (set spec.blastRadius.allowSystemNamespaces: true and list it in "
        "blastRadius.namespaces)"]
    target = _create_chaos_mesh({"labelSelectors": {"app": "order-service"}},
                                target={"mode": "all", "selector": {"namespaces": ["payments"]}})
    assert _refusals(target) == [
        "spec.faults[0].action.provider.arguments.resource.spec.target.selector.namespaces: the action reaches "
        "namespace 'payments' outside the blast radius ['shop'] (add it to spec.blastRadius.namespaces)"]
    everything = _create_chaos_mesh({"namespaces": ["shop"]}, mode="all")
    wide = _refusals(everything)  # every pod of the namespace, and mode all unbounded
    assert len(wide) == 2 and "in the whole namespace" in wide[0] and "mode 'all' needs" in wide[1], wide
    from_file = _create_chaos_mesh({})
    arguments = from_file["spec"]["faults"][0]["action"]["provider"]["arguments"]
    arguments["resource_as_yaml_file"] = "/etc/chaos/cut.yaml"
    del arguments["resource"]
    assert "a Chaos Mesh object read from a file at run time (resource_as_yaml_file): what it selects is not " \
           "counted by Aftershock" in describe_params(from_file["spec"]["faults"][0])
