#!/usr/bin/env bash
# Installs what Aftershock needs on a fresh Debian machine: system packages (Prometheus and
# promtool, the Pushgateway (the metrics tests push to it), iptables, iproute2, tmux, openssl) and a virtualenv with the package and its dev tools,
# then builds the Kubernetes test control plane (scripts/kube-testbed build: kube-apiserver,
# kube-controller-manager and etcd from the pinned Go modules; about 15 minutes the first time on
# 2 cores, cached per machine afterwards; skip with AFTERSHOCK_SKIP_KUBE_TESTBED=1 for `make demo`).
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
  "$VENV/bin/python" scripts/kube-testbed build >/dev/null
fi
