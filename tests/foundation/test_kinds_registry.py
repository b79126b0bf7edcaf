"""The kinds registry: every kind comes from an entry point, and one kind's slice can be taken out.

The product's own kinds are entry points of the installed aftershock distribution (pyproject.toml);
removing one kind's module and its entry point must leave every other kind working and refuse the
removed one as unknown. That is checked in a fresh interpreter whose registry reads the installed
entry points minus one, and in which the kind's module cannot be imported at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chaos import registry
from chaos.model.kinds import FaultKind

REPO = Path(__file__).resolve().parents[2]


def test_the_product_kinds_are_entry_points_of_the_distribution() -> None:
    faults = registry.faults.all()
    assert {"network-delay", "network-corrupt", "http-abort", "pod-kill", "chaos-mesh"} <= set(faults)
    for name, kind in faults.items():
        origin = registry.faults.origin(name)
        assert origin is not None and origin.distribution == "aftershock"
        # the chaostoolkit kind runs chaoslib (I/O): it lives with the interop, outside the pure chaos.faults
        module = "chaos.interop.ctk_fault_kind" if name == "chaostoolkit" else f"chaos.faults.{name.replace('-', '_')}"
        assert origin.value == f"{module}:KIND"
        assert isinstance(kind, FaultKind) and kind.name == name
        # the discriminator of its class is exactly its name
        assert kind.model.model_fields["type"].annotation.__args__ == (name,)  # type: ignore[union-attr]


def test_an_unknown_name_is_a_problem_with_a_suggestion() -> None:
    problem = registry.faults.unknown("network-dealy", "spec.faults[0].type")
    assert problem.message == "unknown fault type 'network-dealy'"
    assert problem.hint == "did you mean 'network-delay'?"


REMOVED = """
import json, sys
from chaos import registry

removed = sys.argv[1]
module = "chaos.faults." + removed.replace("-", "_")
sys.modules[module] = None  # the module is gone: importing it fails
registry.use_source(lambda: [(g, r) for g, r in registry.installed() if r.name != removed])

from chaos.errors import InvalidExperiment
from chaos.loading import load_text
from chaos.model import FAULT_TYPES

out = {"types": list(FAULT_TYPES), "loaded": [], "refused": {}}
for name, text in json.loads(sys.stdin.read()).items():
    try:
        load_text(text, name + ".yaml")
        out["loaded"].append(name)
    except InvalidExperiment as exc:
        out["refused"][name] = [p.render() for p in exc.problems]
print(json.dumps(out))
"""


def _experiments() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((REPO / "experiments").glob("*.yaml"))}


@pytest.mark.parametrize("removed, experiment", [("network-corrupt", None), ("pod-kill", "pod-kill"),
                                                 ("network-delay", "demo-payment-latency")])
def test_removing_one_kind_leaves_the_others_and_refuses_it_as_unknown(removed: str,
                                                                        experiment: str | None) -> None:
    experiments = _experiments()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(REMOVED), removed],
                          input=json.dumps(experiments), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert removed not in out["types"]
    assert set(out["types"]) == set(registry.faults.names()) - {removed}
    users = {name for name, text in experiments.items() if f"type: {removed}\n" in text}
    assert (experiment is None) == (not users)
    assert set(out["loaded"]) == set(experiments) - users
    for name in users:
        assert any(f"unknown type '{removed}'" in line for line in out["refused"][name]), out["refused"][name]


PLUGIN = '''
from typing import Literal
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind, HostRealisation

class Hiccup(FaultBase):
    type: Literal["hiccup"]

KIND = FaultKind(name="hiccup", model=Hiccup, words="hiccup", describe=lambda f: "hiccup",
                 host=HostRealisation(proxy=lambda f: {"kind": "partition"}))
'''

LIST = "from chaos import registry; print(','.join(registry.faults.names()))"


def test_a_distribution_installed_later_is_found_despite_the_cache(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}

    def kinds() -> set[str]:
        proc = subprocess.run([sys.executable, "-c", LIST], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return set(proc.stdout.strip().split(","))

    before = kinds()
    assert "hiccup" not in before and "network-delay" in before
    assert list((tmp_path / "cache" / "aftershock").glob("entry-points-*.json"))  # the scan was cached
    (site / "hiccup_kind.py").write_text(PLUGIN)
    info = site / "hiccup-0.1.dist-info"  # what pip writes when it installs a distribution
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hiccup\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text('[aftershock.faults]\nhiccup = hiccup_kind:KIND\n')
    assert kinds() == before | {"hiccup"}
    (info / "entry_points.txt").unlink()
    (info / "METADATA").unlink()
    info.rmdir()  # uninstalled
    assert kinds() == before


def test_a_kind_that_cannot_load_is_named_with_its_distribution_when_a_file_uses_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "broken-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text('[aftershock.faults]\nbroken = no_such_module:KIND\n')
    env = {"PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    pod_kill = REPO / "experiments" / "pod-kill.yaml"
    uses_it = tmp_path / "broken.yaml"
    uses_it.write_text(pod_kill.read_text().replace("type: pod-kill", "type: broken"))

    def validate(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / "aftershock"), "validate", str(path)],
                              capture_output=True, text=True, env=env, timeout=60)

    # kinds are imported when a file names them: a broken plugin kind leaves the others working ...
    proc = validate(pod_kill)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... and the file that names it is refused with the distribution and the entry point (exit 3)
    proc = validate(uses_it)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the kind 'broken' of broken (no_such_module:KIND) cannot be loaded" in proc.stderr
    assert "Traceback" not in proc.stderr
