# The README's two commands: `make demo` (the embedded demo) and `make test` (lint + types +
# import contracts + the whole test suite + the installed wheel + the unit suite under Python 3.13). Both install what they need first.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint unit wheel-test py313 bench

setup:
	@./scripts/setup.sh

demo:
	@AFTERSHOCK_SKIP_KUBE_TESTBED=1 ./scripts/setup.sh
	$(BIN)/aftershock demo

lint: setup
	$(BIN)/ruff check chaos tui tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q -p no:cacheprovider --durations=25

wheel-test: setup
	@./scripts/wheel-test.sh

py313: setup
	@./scripts/py313-test.sh

# The 3.13 pass runs beside the unit suite at the lowest CPU priority (nice 19): it only takes CPU the
# unit suite leaves idle (much of it waits on scrapes, cron minutes and deadlines); its output
# follows the unit suite's, and either failing fails `make test`.
test: lint wheel-test
	@./scripts/py313-test.sh --install
	@log=$$(mktemp); nice -n 19 ./scripts/py313-test.sh > "$$log" 2>&1 & p=$$!; \
	  $(MAKE) --no-print-directory unit; u=$$?; wait $$p; q=$$?; \
	  echo "--- the unit suite under Python 3.13 (ran beside the unit suite, nice 19) ---"; cat "$$log"; rm -f "$$log"; \
	  [ $$u -eq 0 ] && [ $$q -eq 0 ]

bench: setup
	@command -v haproxy >/dev/null 2>&1 || { echo "bench: installing haproxy (a peer of the fault proxy in bench_proxy.py)"; \
	  if [ "$$(id -u)" -ne 0 ]; then S=sudo; else S=; fi; $$S apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }
	$(BIN)/python bench/bench_monitor.py
	$(BIN)/python bench/bench_proxy.py
	$(BIN)/python bench/bench_tui.py
	$(BIN)/python bench/bench_recovery.py
