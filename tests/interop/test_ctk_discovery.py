"""Chaos Toolkit finds the extension whichever top-level package of the distribution it picks.

chaoslib (``chaoslib.discovery.package.get_importname_from_package``) imports the FIRST name that
``importlib.metadata.packages_distributions()`` maps to the distribution, and that order is the
installer's. The distribution has two top-level packages (``chaos`` and ``tui``): both orders are
played through chaoslib's own ``discover``, in a fresh interpreter outside the repository (under
pytest, ``tests/tui`` would shadow the ``tui`` package).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

PLAY = """
import importlib.metadata, json, sys
first = sys.argv[1]
order = [first] + [n for n in ("chaos", "tui") if n != first]
importlib.metadata.packages_distributions = lambda: {name: ["aftershock"] for name in order}
from chaoslib.discovery.discover import discover
found = discover("aftershock", discover_system=False, download_and_install=False)
print(json.dumps({"imported": sys.modules[first].__file__, "found": found}, default=str))
"""


def test_the_distribution_declares_both_top_level_packages() -> None:
    declared = [name for name, dists in importlib.metadata.packages_distributions().items() if "aftershock" in dists]
    assert set(declared) >= {"chaos", "tui"}


@pytest.mark.parametrize("first", ["chaos", "tui"])
def test_discovery_works_whichever_package_comes_first(first: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PLAY, first], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert Path(out["imported"]).parent.name == first
    found = out["found"]
    assert found["extension"]["name"] == "aftershock"
    assert {a["type"] for a in found["activities"]} == {"probe", "action"}
    assert all(a["mod"].startswith("chaos.interop.ctk_") for a in found["activities"])
    assert [c["module"] for c in found["controls"]] == ["chaos.interop.ctk_guard"]
