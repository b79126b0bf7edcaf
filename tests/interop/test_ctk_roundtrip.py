"""Export → the real ``chaos validate`` → import back: every example survives the round trip; and
Chaos Toolkit experiments written for chaostoolkit-kubernetes (Chaos Mesh) and
chaostoolkit-prometheus convert, with everything that does not listed with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.interop.ctk import to_ctk_experiment
from chaos.interop.ctk_import import convert
from chaos.loading import load_file, load_text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = sorted((REPO / "experiments").glob("*.yaml"))


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_round_trips_through_chaos_toolkit(path: Path, tmp_path: Path) -> None:
    exported = tmp_path / f"{path.stem}.json"
    done = _cli("aftershock", "export", "--format", "chaostoolkit", str(path), "--out", str(exported), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    validated = _cli("chaos", "--no-version-check", "--no-log-file", "validate", str(exported), cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "experiment syntax and semantic look valid" in validated.stdout + validated.stderr

    back = tmp_path / f"{path.stem}.back.yaml"
    imported = _cli("aftershock", "import", str(exported), "--out", str(back), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr  # 0: nothing left out
    assert "not converted" not in imported.stderr
    original = load_file(path).experiment
    assert load_file(back).experiment == original


def test_the_slos_come_back_from_the_probes_not_only_from_the_carried_document() -> None:
    exp = load_file(REPO / "experiments" / "payment-latency.yaml").experiment
    ctk = to_ctk_experiment(exp)
    probe = next(p for p in ctk["steady-state-hypothesis"]["probes"] if p["name"] == "checkout-p95")
    probe["provider"]["arguments"]["value"] = 0.5  # edited in Chaos Toolkit's document
    result = convert(ctk)
    slo = next(s for s in result.experiment["spec"]["slos"] if s["name"] == "checkout-p95")
    assert slo["objective"] == {"op": "<", "value": 0.5}


CTK_K8S: dict[str, Any] = {
    "version": "1.0.0",
    "title": "Checkout survives network trouble",
    "description": "Chaos Mesh faults on the checkout pods",
    "tags": ["team:checkout", "network"],
    "configuration": {
        "prometheus_base_url": {"type": "env", "key": "PROMETHEUS_URL", "default": "http://prom:9090"},
        "latency": "300ms",
        "dynamic": {"type": "probe", "name": "x", "provider": {"type": "python", "module": "m", "func": "f"}},
    },
    "secrets": {"k8s": {"token": {"type": "env", "key": "K8S_TOKEN"}}},
    "steady-state-hypothesis": {
        "title": "checkout is fast",
        "probes": [
            {"type": "probe", "name": "p95 under 800ms",
             "tolerance": {"type": "range", "range": [0, 0.8], "target": "data"},
             "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query",
                          "arguments": {"query": "histogram_quantile(0.95, rate(h_bucket[1m]))"}}},
            {"type": "probe", "name": "no-5xx",
             "tolerance": {"type": "jsonpath", "path": "$.data.result[0].value[1]", "expect": "0"},
             "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query",
                          "arguments": {"query": "sum(rate(errors_total[1m]))"}}},
            {"type": "probe", "name": "homepage", "tolerance": 200,
             "provider": {"type": "http", "url": "http://shop/"}},
        ],
    },
    "method": [
        {"type": "action", "name": "delay", "pauses": {"after": 60},
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "add_latency",
                      "arguments": {"name": "checkout-delay", "ns": "shop", "label_selectors": "app=checkout",
                                    "latency": "${latency}", "jitter": "10ms", "correlation": "25",
                                    "direction": "to", "target_label_selectors": {"app": "payment"}}}},
        {"type": "action", "name": "loss",
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "set_loss",
                      "arguments": {"name": "checkout-loss", "ns": "shop", "label_selectors": "app=checkout",
                                    "loss": "15", "mode": "fixed-percent", "mode_value": "50"}}},
        {"type": "action", "name": "dup", "pauses": {"after": 30},
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions",
                      "func": "duplicate_packets",
                      "arguments": {"name": "dup", "ns": "shop", "label_selectors": "app=checkout",
                                    "duplicate": "5"}}},
        {"type": "action", "name": "corrupt", "pauses": {"after": 30},
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "corrupt_packets",
                      "arguments": {"name": "corrupt", "ns": "shop", "label_selectors": "app=checkout",
                                    "corrupt": "2"}}},
        {"type": "action", "name": "bw", "pauses": {"after": 30},
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "set_bandwidth",
                      "arguments": {"name": "bw", "ns": "shop", "label_selectors": "app=checkout",
                                    "rate": "1mbps", "limit": 20971520, "buffer": 10000}}},
        {"type": "action", "name": "cpu",
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.stress.actions", "func": "stress_cpu",
                      "arguments": {"name": "cpu", "ns": "shop", "label_selectors": "app=search", "workers": 2,
                                    "load": 80, "duration": "45s"}}},
        {"type": "action", "name": "mem",
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.stress.actions", "func": "stress_memory",
                      "arguments": {"name": "mem", "ns": "shop", "label_selectors": "app=search", "workers": 1,
                                    "size": "256MB", "duration": "45s"}}},
        {"type": "action", "name": "kill", "pauses": {"after": 20},
         "provider": {"type": "python", "module": "chaosk8s.pod.actions", "func": "terminate_pods",
                      "arguments": {"label_selector": "app=checkout", "ns": "shop", "qty": 1, "grace_period": 0}}},
        {"type": "action", "name": "reorder",
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions", "func": "reorder_packets",
                      "arguments": {"name": "reorder", "ns": "shop", "reorder": "10"}}},
        {"type": "probe", "name": "during", "provider": {"type": "http", "url": "http://shop/"}},
        {"type": "action", "name": "scale", "provider": {"type": "process", "path": "kubectl"}},
    ],
    "rollbacks": [
        {"type": "action", "name": "undo-delay",
         "provider": {"type": "python", "module": "chaosk8s.chaosmesh.network.actions",
                      "func": "delete_network_fault", "arguments": {"name": "checkout-delay", "ns": "shop"}}},
        {"type": "action", "name": "page-oncall", "provider": {"type": "http", "url": "http://pager/"}},
    ],
}


def _finished(document: dict[str, Any], fallback: bool) -> Any:
    from chaos.errors import InvalidExperiment
    from chaos.interop.ctk_import import finish
    from chaos.loading import load_parsed

    result = convert(document, source="k8s.json", fallback=fallback)

    def validate(doc: dict[str, Any], environ: dict[str, str]) -> list[Any]:
        try:
            load_parsed(doc, {}, "converted", environ=environ)
        except InvalidExperiment as exc:
            return exc.problems
        return []

    assert finish(result, validate) == []
    return result


def test_a_chaostoolkit_kubernetes_experiment_converts_and_lists_the_rest() -> None:
    result = _finished(CTK_K8S, fallback=False)
    exp = load_text(yaml.safe_dump(result.experiment), "converted.yaml", environ={}).experiment
    assert exp.name == "checkout-survives-network-trouble"
    assert exp.metadata.labels == {"team": "checkout", "chaostoolkit-tags": "network"}
    assert exp.spec.target.type == "kubernetes" and exp.spec.target.namespace == "shop"
    faults = {f.name: f for f in exp.spec.faults}
    assert [f.type for f in exp.spec.faults] == ["network-delay", "network-loss", "network-duplicate",
                                                 "network-corrupt", "network-bandwidth", "cpu-stress",
                                                 "memory-stress", "pod-kill"]
    delay = faults["checkout-delay"]
    assert (delay.latency, delay.jitter, delay.correlation, delay.duration) == ("300ms", "10ms", 25.0, "60s")
    assert result.experiment["spec"]["parameters"]["latency"] == "300ms"  # configuration → a parameter
    assert result.experiment["spec"]["faults"][0]["latency"] == "{{ latency }}"
    assert delay.selector.labels == {"app": "checkout"} and delay.peer is not None
    assert (delay.peer.labels, delay.peer.mode, delay.peer.namespaces) == ({"app": "payment"}, "one", ["shop"])
    loss = faults["checkout-loss"]
    assert (loss.percent, loss.mode, loss.value, loss.duration) == (15.0, "fixed-percent", "50", "60s")
    assert loss.peer is not None and (loss.peer.mode, loss.peer.namespaces) == ("one", ["shop"])  # chaosk8s' target
    assert (faults["dup"].percent, faults["corrupt"].percent) == (5.0, 2.0)
    assert (faults["bw"].rate, faults["bw"].limit, faults["bw"].buffer) == ("1mbps", 20971520, 10000)
    assert (faults["cpu"].workers, faults["cpu"].load, faults["cpu"].duration) == (2, 80, "45s")
    assert (faults["mem"].size, faults["mem"].duration) == ("256MB", "45s")
    kill = next(f for f in exp.spec.faults if f.type == "pod-kill")
    assert (kill.selector.labels, kill.mode, kill.grace_period, kill.duration) == ({"app": "checkout"}, "one", 0,
                                                                                   "20s")
    slos = {s.name: s for s in exp.spec.slos}
    assert (slos["p95-under-800ms-min"].objective.op, slos["p95-under-800ms-min"].objective.value) == (">=", 0)
    assert (slos["p95-under-800ms-max"].objective.op, slos["p95-under-800ms-max"].objective.value) == ("<=", 0.8)
    assert (slos["no-5xx"].objective.op, slos["no-5xx"].objective.value) == ("==", 0)
    assert exp.spec.steady_state == ["p95-under-800ms-min", "p95-under-800ms-max", "no-5xx", "homepage"]
    assert exp.spec.monitor.prometheus == "http://prom:9090"  # the env default
    assert result.experiment["spec"]["monitor"]["prometheus"] == "{{ prometheus_base_url }}"
    assert result.experiment["spec"]["parameters"]["prometheus_base_url"] == \
        "{{ env.PROMETHEUS_URL | default('http://prom:9090') }}"
    assert slos["homepage"].probe is not None  # an HTTP probe SLO
    skipped = {s.where.split(" ")[0]: s.reason for s in result.skipped}
    assert set(skipped) == {"method[8]", "method[9]", "method[10]", "rollbacks[1]"}, result.skipped
    assert "reorder_packets" in skipped["method[8]"]
    assert any("loss" in n and "60s" in n for n in result.notes)


def test_aftershock_import_command_lists_what_it_left_out(tmp_path: Path) -> None:
    source = tmp_path / "k8s.json"
    source.write_text(json.dumps(CTK_K8S))
    done = _cli("aftershock", "import", str(source), cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # converted, with parts left out
    assert yaml.safe_load(done.stdout)["spec"]["faults"]
    lines = [line for line in done.stderr.splitlines() if line.startswith("not converted:")]
    # with the chaostoolkit kinds: the method probe without tolerance, the unpaired rollback, the process
    # action nothing can end, and reorder_packets (its CTK form), whose arguments name no label selector:
    # counted like a selector, it selects among every pod of the namespace
    assert len(lines) == 4 and "Traceback" not in done.stderr, lines
    assert any("method[8] (reorder): refused: spec.faults[8].action.provider.arguments: the action selects 1 pod "
               "(any pod) in the whole namespace" in line for line in lines), lines
    assert "(converted)" not in done.stderr  # no line numbers into a document never written


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.json", None, "no such file"),
    ("broken.json", b'{"title": "x", "method": [', "not JSON"),
    ("broken.yaml", b"title: [x\nmethod: :\n", "not valid YAML"),
    ("binary.json", b"\xff\xfe\x00\x01", "binary data"),
    ("aftershock.yaml", (REPO / "experiments" / "pod-kill.yaml").read_bytes(), "not a Chaos Toolkit experiment"),
    ("nothing.json", json.dumps({"title": "t", "method": [{"type": "action", "name": "a",
                                                          "provider": {"type": "http", "url": "u"}}]}).encode(),
     "nothing runnable remains"),
])
def test_unreadable_files_exit_2_with_a_clear_message(tmp_path: Path, name: str, content: bytes | None,
                                                      message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    done = _cli("aftershock", "import", str(path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and name in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_export_refuses_an_invalid_experiment_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "experiments" / "pod-kill.yaml").read_text().replace("duration: 30s", "duration: 0s"))
    out = tmp_path / "never.json"
    done = _cli("aftershock", "export", "--format", "chaostoolkit", str(bad), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "bad.yaml" in done.stderr and "duration" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_export_notes_what_a_chaos_toolkit_run_does_differently(tmp_path: Path) -> None:
    done = _cli("aftershock", "export", str(REPO / "experiments" / "payment-latency.yaml"), cwd=tmp_path)
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert [c["provider"]["module"] for c in document["controls"]] == ["chaos.interop.ctk_guard"]
    assert "note: policy isolate-gateway (circuit-break)" in done.stderr


def test_chaos_discover_finds_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "discovery.json"
    done = _cli("chaos", "--no-version-check", "--no-log-file", "discover", "--no-install", "--no-system-info",
                "--discovery-path", str(path), "aftershock", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    discovery = json.loads(path.read_text())
    found = {(a["type"], a["name"]) for a in discovery["activities"]}
    assert {("probe", "slo_holds"), ("probe", "slo_value"), ("action", "inject_fault"),
            ("action", "remove_faults"), ("action", "recover_orphans")} <= found
    assert all(a["mod"].startswith("chaos.interop.ctk_") for a in discovery["activities"])
    assert discovery["extension"]["name"] == "aftershock"
    assert [c["module"] for c in discovery["controls"]] == ["chaos.interop.ctk_guard"]
