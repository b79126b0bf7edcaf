#!/usr/bin/env bash
# The unit suite under Python 3.13 (part of `make test`; the machine's Python runs everything else).
# Python 3.13 is found as $PYTHON313, or python3.13 on PATH, or a pyenv build
# (~/.pyenv/versions/3.13.*); PyPI has no CPython builds, so a machine without one installs Debian
# trixie's python3.13 (e.g. in an mmdebstrap root file system) and points PYTHON313 at it.
# A venv of its own (.venv313, editable install of '.[dev]'), then the tests that need neither root,
# a cluster nor a terminal: the pure layers, the CLI, the scheduler, packaging and schemas; then the
# built wheel installed in a fresh 3.13 venv runs init, validate and compile from outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
is313() { [[ -n "$1" && -x "$1" ]] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; }
PY=
for candidate in "${PYTHON313:-}" "$(command -v python3.13 || true)" \
                 $(ls -d "$HOME"/.pyenv/versions/3.13.*/bin/python3.13 2>/dev/null | sort -rV); do
  if is313 "$candidate"; then PY=$candidate; break; fi
done
if [[ -z "$PY" ]]; then
  echo "py313-test: no Python 3.13 found (set PYTHON313, or install python3.13: Debian trixie's package, pyenv)" >&2
  exit 1
fi
VENV=${VENV313:-.venv313}
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.aftershock-installed"
digest=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "py313-test: installing into $VENV ($("$PY" --version))"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
  echo "$digest" > "$stamp"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version'
if [[ "${1:-}" == "--install" ]]; then exit 0; fi  # `make test` installs first, then runs this beside the unit suite
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/pytest" -q -p no:cacheprovider --basetemp "$WORK/pytest" tests/foundation tests/policy tests/engine tests/gameday tests/release \
  tests/cli tests/metrics
# the wheel as a user installs it, on 3.13, from outside the repository; built from a copy of the
# tree (setuptools writes build/ and *.egg-info in the tree it builds, and the unit suite beside this
# one builds wheels of the repository too)
scripts/copy-tree.sh "$WORK/src"
"$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$WORK/dist" "$WORK/src" >/dev/null
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "$WORK"/dist/aftershock-*.whl
(cd "$WORK" && "$WORK/venv/bin/aftershock" init ex >/dev/null && "$WORK/venv/bin/aftershock" validate ex/*.yaml >/dev/null \
  && "$WORK/venv/bin/aftershock" compile ex/payment-latency.yaml >/dev/null) \
  || { echo "py313-test: the installed wheel failed on $("$PY" --version)" >&2; exit 1; }
echo "py313-test: the wheel installs and runs (init, validate, compile) on $("$PY" --version)"
echo "py313-test: ok ($("$VENV/bin/python" --version), chaostoolkit $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("chaostoolkit"))'))"
