"""The ``kubernetes`` probe's runner: reads a Deployment/StatefulSet or lists pods through the one
API boundary (:class:`~chaos.clients.kube.calls.Caller`), in a worker thread, bounded by the probe's
timeout. A failed read is a probe that does not hold (with the reason), never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from chaos.clients.kube.calls import Caller
from chaos.clients.kube.context import KubeContext
from chaos.clients.kube.selectors import label_selector_string
from chaos.clients.kube.settings import KubeSettings, build_api_client
from chaos.errors import ChaosError
from chaos.model.kinds import ProbeContext, ProbeResult
from chaos.probes.kubernetes import KubernetesProbe


def _ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


class KubeProbeRunner:
    def __init__(self, block: KubernetesProbe, ctx: ProbeContext) -> None:
        self.block = block
        self.namespace = block.namespace or ctx.namespace
        self.timeout_s = ctx.timeout_s
        self._settings = KubeSettings(kubeconfig=ctx.kubeconfig or ctx.environ.get("KUBECONFIG"),
                                      context=ctx.kube_context, namespace=self.namespace,
                                      request_timeout=max(1.0, ctx.timeout_s), retry_attempts=1,
                                      retry_total=ctx.timeout_s)
        self._ctx: KubeContext | None = None
        self._baseline: dict[str, int] | None = None
        """Restarts per pod uid at the first observation (``maxRestarts``)."""

    def _kube(self) -> KubeContext:
        if self._ctx is None:
            api = build_api_client(self._settings)
            self._ctx = KubeContext(self._settings, api, Caller(self._settings, str(api.configuration.host)))
        return self._ctx

    async def observe(self) -> ProbeResult:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await asyncio.to_thread(self._observe)
        except TimeoutError:
            return ProbeResult(False, None, f"the API server did not answer within {self.timeout_s:g}s")
        except ChaosError as exc:
            return ProbeResult(False, None, str(exc)[:300])

    def _workload(self) -> dict[str, Any]:
        kube, block = self._kube(), self.block
        assert block.kind is not None and block.name is not None
        read = kube.apps.read_namespaced_deployment if block.kind == "Deployment" \
            else kube.apps.read_namespaced_stateful_set
        reply = kube.caller.call(f"read {block.kind} {self.namespace}/{block.name}", read, block.name,
                                 self.namespace)
        return reply.body

    def _pods(self, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        kube = self._kube()
        labels = label_selector_string(selector)
        reply = kube.caller.call(f"list pods {labels} in {self.namespace}", kube.core.list_namespaced_pod,
                                 self.namespace, label_selector=labels)
        return [p for p in reply.body.get("items") or [] if isinstance(p, dict)]

    def _observe(self) -> ProbeResult:
        block = self.block
        workload = self._workload() if block.kind is not None else None
        where = f"{block.kind} {self.namespace}/{block.name}" if block.kind else f"pods {label_selector_string(block.selector)}"
        if block.condition is not None:
            assert workload is not None
            return self._condition(workload, where)
        selector = block.selector
        if selector is None:
            assert workload is not None
            selector = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = self._pods(selector)
        if block.min_ready is not None:
            ready = sum(1 for p in pods if _ready(p))
            ok = ready >= block.min_ready
            return ProbeResult(ok, float(ready), f"{where}: {ready} of {len(pods)} pod(s) ready"
                               + ("" if ok else f", fewer than {block.min_ready}"))
        counts = {str((p.get("metadata") or {}).get("uid")): _restarts(p) for p in pods}
        if self._baseline is None:
            self._baseline = dict(counts)
        restarts = sum(n - self._baseline.get(uid, 0) for uid, n in counts.items())
        assert block.max_restarts is not None
        ok = restarts <= block.max_restarts
        return ProbeResult(ok, float(restarts), f"{where}: {restarts} restart(s) since the probe started"
                           + ("" if ok else f", more than {block.max_restarts}"))

    def _condition(self, workload: Mapping[str, Any], where: str) -> ProbeResult:
        block = self.block
        status = workload.get("status") or {}
        if block.kind == "StatefulSet" and block.condition == "Ready":
            want = int((workload.get("spec") or {}).get("replicas") or 0)
            ready = int(status.get("readyReplicas") or 0)
            ok = ready >= want
            return ProbeResult(ok, float(ready), f"{where}: {ready}/{want} replicas ready")
        found = next((c for c in status.get("conditions") or [] if c.get("type") == block.condition), None)
        if found is None:
            return ProbeResult(False, 0.0, f"{where} has no {block.condition} condition")
        ok = found.get("status") == "True"
        reason = f" ({found.get('reason')}: {found.get('message')})" if not ok and found.get("reason") else ""
        return ProbeResult(ok, 1.0 if ok else 0.0, f"{where} {block.condition}={found.get('status')}{reason}")

    async def aclose(self) -> None:
        if self._ctx is not None:
            await asyncio.to_thread(self._ctx.api.close)
            self._ctx = None
