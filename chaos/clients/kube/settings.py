"""How to reach a cluster: :class:`KubeSettings` and the per-target ``ApiClient`` built from them.

Callers: :class:`chaos.clients.kube.client.KubeClient` (one ``ApiClient`` per target, never the
``kubernetes`` module's global default configuration, so two targets in one process cannot interfere)
and the CLI, which fills the settings from ``--kubeconfig`` / ``--context`` / ``--namespace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from chaos.bundled import manifests_dir
from chaos.errors import TargetError
from chaos.version import RELEASE_IMAGE

DEFAULT_MANIFESTS_DIR = manifests_dir()


@dataclass(frozen=True)
class KubeSettings:
    """Everything needed to talk to one cluster, resolved like kubectl does."""

    kubeconfig: str | None = None
    """``--kubeconfig`` path (several joined with ``:`` like ``KUBECONFIG``). None: ``KUBECONFIG``,
    then ``~/.kube/config``, then the in-cluster service account."""
    context: str | None = None
    """``--context``: kubeconfig context to use; None means the file's current-context."""
    namespace: str = "default"
    """Namespace used when an object or call does not name one."""
    request_timeout: float = 15.0
    """Per-request read timeout in seconds (connect timeout is ``min(5, request_timeout)``)."""
    retry_attempts: int = 5
    """Attempts per call on 429 / 5xx / timeouts / connection errors (1 = no retry)."""
    retry_initial: float = 0.2
    """First backoff in seconds; doubles per attempt with jitter."""
    retry_max_wait: float = 5.0
    """Upper bound of one backoff (also caps a server's ``Retry-After``)."""
    retry_total: float = 30.0
    """Upper bound in seconds for all attempts of one call together."""
    poll_interval: float = 0.5
    """Seconds between status reads while waiting for injection or deletion."""
    finalizer_timeout: float = 30.0
    """How long a deleted chaos object may hang on the ``chaos-mesh/records`` finalizer per attempt."""
    delete_attempts: int = 3
    """How many delete-and-wait rounds before reporting a stuck finalizer."""
    reaper: bool = True
    """Require the namespace's reaper (dead-man's switch) before injecting there
    (:meth:`KubeClient.create_reaper`); False runs without one."""
    reaper_image: str = RELEASE_IMAGE
    """Image of the reaper CronJob: the aftershock image (the Dockerfile's), which runs
    ``python3 -m chaos.clients.kube.reap`` (a sweep); no kubectl image."""
    reaper_grace: int = 300
    """Seconds past an object's deadline before the reaper deletes it (Chaos Mesh ends the fault itself
    at its duration; the reaper removes what a killed run left)."""
    reaper_ttl: int = 600
    """``ttlSecondsAfterFinished`` of each reaper sweep Job."""
    manifests_dir: Path = field(default=DEFAULT_MANIFESTS_DIR)
    """Directory holding ``reaper.yaml.j2`` (the reaper an administrator installs once per namespace)."""

    def resolved_kubeconfig(self) -> str | None:
        """The kubeconfig path(s) kubectl would use, or None for in-cluster config."""
        if self.kubeconfig:
            return self.kubeconfig
        env = os.environ.get("KUBECONFIG")
        if env:
            return env
        default = Path("~/.kube/config").expanduser()
        return str(default) if default.exists() else None


def build_api_client(settings: KubeSettings) -> client.ApiClient:
    """A fresh ``ApiClient`` with its own ``Configuration`` (nothing global is touched)."""
    path = settings.resolved_kubeconfig()
    configuration = client.Configuration()
    try:
        if path is not None:
            config.load_kube_config(config_file=path, context=settings.context,
                                    client_configuration=configuration,
                                    persist_config=False)  # type: ignore[no-untyped-call]
        elif settings.context:
            raise TargetError(f"--context {settings.context!r} given but no kubeconfig found "
                              "(set --kubeconfig or KUBECONFIG)")
        else:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
    except (ConfigException, OSError, ValueError) as exc:
        if path is None:
            raise TargetError("no Kubernetes cluster configured: no ~/.kube/config, KUBECONFIG is not set, and "
                              "this is not a pod with a service account. Point at a cluster with "
                              "--kubeconfig PATH (and --context NAME), KUBECONFIG=PATH or ~/.kube/config; "
                              f"host experiments need none (in-cluster config: {exc})") from exc
        raise TargetError(f"cannot load Kubernetes configuration from {path}: {exc}") from exc
    # Our own bounded retries (tenacity) decide; urllib3 must not retry behind our back.
    configuration.retries = False
    return client.ApiClient(configuration)
