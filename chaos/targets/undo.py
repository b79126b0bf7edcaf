"""Undo records of mitigations (degrades, backend weights), so a crashed run's can be reverted.

While a run is live, the driver keeps one ``undo-plan`` record in the state store listing every
mitigation still in place and how to revert it without the experiment or the process that
applied it: a proxy upstream weight (admin URL + token source), an HTTP revert call, a
Kubernetes patch revert token, a route weight. ``aftershock recover`` executes the plans of
runs that are no longer alive. ``describe_open`` is pure; ``execute`` does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.errors import ActuatorError
from chaos.policy.ledger import Ledger

UNDO_PLAN = "undo-plan"


def describe_open(ledger: Ledger, *, default_proxy: Mapping[str, Any] | None, namespace: str,
                  kube: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Serializable undo records of every open, not-kept degrade and weight of ``ledger``."""
    items: list[dict[str, Any]] = []
    for entry in ledger.entries:
        if not entry.open or entry.keep:
            continue
        if entry.kind == "weight" and entry.weight_target is not None and entry.original_weight is not None:
            wt = entry.weight_target
            if kube is not None:
                ns = wt.namespace or namespace
                items.append({"kind": "kube-weight", "namespace": ns, "service": wt.service,
                              "weight": entry.original_weight,
                              "snapshot": (kube.get("weights") or {}).get(f"{ns}/{wt.service}"),
                              "kube": {k: v for k, v in kube.items() if k != "weights"}})
            else:
                proxy = {"admin": wt.admin, "token_env": wt.token_env, "token_file": wt.token_file}
                if wt.admin is None and default_proxy is not None:
                    proxy = {k: default_proxy.get(k) for k in ("admin", "token_env", "token_file")}
                items.append({"kind": "proxy-weight", "proxy": proxy, "service": wt.service,
                              "weight": entry.original_weight})
        elif entry.kind == "degrade" and entry.handle is not None and entry.handle.payload is not None:
            handle = entry.handle
            if handle.backend == "http":
                payload = handle.payload
                call = payload.model_dump(mode="json", by_alias=True) if hasattr(payload, "model_dump") else payload
                items.append({"kind": "http-degrade", "decision_id": handle.decision_id, "call": call})
            elif handle.backend == "kubernetes":
                items.append({"kind": "kube-degrade", "token": handle.payload, "kube": dict(kube or {})})
    return items


async def execute(item: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """Revert one recorded mitigation. Raises a ChaosError when it cannot."""
    kind = item.get("kind")
    if kind == "proxy-weight":
        from chaos.clients.host.admin_client import ProxyAdminClient
        from chaos.targets.host import proxy_token

        proxy = item["proxy"]
        if not proxy.get("admin"):
            raise ActuatorError(f"no admin endpoint recorded for the weight of {item['service']}")
        token = proxy_token(proxy, environ)
        async with ProxyAdminClient(str(proxy["admin"]), token) as admin:
            await admin.set_weight(str(item["service"]), int(item["weight"]))
        return f"weight of {item['service']} restored to {item['weight']}"
    if kind == "http-degrade":
        from chaos.clients.http import HttpActuator
        from chaos.model.policies import HttpCall

        async with HttpActuator() as http:
            await http.call(HttpCall.model_validate(item["call"]), f"revert of degrade {item['decision_id']}")
        return f"degrade {item['decision_id']} reverted ({item['call'].get('method')} {item['call'].get('url')})"
    if kind in ("kube-degrade", "kube-weight"):
        from chaos.clients.kube import KubernetesTarget, RevertToken, WeightSnapshot
        from chaos.targets.kubernetes import kube_settings

        kube = item.get("kube") or {}
        target = KubernetesTarget.from_settings(kube_settings(kube.get("kubeconfig"), kube.get("context"),
                                                              kube.get("namespace")))
        try:
            if kind == "kube-degrade":
                revert_token = RevertToken.from_dict(item["token"])
                await target.revert(revert_token)
                return f"{revert_token.kind} {revert_token.namespace}/{revert_token.name} reverted"
            if item.get("snapshot"):  # the routes exactly as they were (absent weights absent again)
                snapshot = WeightSnapshot.from_dict(item["snapshot"])
                await target.restore_weights(snapshot)
                return (f"route weights of {item['namespace']}/{item['service']} restored exactly "
                        f"({len(snapshot.changes)} entries)")
            await target.set_backend_weight(str(item["namespace"]), str(item["service"]), int(item["weight"]))
            return f"route weight of {item['namespace']}/{item['service']} restored to {item['weight']}"
        finally:
            await target.close()
    raise ActuatorError(f"unknown undo record {kind!r}")
