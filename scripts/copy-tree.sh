#!/usr/bin/env bash
# Copies the source tree (what git tracks or would track, as it is in the work tree; the whole
# directory minus venvs and build output outside a git checkout) into DEST, for the scripts that
# build wheels while the unit suite runs beside them: setuptools writes build/ and *.egg-info where
# it builds, and its build/lib keeps deleted modules. Usage: scripts/copy-tree.sh DEST
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$1
mkdir -p "$dest"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -co --exclude-standard -z \
    | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$dest"
else
  tar -c --exclude='./.venv*' --exclude=./build --exclude='*.egg-info' . | tar -x -C "$dest"
fi
