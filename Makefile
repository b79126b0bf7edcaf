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

# After the unit suite (which keeps both cores busy), the 3.13 pass and the installed-wheel test run
# side by side, one core each; the wheel test's output follows the 3.13 pass's, and any of them
# failing fails `make test`. Setup and lint run once, first.
test: lint
	@./scripts/py313-test.sh --install
	@$(PYTEST); u=$$?; \
	  log=$$(mktemp); ./scripts/wheel-test.sh > "$$log" 2>&1 & w=$$!; \
	  ./scripts/py313-test.sh; q=$$?; wait $$w; v=$$?; \
	  echo "--- the installed wheel (scripts/wheel-test.sh, beside the 3.13 pass) ---"; cat "$$log"; rm -f "$$log"; \
	  [ $$u -eq 0 ] && [ $$q -eq 0 ] && [ $$v -eq 0 ]

bench: setup
	@command -v haproxy >/dev/null 2>&1 || { echo "bench: installing haproxy (a peer of the fault proxy in bench_proxy.py)"; \
	  if [ "$$(id -u)" -ne 0 ]; then S=sudo; else S=; fi; $$S apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }
	$(BIN)/python bench/bench_monitor.py
	$(BIN)/python bench/bench_proxy.py
	$(BIN)/python bench/bench_tui.py
	$(BIN)/python bench/bench_recovery.py
