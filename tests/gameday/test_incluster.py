"""``aftershock compile --in-cluster``: the CronJob and its companions, and ``gameday run
--scheduled`` (what the CronJob's Job runs): only at a due time by Aftershock's rules, claimed once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from chaos.cli import main
from chaos.clients.schedule_store import ScheduleStore
from chaos.commands.gameday import _scheduled_due
from chaos.gameday.loading import load_gameday

from .helpers import utc

REPO = Path(__file__).resolve().parents[2]


def compile_objects(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["compile", "--in-cluster", *args])
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


def test_cronjob_configmap_and_least_privilege_rbac() -> None:
    objs = compile_objects(str(REPO / "gamedays" / "checkout-friday.yaml"), "--image", "registry.local/as:1")
    kinds = [o["kind"] for o in objs]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "PersistentVolumeClaim", "CronJob"]
    cron = objs[-1]
    spec = cron["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"], spec["startingDeadlineSeconds"]) == \
        ("0 10 * * 5", "Europe/Berlin", "Forbid", 600)
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 3
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    container = pod["containers"][0]
    assert container["image"] == "registry.local/as:1"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["args"][:4] == ["gameday", "run", "/etc/aftershock/experiments/checkout-friday.yaml",
                                     "--scheduled"]
    files = objs[3]["data"]
    assert sorted(files) == ["checkout-friday.yaml", "packet-loss.yaml", "payment-latency.yaml"]
    gd = yaml.safe_load(files["checkout-friday.yaml"])
    assert [e["file"] for e in gd["spec"]["experiments"]] == ["payment-latency.yaml", "packet-loss.yaml"]
    role = objs[1]
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert rules[("chaos-mesh.org", "networkchaos")] == ["create", "delete", "get", "list", "patch"]
    assert ("", "secrets") not in rules and all("*" not in v for v in rules.values())
    assert objs[2]["subjects"] == [{"kind": "ServiceAccount", "name": objs[0]["metadata"]["name"],
                                    "namespace": "shop"}]


def test_journals_to_a_url_need_no_volume() -> None:
    objs = compile_objects(str(REPO / "gamedays" / "checkout-friday.yaml"), "--journals-url",
                           "https://journals.example/in")
    assert "PersistentVolumeClaim" not in [o["kind"] for o in objs]
    args = objs[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--journals-url", "https://journals.example/in"]


def test_host_game_days_and_unscheduled_ones_are_refused(tmp_path: Path) -> None:
    text = (REPO / "experiments" / "payment-latency.yaml").read_text()
    (tmp_path / "unscheduled.yaml").write_text(text[:text.index("  schedule:")])
    result = CliRunner().invoke(main, ["compile", "--in-cluster", str(tmp_path / "unscheduled.yaml")])
    assert result.exit_code == 2 and "spec.schedule: has no spec.schedule: a CronJob needs one" in result.output
    result = CliRunner().invoke(main, ["compile", "--in-cluster",
                                       str(REPO / "experiments" / "demo-payment-latency.yaml")])
    assert result.exit_code == 2


def _hourly(tmp_path: Path) -> Path:
    (tmp_path / "exp.yaml").write_text((REPO / "experiments" / "payment-latency.yaml").read_text())
    gd = tmp_path / "gd.yaml"
    gd.write_text("apiVersion: aftershock/v1alpha1\nkind: GameDay\nmetadata: {name: hourly}\nspec:\n"
                  "  schedule: {cron: '0 * * * *', timezone: Europe/Berlin, missed: latest, startingDeadline: 2h}\n"
                  "  experiments: [{file: exp.yaml}]\n")
    return gd


def test_scheduled_runs_only_at_a_due_time_and_once(tmp_path: Path) -> None:
    gd = _hourly(tmp_path)
    lgd = load_gameday(gd)
    # the repeated fall-back hour: 02:30 CET on 2027-10-31 is not a due time of '30 2 * * *' (it fired at CEST)
    lgd_daily = load_gameday(gd)
    object.__setattr__(lgd_daily.gameday.spec.schedule, "cron", "30 2 * * *")
    object.__setattr__(lgd_daily.gameday.spec.schedule, "missed", "skip")
    due, why = _scheduled_due(lgd_daily, utc("2027-10-31T01:30:05Z"))  # 02:30 CET, the second one
    assert due is None and "the repeated hour at a DST fall-back" in why
    due, _ = _scheduled_due(lgd_daily, utc("2027-10-31T00:30:05Z"))  # 02:30 CEST, the first one
    assert due == utc("2027-10-31T00:30:00Z")
    # a due time already claimed (by an earlier Job of the CronJob) is not run again
    state = tmp_path / "state"
    due, _ = _scheduled_due(lgd, time.time())
    assert due is not None
    store = ScheduleStore(state)
    store.register("hourly", str(gd), time.time())
    assert store.claim("hourly", due, "earlier1", time.time(), "schedule")
    result = CliRunner().invoke(main, ["gameday", "run", str(gd), "--scheduled", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "was already started or skipped (claimed once); nothing to do" in result.output


def test_prometheus_url_and_token_come_from_a_secret() -> None:
    """``--prometheus-secret``: the Job reads Prometheus' URL from the Secret's ``url`` and gets its
    ``token`` as a file (optional key); neither value is in the YAML."""
    objs = compile_objects(str(REPO / "gamedays" / "checkout-friday.yaml"), "--image", "registry.local/as:1",
                           "--prometheus-secret", "shop-prometheus")
    pod = objs[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AFTERSHOCK_PROMETHEUS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "shop-prometheus", "key": "url"}}
    assert env["AFTERSHOCK_PROMETHEUS_TOKEN_FILE"]["value"] == "/var/run/secrets/aftershock/prometheus/token"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "prometheus"]
    assert volume["secret"] == {"secretName": "shop-prometheus", "defaultMode": 0o400, "optional": True,
                                "items": [{"key": "token", "path": "token"}]}
    assert {"name": "prometheus", "mountPath": "/var/run/secrets/aftershock/prometheus", "readOnly": True} \
        in container["volumeMounts"]
    role_rules = [r for o in objs if o["kind"] == "Role" for r in o["rules"]]
    assert all("secrets" not in r["resources"] for r in role_rules)  # the kubelet mounts it; the Job reads no API
