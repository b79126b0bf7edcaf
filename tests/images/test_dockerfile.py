"""The release ``Dockerfile`` builds, with the same tool a user may choose (buildah, Debian's package)
and no registry: its steps run on a base image made here from Debian packages
(``localhost/aftershock-base:dev`` from ``scripts/node-images``: python3 and its venv module), passed
as ``--build-arg BASE=oci-archive:…``; pip fetches the dependencies from PyPI. The image it makes
runs ``aftershock --version`` as uid 65532 with the bundled manifests found (``compile`` of a bundled
experiment renders Chaos Mesh objects)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/aftershock:dockerfile-test"
pytestmark = [pytest.mark.root, pytest.mark.timeout(1200)]


def node_images():  # scripts/node-images is a script, not a module
    loader = importlib.machinery.SourceFileLoader("node_images", str(ROOT / "scripts" / "node-images"))
    spec = importlib.util.spec_from_loader("node_images", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_dockerfile_builds_on_a_local_debian_base(tmp_path: Path) -> None:
    base = node_images().base_image()
    pip = []  # this machine's pip settings (a mirror, or the CA of a TLS-intercepting proxy) for the build
    if os.environ.get("PIP_CERT"):
        pip += ["--volume", f"{os.environ['PIP_CERT']}:/etc/pip-build-ca.crt:ro",
                "--build-arg", "PIP_CERT=/etc/pip-build-ca.crt"]
    if os.environ.get("PIP_INDEX_URL"):
        pip += ["--build-arg", f"PIP_INDEX_URL={os.environ['PIP_INDEX_URL']}"]
    buildah = ["buildah", "--root", str(tmp_path / "storage"), "--runroot", str(tmp_path / "run"),
               "--storage-driver", "overlay"]
    try:
        build = subprocess.run([*buildah, "bud", "--isolation", "chroot", "--network", "host", "--layers=false", *pip,
                                "--build-arg", f"BASE=oci-archive:{base}", "-t", TAG, "-f",
                                str(ROOT / "Dockerfile"), str(ROOT)], capture_output=True, text=True)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        container = subprocess.run([*buildah, "from", TAG], capture_output=True, text=True, check=True).stdout.strip()
        ran = subprocess.run([*buildah, "run", "--isolation", "chroot", container, "--", "/bin/sh", "-c",
                              "id -u && aftershock --version && aftershock compile "
                              "/opt/aftershock/lib/python3.11/site-packages/chaos/experiments/pod-kill.yaml "
                              "--run-id dock1"], capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr[-3000:]
        lines = ran.stdout.splitlines()
        assert lines[0] == "65532"
        assert lines[1].startswith("aftershock, version")
        assert "kind: PodChaos" in ran.stdout
    finally:
        subprocess.run([*buildah, "rm", "--all"], capture_output=True)
        subprocess.run([*buildah, "rmi", "--all", "--force"], capture_output=True)
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(tmp_path)):
                subprocess.run(["umount", "-l", point], capture_output=True)
