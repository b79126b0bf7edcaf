"""Suite-wide: how ``make test`` spreads the suite over two pytest-xdist workers (``--dist loadgroup``).

Each test module is one unit of work (its module fixtures — a Prometheus, a demo stack — start once),
except two groups that must stay on one worker in order:
- ``cluster``: the tests of the Kubernetes testbeds (one control plane per worker process, and one
  node per machine: cni0 and the kubelet's ports). They come first, so one worker starts on them
  while the other takes the rest.
- ``tui``: the TUI's world tests number their runs ``w0000001``…, and a live run holds the host-wide
  run lock of its ID (``/run/aftershock``), so two of them at once would refuse each other.
Run alone (no ``-n``), the groups are ignored and the order is the collection's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CLUSTER = frozenset({"kube", "k8s_run", "node", "images"})


def _top(item: pytest.Item) -> str:
    parts = item.path.relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else ""


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into the test IDs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set by xdist on its workers under --dist loadgroup
        return
    for item in items:
        top = _top(item)
        group = "cluster" if top in CLUSTER else "tui" if top == "tui" else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: _top(item) not in CLUSTER)  # stable: each group keeps its order
