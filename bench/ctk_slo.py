"""Chaos Toolkit probe for ``bench/bench_peers.py``: does one Prometheus SLO hold right now?

Imported by the ``chaos`` CLI (Chaos Toolkit's Python provider, ``module: ctk_slo``) with ``bench/``
on ``PYTHONPATH``; not part of Aftershock. Fails closed like Aftershock's monitor: no data, NaN or an
unreachable Prometheus is "does not hold". One instant query per call (the stdlib, as a user would
write it without an extension).
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request


def slo_holds(url: str, query: str, threshold: float, timeout: float = 2.0) -> bool:
    """True when every series of ``query`` is below ``threshold``."""
    data = urllib.parse.urlencode({"query": query}).encode()
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v1/query", data=data, timeout=timeout) as answer:
            body = json.load(answer)
    except (OSError, ValueError):
        return False
    values = [float(item["value"][1]) for item in body.get("data", {}).get("result", [])]
    return bool(values) and all(not math.isnan(v) and v < threshold for v in values)
