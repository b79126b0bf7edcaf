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

# Two pytest-xdist workers: much of the suite waits (on scrapes, cron minutes, deadlines, pods), so
# a second worker fills the idle CPU; tests/conftest.py keeps each module, the Kubernetes testbeds'
# tests and the TUI's on one worker each.
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup --durations=25

unit: setup
	$(PYTEST)

wheel-test: setup
	@./scripts/wheel-test.sh

py313: setup
	@./scripts/py313-test.sh

# Beside the unit suite: the 3.13 pass at the lowest CPU priority (nice 19: it takes only CPU the
# unit suite leaves idle), then the installed-wheel test; their output follows the unit suite's, and
# any of them failing fails `make test`. Setup and lint run once, first.
test: lint
	@./scripts/py313-test.sh --install
	@log=$$(mktemp); (nice -n 19 ./scripts/py313-test.sh && ./scripts/wheel-test.sh) > "$$log" 2>&1 & p=$$!; \
	  $(PYTEST); u=$$?; wait $$p; q=$$?; \
	  echo "--- beside the unit suite: the unit suite under Python 3.13 (nice 19), then the installed wheel ---"; \
	  cat "$$log"; rm -f "$$log"; \
	  [ $$u -eq 0 ] && [ $$q -eq 0 ]

bench: setup
	@command -v haproxy >/dev/null 2>&1 || { echo "bench: installing haproxy (a peer of the fault proxy in bench_proxy.py)"; \
	  if [ "$$(id -u)" -ne 0 ]; then S=sudo; else S=; fi; $$S apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }
	$(BIN)/python bench/bench_monitor.py
	$(BIN)/python bench/bench_proxy.py
	$(BIN)/python bench/bench_tui.py
	$(BIN)/python bench/bench_recovery.py
