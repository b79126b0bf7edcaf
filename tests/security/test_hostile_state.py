"""Hostile state dirs, run registries and forged records: what Aftershock reads back is data.

Each test stands for one finding of the review (issue 24): a state dir or registry someone else
could write is refused (exit 3, nothing done); files are 0600 and dirs 0700; one damaged row
never stops the recovery of the others; a forged record never sends a token to someone else's
listener or off the host, never unlinks a file it names, never runs a kubeconfig it names; a
newer database is never written by the schedule store. Real CLI, real sockets, no mocks.
Run as root (CI does): a stranger's socket and files belong to uid 65534.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.clients.registry import RunLock, checked_run_dir, is_alive
from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import SCHEMA_VERSION, StateStore
from chaos.errors import StateError

AFTERSHOCK = Path(sys.executable).parent / "aftershock"
REPO_ROOT = Path(__file__).resolve().parents[2]
STRANGER = 65534
DEAD = "deadbeef"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"}
    return subprocess.run([str(AFTERSHOCK), *args], capture_output=True, text=True, timeout=120,
                          env={**base, **(env or {})})


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


def dead_store(state: Path) -> StateStore:
    store = StateStore(state)
    store.start_run(DEAD, "forged", "forged.yaml", "host", time.time() - 60)
    db = sqlite3.connect(state / "state.db")
    db.execute("UPDATE runs SET pid = 999999, pid_start = 'gone', host = '' WHERE id = ?", (DEAD,))
    db.commit()
    db.close()
    return store


def forge(state: Path, fault: str, realisation: str, fault_type: str = "network-delay") -> None:
    """Write a fault row as an attacker (or a disk) would: raw text, no codec."""
    db = sqlite3.connect(state / "state.db")
    db.execute("INSERT INTO faults (run_id, fault, fault_type, realisation, deadline, state, recorded) "
               "VALUES (?, ?, ?, ?, ?, 'injected', ?)", (DEAD, fault, fault_type, realisation, time.time() + 600,
                                                        time.time()))
    db.commit()
    db.close()


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.fail("these tests need root (files and sockets of another uid); CI runs as root")


# ------------------------------------------------------------------ state dir and registry: StrictModes


def test_a_state_dir_writable_by_others_is_refused_and_nothing_is_done(tmp_path: Path) -> None:
    state = tmp_path / "shared"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(StateError, match="writable by group or others"):
        StateStore(state)
    done = cli("recover", "--state-dir", str(state))
    assert done.returncode == 3 and "writable by group or others" in done.stderr and "chmod go-w" in done.stderr
    no_traceback(done)
    assert not (state / "state.db").exists()  # nothing read, nothing written
    done = cli("status", "--state-dir", str(state))
    assert done.returncode == 3 and "refusing the state directory" in done.stderr


def test_a_state_dir_of_another_user_is_refused(tmp_path: Path, root: None) -> None:
    state = tmp_path / "theirs"
    state.mkdir(mode=0o700)
    os.chown(state, STRANGER, STRANGER)
    done = cli("recover", "--state-dir", str(state))
    assert done.returncode == 3 and f"owned by uid {STRANGER}, not by you" in done.stderr, done.stderr
    no_traceback(done)
    assert not (state / "state.db").exists()


def test_a_state_db_of_another_user_is_refused(tmp_path: Path, root: None) -> None:
    state = tmp_path / "state"
    StateStore(state).close()
    os.chown(state / "state.db", STRANGER, STRANGER)
    with pytest.raises(StateError, match=r"state database .* owned by uid"):
        StateStore(state)


def test_state_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "state.db").touch(mode=0o644)  # a database of an older release
    (state / "state.db").chmod(0o644)
    store = StateStore(state)
    store.start_run("r1", "x", "x.yaml", "host")
    journal = store.write_journal("r1", {"run_id": "r1"})
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [state / "state.db", state / "state.db-wal", journal]}
    assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "r1.json": 0o600}
    assert stat.S_IMODE((state / "journals").stat().st_mode) == 0o700
    fresh = tmp_path / "fresh"
    StateStore(fresh).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def test_a_hostile_run_registry_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "aftershock-0"
    link.symlink_to(real)  # what someone else could plant in /tmp before us
    with pytest.raises(StateError, match="not a directory"):
        checked_run_dir(link)
    with pytest.raises(StateError, match="not a directory"):
        RunLock("abcd1234", tmp_path, link)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o1777)
    with pytest.raises(StateError, match="writable by group or others"):
        is_alive("abcd1234", open_dir)
    state = tmp_path / "state"
    done = cli("recover", "--state-dir", str(state), env={"AFTERSHOCK_RUN_DIR": str(open_dir)})
    assert done.returncode == 3 and "refusing the run registry" in done.stderr, done.stdout + done.stderr
    no_traceback(done)
    fresh = tmp_path / "fresh-registry"
    lock = RunLock("abcd1234", tmp_path, fresh)
    try:
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700 and is_alive("abcd1234", fresh)
    finally:
        lock.release()


def test_a_run_registry_of_another_user_is_refused(tmp_path: Path, root: None) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, STRANGER, STRANGER)
    with pytest.raises(StateError, match=f"owned by uid {STRANGER}"):
        is_alive("abcd1234", theirs)


# ------------------------------------------------------------------ damaged rows: reported, skipped


def test_one_damaged_row_never_stops_the_recovery_of_the_others(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "corrupt", '{"kind": "proxy", "proxy": {')
    forge(state, "from-the-future", json.dumps({"v": 99, "kind": "hologram"}))
    forge(state, "not-an-object", "[1, 2]")
    forge(state, "fine", json.dumps({"v": 1, "kind": "proxy", "description": "a proxy long gone",
                                     "proxy": {"admin": "http://127.0.0.1:9", "token_env": "NOPE"},
                                     "proxy_fault": {"id": "f1"}}))
    db = sqlite3.connect(state / "state.db")
    db.execute("INSERT INTO undo (run_id, items, state, at) VALUES (?, ?, 'pending', ?)", (DEAD, "{oops", 1.0))
    db.commit()
    db.close()

    done = cli("status", "--state-dir", str(state), "--output", "json")
    assert done.returncode == 0, done.stderr
    no_traceback(done)
    listed = {f["fault"]: f for f in json.loads(done.stdout)["faults"] if f["run"] == DEAD}
    assert {n: f["state"] for n, f in listed.items()} == {"corrupt": "unknown", "from-the-future": "unknown",
                                                         "not-an-object": "unknown", "fine": "unknown"}
    assert "corrupt JSON" in listed["corrupt"]["detail"] and "newer" in listed["from-the-future"]["detail"]

    done = cli("recover", "--state-dir", str(state))
    no_traceback(done)
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert f"✓ {DEAD}/fine (network-delay, proxy): proxy at http://127.0.0.1:9 is gone" in out
    assert f"✗ {DEAD}/corrupt: the fault record cannot be read (unreadable record (corrupt JSON" in out
    assert f"✗ {DEAD}/from-the-future: the fault record cannot be read (a fault record of version 99" in out
    assert f"✗ {DEAD}: the undo plan record cannot be read" in out
    store = StateStore(state)
    assert [f.fault for f in store.faults(live_only=True)] == []
    # quarantined, not rewritten: a newer Aftershock can still read its row
    assert sorted(d.name for d in store.damaged_faults()) == ["corrupt", "from-the-future", "not-an-object"]
    raw = sqlite3.connect(state / "state.db").execute(
        "SELECT realisation FROM faults WHERE fault = 'from-the-future'").fetchone()[0]
    assert json.loads(raw)["v"] == 99


async def test_pre_flight_recovery_skips_a_damaged_row(tmp_path: Path) -> None:
    from chaos.targets.recovery import recover_faults

    state = tmp_path / "state"
    store = dead_store(state)
    forge(state, "corrupt", "{")
    forge(state, "fine", json.dumps({"kind": "proxy", "proxy": {"admin": "http://127.0.0.1:9"},
                                     "proxy_fault": {"id": "f1"}}))
    result = await recover_faults(store, kinds=("proxy", "iptables", "tc"))
    assert [r.fault for r, _ in result.removed] == ["fine"]
    assert [d.name for d in result.damaged] == ["corrupt"]


def test_the_schedule_store_refuses_a_newer_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    StateStore(state).close()
    db = sqlite3.connect(state / "state.db")
    db.execute("DROP TABLE schedule_fires")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="written by a newer Aftershock"):
        ScheduleStore(state)
    tables = {r[0] for r in sqlite3.connect(state / "state.db").execute("SELECT name FROM sqlite_master")}
    assert "schedule_fires" not in tables  # never written


# ------------------------------------------------------------------ forged records: data, not instructions


@pytest.fixture
def strangers_listener(root: None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """An HTTP listener of uid 65534 on loopback that prints every Authorization header it gets."""
    code = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def _any(self):\n"
        "        print('AUTH', self.headers.get('Authorization'), flush=True)\n"
        "        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.end_headers()\n"
        "        self.wfile.write(b'{\"faults\": [], \"removed\": true}')\n"
        "    do_GET = do_DELETE = do_PUT = do_POST = _any\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "print(s.server_address[1], flush=True)\n"
        "s.serve_forever()\n")
    proc = subprocess.Popen(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE, text=True, user=STRANGER,
                            group=STRANGER, cwd="/")
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(5)


def test_a_forged_record_never_sends_a_token_to_a_strangers_listener(
        tmp_path: Path, strangers_listener: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = strangers_listener
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "bait", json.dumps({"v": 1, "kind": "proxy", "proxy": {"admin": url, "token_env": "VICTIM_TOKEN"},
                                     "proxy_fault": {"id": "x"}}))
    env = {"VICTIM_TOKEN": "s3cr3t-victim-token"}
    status = cli("status", "--state-dir", str(state), env=env)
    recover = cli("recover", "--state-dir", str(state), env=env)
    for done in (status, recover):
        no_traceback(done)
        assert "not yours" in done.stdout + done.stderr, done.stdout + done.stderr
    assert recover.returncode == 3
    proc.terminate()
    out, _ = proc.communicate(timeout=5)
    assert "s3cr3t" not in out and "AUTH" not in out  # not one request reached it
    assert StateStore(state).fault(DEAD, "bait") is not None  # left as it was, still live


def test_a_forged_record_never_sends_a_token_off_the_host(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "exfil", json.dumps({"v": 1, "kind": "proxy",
                                      "proxy": {"admin": "http://collector.example:8080", "token_env": "VICTIM"},
                                      "proxy_fault": {"id": "x"}}))
    done = cli("recover", "--state-dir", str(state), env={"VICTIM": "s3cr3t"})
    no_traceback(done)
    assert done.returncode == 3 and "not on this host" in done.stderr, done.stdout + done.stderr


def test_a_forged_record_never_chooses_which_file_is_unlinked(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dead_store(state).close()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    inside = state / "proxy-0123abcd.token"  # a run-owned token file: that one goes
    inside.write_text("t")
    for name, token_file in (("outside", str(precious)), ("inside", str(inside))):
        forge(state, name, json.dumps({"v": 1, "kind": "proxy",
                                       "proxy": {"admin": "http://127.0.0.1:9", "pid": 999999,
                                                 "token_file": token_file, "token_env": None},
                                       "proxy_fault": {"id": name}}))
    done = cli("recover", "--state-dir", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert precious.read_text() == "keep me"
    assert not inside.exists()


def test_a_forged_record_never_chooses_which_kubeconfig_runs(tmp_path: Path, root: None) -> None:
    marker = tmp_path / "pwned"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
users:
- name: u
  user:
    exec: {{apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "touch {marker}"],
            interactiveMode: Never}}
""")
    os.chown(kubeconfig, STRANGER, STRANGER)
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "kube", json.dumps({"v": 1, "kind": "kubernetes", "object": {
        "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
        "metadata": {"name": "x", "namespace": "shop", "labels": {"aftershock.io/run-id": DEAD}}},
        "kube": {"kubeconfig": str(kubeconfig), "namespace": "shop"}}), fault_type="pod-kill")
    for done in (cli("status", "--state-dir", str(state)), cli("recover", "--state-dir", str(state))):
        no_traceback(done)
        assert f"kubeconfig {kubeconfig} named by the record belongs to uid {STRANGER}" in done.stdout + done.stderr
    assert not marker.exists()


