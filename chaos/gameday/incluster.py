"""``aftershock compile --in-cluster FILE``: the objects that let Kubernetes itself run a schedule.

A ``CronJob`` (``timeZone``, ``concurrencyPolicy``, ``startingDeadlineSeconds``, history limits,
non-root restricted security context) runs ``aftershock gameday run --scheduled`` in the image of
the repository's ``Dockerfile``; a ``ConfigMap`` carries the GameDay and experiment files (the
GameDay's paths rewritten to the mount); a ``ServiceAccount`` and, per namespace the experiments
reach, a ``Role``/``RoleBinding`` with exactly the rules :func:`rbac_rules` computes (the ones
``aftershock rbac`` prints: one shared computation). Journals and reports go to a
``PersistentVolumeClaim`` (default) or are pushed to an HTTP endpoint.

The CronJob controller has its own DST behaviour (it runs twice in the repeated fall-back hour,
kubernetes #121594); ``--scheduled`` makes the Job check the due time against Aftershock's rules
and claim it in the state DB on the claim, so a duplicate start exits without running. Values only
(dicts); the CLI dumps them as YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chaos.errors import InvalidExperiment, Problem
from chaos.gameday.loading import LoadedGameDay
from chaos.model.experiment import Experiment
from chaos.version import RELEASE_IMAGE

MOUNT = "/etc/aftershock/experiments"
DATA = "/var/lib/aftershock"
"""Where the state volume (the PVC, or an emptyDir) is mounted."""
STATE = f"{DATA}/state"
"""The state dir: a directory Aftershock makes itself (0700, the Job's uid) inside the volume. The
volume's own root is owned by root (and group-writable under ``fsGroup``; an emptyDir is 0777), which
Aftershock refuses as a state dir (:func:`chaos.clients.state.secure_dir`)."""
PROMETHEUS_SECRET_MOUNT = "/var/run/secrets/aftershock/prometheus"
"""Where the Job finds the token of ``--prometheus-secret`` (the Secret's ``token`` key)."""
DEFAULT_IMAGE = RELEASE_IMAGE
LABELS = {"app.kubernetes.io/managed-by": "aftershock", "app.kubernetes.io/component": "gameday"}


def rbac_rules(experiments: list[Experiment], sources: list[str] | None = None
               ) -> dict[str, list[dict[str, list[str]]]]:
    """Namespace → Role rules a run of these experiments needs: the union over the Kubernetes
    experiments of exactly what ``aftershock rbac`` prints for each
    (:func:`chaos.clients.kube.rbac.experiment_permissions`, both route kinds, with the reaper),
    grouped as ``aftershock rbac`` groups them (:func:`chaos.clients.kube.rbac.role_rules`)."""
    from chaos.clients.kube.rbac import Permission, experiment_permissions, role_rules, unnamed_patches

    perms: set[Permission] = set()
    for i, exp in enumerate(experiments):
        if exp.spec.target.type == "kubernetes":
            perms |= set(experiment_permissions(exp, source=sources[i] if sources else ""))
    unnamed = unnamed_patches(perms)
    if unnamed:
        raise InvalidExperiment(Problem(f"{unnamed[0].describe()} would name no object: a least-privilege Role "
                                        "grants patch by name", path="spec.policies[].with.routes",
                                        hint="name the routes a circuit-break may re-weight in with.routes"))
    return role_rules(perms)


def _configmap_files(lgd: LoadedGameDay) -> dict[str, str]:
    files: dict[str, str] = {}
    for loaded in lgd.experiments:
        name = Path(loaded.source).name
        text = Path(loaded.source).read_text(encoding="utf-8")
        if name in files and files[name] != text:
            raise InvalidExperiment(Problem(f"two experiments named {name} with different contents: the ConfigMap "
                                            "holds one folder", file=lgd.source, path="spec.experiments"))
        files[name] = text
    if lgd.from_experiment:
        return files
    doc = yaml.safe_load(Path(lgd.source).read_text(encoding="utf-8"))
    for item, loaded in zip(doc["spec"]["experiments"], lgd.experiments, strict=True):
        item["file"] = Path(loaded.source).name
    gd_name = Path(lgd.source).name
    if gd_name in files:
        gd_name = f"gameday-{gd_name}"
    files[gd_name] = yaml.safe_dump(doc, sort_keys=False)
    return files


def compile_in_cluster(lgd: LoadedGameDay, *, namespace: str | None = None, image: str = DEFAULT_IMAGE,
                       journals_url: str | None = None, pvc_size: str = "1Gi",
                       prometheus: str | None = None, pushgateway: str | None = None,
                       prometheus_secret: str | None = None) -> list[dict[str, Any]]:
    """ServiceAccount, Role/RoleBinding per namespace, ConfigMap, PVC (unless journals go to a URL), CronJob.

    ``prometheus_secret``: a Secret of the namespace holding ``url`` (Prometheus' URL, required) and
    ``token`` (a bearer token, optional): the Job reads the URL from it as ``AFTERSHOCK_PROMETHEUS_URL``
    and gets the token as a file (``AFTERSHOCK_PROMETHEUS_TOKEN_FILE``); neither is in the YAML."""
    schedule = lgd.gameday.spec.schedule
    if schedule is None:
        raise InvalidExperiment(Problem("has no spec.schedule: a CronJob needs one", path="spec.schedule",
                                        file=lgd.source, hint="add spec.schedule: {cron: ..., timezone: ...}"))
    exps = [x.experiment for x in lgd.experiments]
    if any(e.spec.target.type == "host" for e in exps):
        raise InvalidExperiment(Problem("host-target experiments cannot run in a CronJob (they inject on the "
                                        "machine that runs them)", file=lgd.source, path="spec.experiments",
                                        hint="run host game days with `aftershock gameday serve`"))
    ns = namespace or exps[0].spec.target.namespace
    base = f"aftershock-gd-{lgd.name}"[:52].rstrip("-")
    labels = {**LABELS, "aftershock.io/gameday": lgd.name}
    files = _configmap_files(lgd)
    entry = next(n for n in files if n.endswith(Path(lgd.source).name)) if not lgd.from_experiment \
        else Path(lgd.source).name
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": base, "namespace": ns, "labels": labels},
         "automountServiceAccountToken": True},
    ]
    for rule_ns, rules in rbac_rules(exps, [x.source for x in lgd.experiments]).items():
        objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                        "metadata": {"name": base, "namespace": rule_ns, "labels": labels}, "rules": rules})
        objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                        "metadata": {"name": base, "namespace": rule_ns, "labels": labels},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": base},
                        "subjects": [{"kind": "ServiceAccount", "name": base, "namespace": ns}]})
    objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"{base}-files", "namespace": ns, "labels": labels}, "data": files})
    if journals_url is None:
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": f"{base}-state", "namespace": ns, "labels": labels},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": pvc_size}}}})
        state_volume: dict[str, Any] = {"name": "state", "persistentVolumeClaim": {"claimName": f"{base}-state"}}
    else:
        state_volume = {"name": "state", "emptyDir": {}}
    args = ["gameday", "run", f"{MOUNT}/{entry}", "--scheduled", "--state-dir", STATE]
    if journals_url is not None:
        args += ["--journals-url", journals_url]
    env: list[dict[str, Any]] = [{"name": "AFTERSHOCK_STATE_DIR", "value": STATE}, {"name": "HOME", "value": DATA}]
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if prometheus_secret:
        env.append({"name": "AFTERSHOCK_PROMETHEUS_URL",
                    "valueFrom": {"secretKeyRef": {"name": prometheus_secret, "key": "url"}}})
        env.append({"name": "AFTERSHOCK_PROMETHEUS_TOKEN_FILE", "value": f"{PROMETHEUS_SECRET_MOUNT}/token"})
        mounts.append({"name": "prometheus", "mountPath": PROMETHEUS_SECRET_MOUNT, "readOnly": True})
        volumes.append({"name": "prometheus", "secret": {"secretName": prometheus_secret, "defaultMode": 0o400,
                                                          "items": [{"key": "token", "path": "token"}],
                                                          "optional": True}})
    elif prometheus:
        env.append({"name": "AFTERSHOCK_PROMETHEUS_URL", "value": prometheus})
    if pushgateway:  # `gameday run` pushes the game day's metrics there when it ends
        env.append({"name": "AFTERSHOCK_PUSHGATEWAY_URL", "value": pushgateway})
    # the longest a game day can take: every fault window, recovery and pause, with margin
    bound: float = sum(e.spec.fault_window_s + e.spec.recovery.timeout_s + 120 for e in exps)
    bound += lgd.gameday.spec.pause_s * max(0, len(exps) - 1)
    pod = {
        "serviceAccountName": base,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "aftershock", "image": image, "args": args, "env": env,
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "volumeMounts": [{"name": "files", "mountPath": MOUNT, "readOnly": True},
                             {"name": "state", "mountPath": DATA}, {"name": "tmp", "mountPath": "/tmp"}, *mounts],
        }],
        "volumes": [{"name": "files", "configMap": {"name": f"{base}-files"}}, state_volume,
                    {"name": "tmp", "emptyDir": {}}, *volumes],
    }
    objects.append({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": base, "namespace": ns, "labels": labels},
        "spec": {
            "schedule": schedule.cron, "timeZone": schedule.timezone,
            "concurrencyPolicy": schedule.concurrency,
            "startingDeadlineSeconds": max(10, int(schedule.starting_deadline_s)),
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3, "suspend": False,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": {
                "backoffLimit": 0, "activeDeadlineSeconds": int(bound), "ttlSecondsAfterFinished": 7 * 86400,
                "template": {"metadata": {"labels": labels}, "spec": pod}}},
        },
    })
    return objects


class _ReadableDumper(yaml.SafeDumper):
    """YAML a reviewer and a GitOps diff can read: no anchors/aliases (a value used twice is written
    twice), multi-line strings (the embedded files) as literal blocks, long lines not folded."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_ReadableDumper.add_representer(str, _represent_str)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """A multi-document stream; keys in the order the objects are built (apiVersion, kind,
    metadata, then the body), the same bytes for the same input."""
    return "---\n".join(yaml.dump(o, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=4096)
                         for o in objects)



def compile_in_cluster_file(path: str, overrides: dict[str, str], image: str | None,
                            journals_url: str | None, *, pushgateway: str | None = None,
                            prometheus_secret: str | None = None) -> str:
    """``aftershock compile --in-cluster``: FILE (GameDay or scheduled experiment) → YAML stream."""
    from chaos.gameday.loading import as_gameday, load_document

    doc = load_document(path, overrides=overrides)
    lgd = doc if isinstance(doc, LoadedGameDay) else as_gameday(doc)
    return to_yaml(compile_in_cluster(lgd, image=image or DEFAULT_IMAGE, journals_url=journals_url,
                                      pushgateway=pushgateway, prometheus_secret=prometheus_secret))
