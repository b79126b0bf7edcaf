"""Hostile values and bomb files: refused with a clear message and a non-zero exit, quickly and in
little memory, never a traceback. Host fields that reach ``ip netns``/``tc``/``iptables`` argv are
names and addresses, not paths or options; the proxy admin endpoint takes strict JSON only (no
``Infinity`` deadline); an alias bomb and deeply nested JSON are refused at parse time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from harness.admin import proxy_admin

AFTERSHOCK = Path(sys.executable).parent / "aftershock"
MAX_RSS_KB = 400_000
"""A refused bomb costs what starting the CLI costs (~100 MB), far from the gigabyte it asked for."""


def _alias_bomb(levels: int = 9) -> list[str]:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklm"[:levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return lines


def _run_measured(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI in a child of a small Python process that reports the child's peak RSS (KiB)."""
    probe = ("import resource, subprocess, sys, json\n"
             "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)\n"
             "print(json.dumps([done.returncode, done.stdout, done.stderr,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    out = subprocess.run([sys.executable, "-c", probe, str(AFTERSHOCK), *args], capture_output=True, text=True,
                         timeout=180, check=True)
    code, stdout, stderr, rss = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, code, stdout, stderr), int(rss)


def test_a_ctk_alias_bomb_is_refused_small(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(_alias_bomb()) + "\ntitle: bomb\ndescription: x\nmethod: *i\n")
    assert path.stat().st_size < 600
    done, rss = _run_measured("import", str(path))
    assert done.returncode == 2, done.stderr
    assert "YAML nodes (after expanding aliases)" in done.stderr
    assert "Traceback" not in done.stderr
    assert rss < MAX_RSS_KB


def test_an_experiment_alias_bomb_is_refused_small(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    body = "".join(f"    {line}\n" for line in _alias_bomb())
    path.write_text("apiVersion: aftershock/v1alpha1\nkind: Experiment\nmetadata: {name: bomb}\nspec:\n"
                    f"  parameters:\n{body}    all: *i\n")
    assert path.stat().st_size < 600
    done, rss = _run_measured("validate", str(path))
    assert done.returncode == 2
    assert "YAML nodes (after expanding aliases)" in done.stdout + done.stderr
    assert rss < MAX_RSS_KB


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deeply_nested_import_is_refused_without_recursion_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"title": "x", "method": ' + "[" * 100_000 + "]" * 100_000 + "}")
    done = subprocess.run([str(AFTERSHOCK), "import", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "nested deeper than" in done.stderr
    assert "RecursionError" not in done.stderr and "Traceback" not in done.stderr


EXPERIMENT = """apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: hostile}
spec:
  target: {type: host}
  faults:
    - name: cut
      type: %(type)s
      selector: %(selector)s
      duration: 10s
%(extra)s
  slos:
    - name: ok
      query: vector(1)
      objective: {op: ">", value: 0}
"""


@pytest.mark.parametrize(("selector", "field"), [
    ("{port: 8080, netns: ../../../proc/1/ns/net}", "netns"),
    ("{port: 8080, netns: /proc/1/ns/net}", "netns"),
    ("{port: 8080, netns: '..'}", "netns"),
    ("{port: 8080, address: --help}", "address"),
    ("{port: 8080, address: 'example.com; rm -rf /'}", "address"),
    ("{port: 8080, address: 10.0.0.0/33}", "address"),
    ("{port: 8080, interface: --help}", "interface"),
    ("{port: 8080, interface: ../eth0}", "interface"),
    ("{port: 8080, interface: averyveryverylongname}", "interface"),
])
def test_host_fields_that_reach_argv_are_names_not_paths_or_options(tmp_path: Path, selector: str,
                                                                    field: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(EXPERIMENT % {"type": "network-partition", "selector": selector, "extra": ""})
    done = subprocess.run([str(AFTERSHOCK), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"selector.{field}" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_plain_host_fields_still_validate(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(EXPERIMENT % {"type": "network-partition",
                                  "selector": "{port: 8080, netns: chaos-test.1, address: 10.0.0.0/24}",
                                  "extra": ""})
    done = subprocess.run([str(AFTERSHOCK), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


TOKEN = "t" * 32


@pytest.fixture
async def admin_url() -> AsyncIterator[str]:
    async with proxy_admin(TOKEN, "up") as url:
        yield url


@pytest.mark.parametrize("deadline", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_the_admin_api_refuses_a_deadline_without_end(admin_url: str, deadline: str) -> None:
    body = '{"id": "f1", "run_id": "run-1", "kind": "latency", "latency_ms": 10, "deadline": ' + deadline + "}"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"}) as client:
        response = await client.post(f"{admin_url}/faults", content=body)
        listed = await client.get(f"{admin_url}/faults")
    assert response.status_code == 400, response.text
    assert listed.json() == {"faults": []}


async def test_the_admin_api_refuses_deep_nesting(admin_url: str) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = await client.put(f"{admin_url}/weights/up", content="[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert "nested deeper" in response.text


def test_a_finite_deadline_still_goes_through() -> None:
    from chaos.clients.host.specs import ProxyFault

    fault = ProxyFault.from_dict({"id": "f1", "run_id": "r", "kind": "latency", "deadline": time.time() + 5})
    assert fault.deadline > 0