# ------------------------------------------------------------------ Chaos Toolkit runs hold the run lock


def test_a_chaos_toolkit_run_is_alive_for_recover_from_another_state_dir(tmp_path: Path) -> None:
    from chaos.interop.ctk_runtime import Runtime
    from chaos.loading import load_text
    from chaos.targets.recovery import dead_runs

    loaded = load_text("""
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: ctk-locked}
spec:
  target: {type: host}
  faults:
    - {name: drop, type: network-loss, selector: {port: 15999}, percent: 30, duration: 30s}
""", source="ctk.yaml")
    runtime = Runtime()
    run_id = "ctk" + os.urandom(3).hex()
    try:
        runtime._run(loaded, run_id, str(tmp_path / "ctk-state"))
        other = StateStore(tmp_path / "other-state")
        assert is_alive(run_id) and dead_runs(other)(run_id) is False
    finally:
        runtime.shutdown()
    assert not is_alive(run_id)


def test_socket_helper_sanity() -> None:
    """The listener check reads the kernel's socket tables: a socket of ours is found as ours."""
    from chaos.clients.record_trust import check_admin

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        check_admin(f"http://127.0.0.1:{sock.getsockname()[1]}")  # ours: allowed


def test_a_forged_kernel_record_names_no_path_as_a_netns(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "escape", json.dumps({"v": 1, "kind": "tc", "comment": f"aftershock:{DEAD}:escape",
                                       "kernel": {"netns": "../../../proc/1/ns/net", "interface": "lo"}}),
          fault_type="network-bandwidth")
    forge(state, "option", json.dumps({"v": 1, "kind": "tc", "comment": f"aftershock:{DEAD}:option",
                                       "kernel": {"interface": "--help"}}), fault_type="network-bandwidth")
    for done in (cli("status", "--state-dir", str(state)), cli("recover", "--state-dir", str(state))):
        no_traceback(done)
        out = done.stdout + done.stderr
        assert "invalid network namespace '../../../proc/1/ns/net'" in out, out
        assert "invalid network interface '--help'" in out, out


