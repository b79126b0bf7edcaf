#!/usr/bin/env bash
# The installed wheel works from any directory (part of `make test`): build the wheel and the sdist,
# check both with `twine check --strict` and for the LICENSE and py.typed files, install the wheel
# into a fresh venv (dependencies pinned to the dev venv's versions, so pip's cache serves them),
# then from an empty directory outside the repo run `init`, `validate`, `compile`, a dry run and
# `demo --headless`, and check the demo printed its verdict and a report that exists.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
WORK=$(mktemp -d /tmp/aftershock-wheel.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "wheel-test: building the wheel and the sdist"
# from a copy of the tree: the unit suite runs beside this script in `make test`
scripts/copy-tree.sh "$WORK/src"
"$VENV/bin/python" -m build -q --outdir "$WORK/dist" "$WORK/src" > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
"$VENV/bin/twine" check --strict "$WORK"/dist/*
whl_files=$("$VENV/bin/python" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$WORK"/dist/aftershock-*.whl)
sdist_files=$(tar tzf "$WORK"/dist/aftershock-*.tar.gz)
for f in dist-info/licenses/LICENSE chaos/py.typed tui/py.typed; do
  grep -q "$f\$" <<< "$whl_files" || { echo "wheel-test: the wheel lacks $f"; exit 1; }
done
for f in /LICENSE /CHANGELOG.md /chaos/py.typed /tui/py.typed; do
  grep -q "$f\$" <<< "$sdist_files" || { echo "wheel-test: the sdist lacks $f"; exit 1; }
done
"$VENV/bin/pip" freeze --exclude-editable --disable-pip-version-check | grep -v '^aftershock' > "$WORK/pins.txt"
python3 -m venv "$WORK/venv"
echo "wheel-test: installing it into a fresh venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check -c "$WORK/pins.txt" "$WORK"/dist/aftershock-*.whl
BIN=$WORK/venv/bin
mkdir "$WORK/elsewhere"
cd "$WORK/elsewhere"
export AFTERSHOCK_STATE_DIR=$WORK/state
unset AFTERSHOCK_EXPERIMENTS

test "$("$BIN/aftershock" --version)" = "aftershock, version $("$BIN/python" -c 'import importlib.metadata as m; print(m.version("aftershock"))')"
"$BIN/aftershock" init examples
"$BIN/aftershock" validate examples/*.yaml
"$BIN/aftershock" compile examples/payment-latency.yaml --run-id wheel1 > compiled.yaml
grep -q "kind: NetworkChaos" compiled.yaml
"$BIN/aftershock" compile examples/payment-latency.yaml --run-id wheel1 --out objects > /dev/null
ls objects/*.yaml > /dev/null
set +e
"$BIN/aftershock" run examples/demo-payment-latency.yaml --dry-run > dry.txt 2>&1
set -e
grep -q "aftershock demo" dry.txt
"$BIN/aftershock" demo --headless > demo.txt 2> demo.err || { cat demo.txt demo.err; exit 1; }
report=$(sed -n 's/^demo: report //p' demo.txt)
grep -q "^demo: verdict deviated" demo.txt
test -s "$report"
grep -q "<svg" "$report"
echo "wheel-test: ok (validate, compile, dry run, demo --headless from $WORK/elsewhere; report $report)"
