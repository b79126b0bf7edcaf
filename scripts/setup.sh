#!/usr/bin/env bash
# Installs what Aftershock needs on a fresh Debian machine: system packages (Prometheus and
# promtool, the Pushgateway and Alertmanager (tests use the real ones), iptables, iproute2, tmux,
# openssl) and a virtualenv with the package and its dev tools, then builds the Kubernetes testbed
# (scripts/kube-testbed build --node: kube-apiserver, kube-controller-manager and etcd, the node's
# kubelet, kube-scheduler and kube-proxy, and Chaos Mesh's controller and daemon from the pinned Go
# modules; long the first time on 2 cores, cached per machine afterwards) and the node's images
# (scripts/node-images build: a Debian root file system by mmdebstrap, cached, plus the project's
# wheel); skip both with AFTERSHOCK_SKIP_KUBE_TESTBED=1 for `make demo`.
# Idempotent and quick when nothing changed. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [[ "${AFTERSHOCK_SKIP_KUBE_TESTBED:-0}" != 1 ]]; then
  # the testbed node (scripts/kube-testbed up --node): container runtime, CNI plugins, the tools
  # kube-proxy, the kubelet and chaos-daemon call, and mmdebstrap for the images (scripts/node-images)
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v ipset >/dev/null 2>&1 || need+=(ipset)
  command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
  command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
  command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)  # chaos-daemon is built with cgo
  # the Dockerfile's build test (tests/images): buildah on a locally made base, no registry
  command -v buildah >/dev/null 2>&1 || need+=(buildah)
fi
if ((${#need[@]})); then
  echo "setup: installing system packages: ${need[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.aftershock-installed"
digest=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "setup: installing Python packages into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
  echo "$digest" > "$stamp"
fi

if [[ "${AFTERSHOCK_SKIP_KUBE_TESTBED:-0}" != 1 ]]; then
  "$VENV/bin/python" scripts/kube-testbed build --node >/dev/null
  VENV=$VENV "$VENV/bin/python" scripts/node-images build >/dev/null
fi