def test_a_report_in_the_state_dir_is_private(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chaos.cli import main
    from chaos.report import report_path

    state = tmp_path / "state"
    store = StateStore(state)
    store.start_run("r1", "x", "x.yaml", "host")
    store.write_journal("r1", {"aftershock": {"run_id": "r1", "experiment": "x", "verdict": "passed", "events": []}})
    store.finish_run("r1", "passed", 0, str(store.journal_path("r1")))
    result = CliRunner().invoke(main, ["report", "r1", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    path = report_path(state, "r1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_damaged_fire_row_never_stops_the_scheduler(tmp_path: Path) -> None:
    state = tmp_path / "state"
    schedules = ScheduleStore(state)
    schedules.register("nightly", "n.yaml", 1.0)
    assert schedules.claim("nightly", 100.0, "gd-1", 100.0)
    db = sqlite3.connect(state / "state.db")
    db.execute("UPDATE schedule_fires SET runs = '[oops' WHERE schedule = 'nightly'")
    db.commit()
    db.close()
    (fire,) = schedules.fires("nightly")
    assert fire.gameday_id == "gd-1" and fire.runs == []


# ------------------------------------------------------------------ silence records: credentials stay home


def _forged_silence(url: str) -> str:
    return json.dumps({"v": 1, "kind": "alertmanager-silence", "url": url, "run_id": DEAD, "matchers": [],
                       "starts": time.time() - 60, "ends": time.time() + 600, "comment": f"aftershock:{DEAD}",
                       "description": "bait",
                       "headers": {"Authorization": {"$secret": {"template": "Bearer {{ env.AM_TOKEN }}"}}}})


def test_a_forged_silence_record_never_sends_the_alertmanager_credentials_to_a_strangers_listener(
        tmp_path: Path, strangers_listener: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = strangers_listener
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "alert-silence", _forged_silence(url), fault_type="silence")
    done = cli("recover", "--state-dir", str(state), env={"AM_TOKEN": "s3cr3t-am-token"})
    no_traceback(done)
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "neither a URL you configured" in out, out
    proc.terminate()
    heard, _ = proc.communicate(timeout=5)
    assert "s3cr3t" not in heard and "AUTH" not in heard  # not one request reached it
    assert StateStore(state).fault(DEAD, "alert-silence") is not None  # left, still live


def test_a_silence_record_sends_its_credentials_to_the_configured_alertmanager(
        tmp_path: Path, strangers_listener: tuple[str, subprocess.Popen[str]]) -> None:
    """The same record is acted on once the user names that Alertmanager (AFTERSHOCK_ALERTMANAGER_URL):
    the rule refuses what the user did not configure, not remote Alertmanagers."""
    url, proc = strangers_listener
    state = tmp_path / "state"
    dead_store(state).close()
    forge(state, "alert-silence", _forged_silence(url), fault_type="silence")
    done = cli("recover", "--state-dir", str(state),
               env={"AM_TOKEN": "s3cr3t-am-token", "AFTERSHOCK_ALERTMANAGER_URL": url + "/"})
    no_traceback(done)
    proc.terminate()
    heard, _ = proc.communicate(timeout=5)
    assert "AUTH Bearer s3cr3t-am-token" in heard, done.stdout + done.stderr


# ------------------------------------------------------------------ HTTP degrade reverts: credentials stay home


def _forged_degrade_revert(state: Path, url: str) -> None:
    """A dead run's undo plan whose HTTP degrade revert sends a header recipe to ``url`` (raw row, no codec)."""
    item = {"v": 1, "kind": "http-degrade", "deadline": time.time() - 1, "decision_id": "d1",
            "call": {"method": "POST", "url": url + "/revert",
                     "headers": {"Authorization": {"$secret": {"template": "Bearer {{ env.FLAG_TOKEN }}"}}}}}
    db = sqlite3.connect(state / "state.db")
    db.execute("INSERT OR REPLACE INTO undo (run_id, items, state, at) VALUES (?, ?, 'pending', ?)",
               (DEAD, json.dumps([item]), time.time()))
    db.commit()
    db.close()


def test_a_forged_degrade_revert_never_sends_credentials_where_the_user_did_not_allow(
        tmp_path: Path, strangers_listener: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = strangers_listener
    state = tmp_path / "state"
    dead_store(state).close()
    _forged_degrade_revert(state, url)
    done = cli("recover", "--state-dir", str(state), env={"FLAG_TOKEN": "s3cr3t-flag-token"})
    no_traceback(done)
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "revert of degrade d1" in out and "--allow-credentials-to 127.0.0.1" in out, out
    assert "s3cr3t" not in out
    (plan,) = StateStore(state).undo_plans()
    assert plan.run_id == DEAD and len(plan.items) == 1  # kept: the user can still revert it
    # allowed by the user on the command line (not by the record): the revert is sent, once
    allowed = cli("recover", "--state-dir", str(state), "--allow-credentials-to", url.split("//")[1],
                  env={"FLAG_TOKEN": "s3cr3t-flag-token"})
    no_traceback(allowed)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    proc.terminate()
    heard, _ = proc.communicate(timeout=5)
    assert heard.count("AUTH Bearer s3cr3t-flag-token") == 1, heard
    assert StateStore(state).undo_plans() == []


def test_the_run_allows_its_watchdog_only_the_hosts_its_experiment_names() -> None:
    """What the run's undo watchdog may send credentials to comes from the experiment the run holds:
    the hosts of degrade reverts that carry headers (a revert without headers sends no credential)."""
    from chaos.loading import load_text
    from chaos.targets.undo import credential_hosts

    text = (REPO_ROOT / "experiments" / "payment-latency.yaml").read_text()
    assert credential_hosts(load_text(text, "payment-latency.yaml").experiment) == []
    with_headers = text.replace('revert: {method: POST, url: "http://order-admin.shop:8080/fallback",',
                                'revert: {method: POST, url: "http://order-admin.shop:8080/fallback", '
                                'headers: {Authorization: "Bearer {{ env.FLAG_TOKEN }}"},')
    loaded = load_text(with_headers, "payment-latency.yaml", environ={"FLAG_TOKEN": "t"})
    assert credential_hosts(loaded.experiment) == ["order-admin.shop:8080"]
