"""The example plugin package (examples/aftershock-example-kinds) installed next to the wheel of this
tree in a fresh venv, and run end to end on the host target.

Its fault kind (``disk-fill``, a custom host realiser), its action (``write-note``) and its probe
(``file-exists``) come from its own entry points, exactly like the product's kinds: ``validate``
knows them, ``aftershock run`` records the fault write-ahead, injects it, runs the action when the
SLO breaches and removes the fault; after kill -9, ``aftershock recover`` removes it from the record
alone. Uninstalling the package leaves the product's kinds working and refuses its kinds as unknown.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer

from .helpers import Cli, Subreaper

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "aftershock-example-kinds"
PIP = Path(sys.executable).parent / "pip"


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{argv}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding the wheel of this tree and the example package (dependencies pinned to
    this venv's versions, as scripts/wheel-test.sh does, so pip's cache serves them)."""
    work = tmp_path_factory.mktemp("plugin")
    for stale in (REPO / "build", EXAMPLE / "build"):  # setuptools' build/lib keeps deleted modules
        shutil.rmtree(stale, ignore_errors=True)
    _run(PIP, "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", work / "dist", REPO, EXAMPLE)
    frozen = _run(PIP, "freeze", "--exclude-editable", "--disable-pip-version-check").stdout
    (work / "pins.txt").write_text("".join(line + "\n" for line in frozen.splitlines()
                                           if not line.startswith("aftershock")))
    _run(sys.executable, "-m", "venv", work / "venv")
    _run(work / "venv" / "bin" / "pip", "install", "-q", "--disable-pip-version-check", "-c", work / "pins.txt",
         *sorted((work / "dist").glob("*.whl")))
    yield work / "venv" / "bin"


def _experiment(tmp_path: Path, duration: str) -> Path:
    text = (EXAMPLE / "disk-fill.yaml").read_text().replace("duration: 10s", f"duration: {duration}")
    path = tmp_path / "disk-fill.yaml"
    path.write_text(text)
    return path


def test_the_plugin_kinds_come_from_its_entry_points(venv: Path) -> None:
    probe = ("from chaos import registry\n"
             "print({g.what: {n: g.origin(n).distribution for n in g.names()}"
             " for g in (registry.faults, registry.actions, registry.probes)})")
    found = eval(_run(venv / "python", "-c", probe).stdout)  # a dict literal printed by our own probe
    assert found["fault type"]["disk-fill"] == "aftershock-example-kinds"
    assert found["fault type"]["network-delay"] == "aftershock"
    assert found["policy action"]["write-note"] == "aftershock-example-kinds"
    assert found["policy action"]["rollback"] == "aftershock"
    assert found["probe"]["file-exists"] == "aftershock-example-kinds"


async def test_run_of_the_plugin_fault_and_action_on_the_host(venv: Path, tmp_path: Path, audit: Subreaper) -> None:
    fill, notes, state = tmp_path / "fill", tmp_path / "notes.jsonl", tmp_path / "state"
    experiment = _experiment(tmp_path, "4s")
    assert _run(venv / "aftershock", "validate", experiment).returncode == 0
    async with PrometheusServer([], scrape_interval="1s") as prom:
        cli = await Cli.start("run", str(experiment), "-o", "json", "--state-dir", str(state),
                              "--set", f"directory={fill}", "--set", f"notes={notes}",
                              env={"AFTERSHOCK_PROMETHEUS_URL": prom.url}, binary=venv / "aftershock", cwd=tmp_path)
        recorded = await cli.event("FaultRecorded", timeout=60)
        injected = await cli.event("FaultInjected", timeout=60)
        assert [p.name for p in fill.iterdir()] == [f"aftershock-{recorded['run_id']}-scratch-full.fill"]
        assert (fill / f"aftershock-{recorded['run_id']}-scratch-full.fill").stat().st_size == 1048576
        assert await cli.wait() == 1, cli.stderr[-2000:]
    assert injected["fault"] == "scratch-full"
    assert cli.index("FaultRecorded") < cli.index("FaultInjected") < cli.index("FaultRemoved")
    assert cli.final["verdict"] == "deviated"
    assert [json.loads(line)["decision"] for line in notes.read_text().splitlines()] == ["note-it#1"]
    assert list(fill.iterdir()) == []  # removed at the end
    assert StateStore(state).faults(live_only=True) == []


async def test_kill_9_then_recover_removes_the_plugin_fault_from_its_record(venv: Path, tmp_path: Path,
                                                                             audit: Subreaper) -> None:
    fill, state = tmp_path / "fill", tmp_path / "state"
    experiment = _experiment(tmp_path, "5m")
    async with PrometheusServer([], scrape_interval="1s") as prom:
        cli = await Cli.start("run", str(experiment), "-o", "json", "--state-dir", str(state),
                              "--set", f"directory={fill}", "--set", f"notes={tmp_path / 'notes.jsonl'}",
                              env={"AFTERSHOCK_PROMETHEUS_URL": prom.url}, binary=venv / "aftershock", cwd=tmp_path)
        await cli.event("FaultInjected", timeout=60)
        cli.signal(signal.SIGKILL)
        assert await cli.wait() == -signal.SIGKILL
    assert len(list(fill.iterdir())) == 1
    assert [f.fault for f in StateStore(state).faults(live_only=True)] == ["scratch-full"]
    out = _run(venv / "aftershock", "recover", "--state-dir", state, cwd=tmp_path).stdout
    assert "disk-fill scratch-full removed" in out, out
    assert list(fill.iterdir()) == []
    assert StateStore(state).faults(live_only=True) == []
    watchdogs = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_has(p, str(fill))]
    assert watchdogs == []  # the plugin's watchdog was stopped with its fault


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_uninstalling_the_plugin_refuses_its_kinds_and_keeps_the_others(venv: Path, tmp_path: Path) -> None:
    _run(venv / "pip", "uninstall", "-q", "-y", "aftershock-example-kinds")
    proc = subprocess.run([str(venv / "aftershock"), "validate", str(EXAMPLE / "disk-fill.yaml")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "spec.faults[0].type: unknown type 'disk-fill'" in proc.stderr
    assert "spec.policies[0].action: unknown action 'write-note'" in proc.stderr
    _run(venv / "aftershock", "init", "examples", cwd=tmp_path)
    shipped = sorted((tmp_path / "examples").glob("*.yaml"))
    assert shipped and _run(venv / "aftershock", "validate", *shipped, cwd=tmp_path).returncode == 0
