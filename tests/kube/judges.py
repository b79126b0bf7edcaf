"""Chaos Mesh's verdict on an object, the way a cluster running Chaos Mesh reaches it.

1. The mutating webhook: Chaos Mesh's own ``Default`` (the chaos-mesh ``api`` module, run by the
   Go program tests/kubetestbed/chaosmesh/oracle over stdin/stdout).
2. The CRD schema: a server-side dry run (``dryRun=All``, ``fieldValidation=Strict``) of the
   defaulted object against the real kube-apiserver with the CRDs generated from that module.
3. The validating webhook: Chaos Mesh's own ``ValidateCreate`` (the same oracle).

Used by tests/kube/test_differential.py.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CHAOS_PLURALS = {"NetworkChaos": "networkchaos", "PodChaos": "podchaos", "StressChaos": "stresschaos",
                 "HTTPChaos": "httpchaos"}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    why: str = ""


class ChaosMeshJudge:
    def __init__(self, oracle: Path, api: httpx.Client, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.proc = subprocess.Popen([str(oracle)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.judged = 0

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def webhook(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def judge(self, obj: dict[str, Any]) -> Verdict:
        """Chaos Mesh's verdict: defaulting webhook, CRD schema (real API server), validating webhook."""
        self.judged += 1
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {})["namespace"] = self.namespace
        answer = self.webhook(obj)
        defaulted = answer.get("defaulted")
        if defaulted is None:  # not even decodable into Chaos Mesh's Go types
            return Verdict(False, f"webhook: {answer.get('error')}")
        body = _strip_empty(defaulted)
        body["metadata"] = obj["metadata"]
        plural = CHAOS_PLURALS.get(str(obj.get("kind")), str(obj.get("kind", "")).lower())
        reply = self.api.post(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{self.namespace}/{plural}",
                              params={"dryRun": "All", "fieldValidation": "Strict"}, json=body)
        if reply.status_code >= 300:
            return Verdict(False, f"API server {reply.status_code}: {reply.json().get('message')}")
        if not answer.get("ok"):
            return Verdict(False, f"webhook: {answer.get('error')}")
        return Verdict(True)


def _strip_empty(node: Any) -> Any:
    """Drop what Go's encoder writes for unset fields (``status``, zero timestamps, ``null``)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("status", "creationTimestamp") or value is None:
                continue
            out[key] = _strip_empty(value)
        return out
    if isinstance(node, list):
        return [_strip_empty(v) for v in node]
    return node
