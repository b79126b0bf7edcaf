"""Start-up: each command imports only what it needs (asserted on ``python -X importtime``, not timed),
and command modules import with the cyclic GC paused.

The figures (``aftershock --help`` against ``chaos --help``, launch → fault injected against Chaos
Toolkit) are in ``docs/benchmarks.md``, measured by ``bench/bench_peers.py``.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AFTERSHOCK = Path(sys.executable).parent / "aftershock"
DEMO = str(REPO / "experiments" / "demo-payment-latency.yaml")
NEVER_ON_THE_HOST_PATH = {"kubernetes", "textual", "chaoslib", "chaostoolkit", "aiohttp", "tui"}


def imported(*args: str, tmp_path: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSHOCK_", "PROMETHEUS_"))}
    proc = subprocess.run([sys.executable, "-X", "importtime", str(AFTERSHOCK), *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr, re.MULTILINE))
    assert names, proc.stderr[-2000:]
    return names


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_help_imports_no_command(tmp_path: Path) -> None:
    names = imported("--help", tmp_path=tmp_path)
    assert not {n for n in names if n.startswith("chaos.commands.")}  # the package itself is tiny
    assert not top(names) & (NEVER_ON_THE_HOST_PATH | {"pydantic", "httpx", "jinja2", "yaml", "rich", "requests"})


def test_validate_imports_the_model_and_nothing_that_talks(tmp_path: Path) -> None:
    names = imported("validate", DEMO, tmp_path=tmp_path)
    assert {"chaos.loading", "pydantic"} <= names
    assert not top(names) & (NEVER_ON_THE_HOST_PATH | {"httpx", "requests", "prometheus_api_client", "sqlite3",
                                                      "rich", "promql_parser"})
    # the policy checks of a file are model checks: validating does not load the policy engine
    assert not {n for n in names if n.startswith(("chaos.policy", "chaos.engine", "chaos.slo"))}
    assert "chaos.model.gameday" not in names  # an experiment file: the game-day model is not needed


def test_a_file_without_templates_imports_no_jinja2(tmp_path: Path) -> None:
    # the demo's templates written out as their values: the same experiment, nothing to render
    text = Path(DEMO).read_text()
    text = re.sub(r"\"\{\{ env\.\w+ \| default\('([^']*)'\) \}\}\"", r'"\1"', text)
    text = text.replace('"{{ latency }}"', "500ms").replace('"{{ duration }}"', "40s")
    assert "{{" not in text
    plain = tmp_path / "plain.yaml"
    plain.write_text(text)
    assert "jinja2" not in top(imported("validate", str(plain), tmp_path=tmp_path))
    assert "jinja2" not in top(imported("run", "--dry-run", str(plain), "--state-dir", "state", tmp_path=tmp_path))
    assert "jinja2" in top(imported("validate", DEMO, tmp_path=tmp_path))  # the demo is templated


def kind_modules(names: set[str]) -> set[str]:
    """The kind modules among ``names`` (the two Chaos Toolkit kinds live with the interop)."""
    packages = ("chaos.faults.", "chaos.actions.", "chaos.probes.", "chaos.interop.ctk_fault_kind",
                "chaos.interop.ctk_probe_kind")
    return {n for n in names if n.startswith(packages) and n != "chaos.faults.common"}


@pytest.mark.parametrize("args", [("validate", DEMO), ("run", "--dry-run", DEMO, "--state-dir", "state")])
def test_a_file_imports_only_the_kinds_it_names(tmp_path: Path, args: tuple[str, ...]) -> None:
    # the demo names one fault type (network-delay) and one action (rollback), and no probe; the
    # policy engine (which uses the circuit breaker's and abort's policy classes) loads once a fault
    # is injected, and a dry run injects nothing
    names = imported(*args, tmp_path=tmp_path)
    assert kind_modules(names) == {"chaos.faults.network_delay", "chaos.actions.rollback"}
    assert not names & {"chaos.policy.decisions", "chaos.policy.executor"}  # (the ledger is read at the end)
    if args[0] == "validate":  # no kind module brings the event loop in (the Chaos Toolkit probe's runner did)
        assert "asyncio" not in names


def test_a_run_without_alerting_imports_no_alertmanager_client_and_the_journal_only_at_its_end(tmp_path: Path) -> None:
    # the dry run goes through pre-flight and planning and ends without a journal: what a real run
    # imports before it injects; the Alertmanager client and the run's alerts are for spec.alerting
    names = imported("run", "--dry-run", DEMO, "--state-dir", "state", tmp_path=tmp_path)
    assert "chaos.engine.driver" in names
    assert not names & {"chaos.clients.alertmanager", "chaos.engine.alerts", "chaos.journal", "chaos.interop.ctk",
                        "chaos.report", "chaos.timeline"}


def test_importing_the_model_imports_no_kind() -> None:
    probe = "import sys, chaos.model.experiment, chaos.model.checks; print(sorted(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert kind_modules(set(proc.stdout.strip()[1:-1].replace("'", "").split(", "))) == set()


def test_command_modules_are_imported_with_the_cyclic_gc_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from chaos import cli

    name = f"{__package__}.gc_probe"
    monkeypatch.setitem(cli.COMMANDS, "probe", f"{name}:probe")
    monkeypatch.delitem(sys.modules, name, raising=False)
    assert gc.isenabled()
    command = cli.main.get_command(click.Context(cli.main), "probe")
    assert command is not None
    assert sys.modules[name].COLLECTING_WHILE_IMPORTED is False
    assert gc.isenabled()  # and collecting again afterwards


@pytest.mark.parametrize("args", [("check", "--help"), ("run", "--dry-run", DEMO, "--state-dir", "state")])
def test_check_and_a_host_run_import_no_cluster_ui_or_peer(tmp_path: Path, args: tuple[str, ...]) -> None:
    names = imported(*args, tmp_path=tmp_path)
    assert "chaos.slo.monitoring" in names
    assert not top(names) & NEVER_ON_THE_HOST_PATH
    # httpx (whose import brings its own command-line client: rich, pygments) is for the webhooks,
    # Alertmanager and the demo; httpcore's locks load anyio's asyncio back end: the proxy's admin API
    # and Prometheus are reached through h11 over asyncio connections (chaos.clients.transport)
    assert not top(names) & {"httpx", "rich", "pygments", "httpcore", "anyio"}
    if args[0] == "run":  # requests and prometheus-api-client serve range queries (check) only
        assert not top(names) & {"requests", "prometheus_api_client"}


def test_the_cli_module_and_click_import_without_a_cyclic_gc_pass() -> None:
    # passes while a module is compiled from source (no byte code written) are not the import's
    probe = ("import gc, sys, traceback\n"
             "passes = []\n"
             "def seen(phase, info):\n"
             "    if phase == 'stop' and not any(f.name == 'source_to_code' for f in traceback.extract_stack()):\n"
             "        passes.append(info)\n"
             "gc.callbacks.append(seen)\n"
             "import chaos.cli\n"
             "print(len(passes), gc.isenabled(), 'click' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60).stdout
    passes, collecting, click = out.split()
    # at most the one pass collecting resumes with (unpaused, importing click took about twenty)
    assert int(passes) <= 1 and collecting == "True" and click == "True"


def test_validate_pauses_the_gc_only_while_it_runs() -> None:
    from click.testing import CliRunner

    from chaos import cli

    assert gc.isenabled()
    result = CliRunner().invoke(cli.main, ["validate", DEMO], env={"AFTERSHOCK_DEMO_PROXY_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    assert gc.isenabled()


def test_validate_freezes_its_objects_at_exit_instead_of_collecting_them(tmp_path: Path) -> None:
    # atexit runs callbacks last-registered first: the probe, registered before the command runs, sees
    # what the command's exit hook did (the interpreter's last cyclic collection then skips them)
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
             "from chaos.cli import main\n"
             "main(['validate', sys.argv[1]])\n")
    env = {**os.environ, "AFTERSHOCK_DEMO_PROXY_TOKEN": "t"}
    proc = subprocess.run([sys.executable, "-c", probe, DEMO], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    frozen = int(re.findall(r"^frozen (\d+)$", proc.stderr, re.MULTILINE)[0])
    assert frozen > 10_000


def test_a_proxy_run_imports_neither_kernel_fault_modules_nor_the_retrying_library_before_injecting(
        tmp_path: Path) -> None:
    # the dry run pre-flights and plans the demo's proxy fault: what a real run imports before injecting
    names = imported("run", "--dry-run", DEMO, "--state-dir", "state", tmp_path=tmp_path)
    assert {"chaos.targets.host", "chaos.clients.host.admin_client"} <= names
    assert not names & {"chaos.clients.host.iptables", "chaos.clients.host.tc"}
    # the HTTP actuator is built at pre-flight; its retrying library and httpx come with its first call
    probe = ("import sys, chaos.clients.http; "
             "print(sorted(m for m in sys.modules if m.startswith(('tenacity', 'httpx'))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_the_collector_stays_paused_until_the_fault_is_injected_then_start_up_is_frozen() -> None:
    from chaos.commands.run import CollectorPause
    from chaos.engine.events import FaultInjected, FaultRecorded

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    pause = CollectorPause()
    try:
        pause(FaultRecorded(run_id="r1", at=0.0, fault="f", fault_type="latency"))
        assert not gc.isenabled()  # recorded, not yet injected
        pause(FaultInjected(run_id="r1", at=0.0, fault="f", fault_type="latency"))
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        pause.resume()  # idempotent: the command's ``finally`` calls it again
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize(("given", "seen"), [(None, "__all__"), ("0", "0")])
def test_pydantic_plugin_lookup_is_off_in_the_aftershock_process_unless_the_environment_says(
        given: str | None, seen: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if given is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = given
    probe = "import os, chaos.cli; print(os.environ['PYDANTIC_DISABLE_PLUGINS'])"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert proc.stdout.strip() == seen, proc.stderr
