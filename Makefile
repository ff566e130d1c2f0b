# Rapport: `make run` serves the app, `make test` runs the tests. Each target
# sets up .venv itself; only python3 (3.11+) is needed on the machine.

PYTHON ?= python3
PORT ?= 5000
PYTEST_ARGS ?=
# Passed to bench/pages.py, e.g. BENCH_ARGS='--scale 0.05 --duration 3 --databases sqlite'
BENCH_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CRM := $(BIN)/crm

# pip runs again only when pyproject.toml is newer than these stamps.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

# The long-running processes of `make run`, one 'NAME=COMMAND' each. They run
# side by side under scripts/run.py; Ctrl-C (or any one of them exiting) stops all.
RUN_PROCESSES := 'web=$(CRM) run --host 127.0.0.1 --port $(PORT)' 'worker=$(CRM) worker'

.DEFAULT_GOAL := help
.PHONY: help run test lint bench clean

help:
	@echo "make run     migrate, then serve on http://127.0.0.1:$(PORT) (PORT=...)"
	@echo "make test    run the test suite (PYTEST_ARGS='-k name -x')"
	@echo "make lint    ruff check"
	@echo "make bench   reminder delivery and page benchmarks (BENCH_ARGS='--scale 0.05')"
	@echo "make clean   remove $(VENV)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e .
	touch $@

# The dev extras include everything `make run` needs, so both stamps are fresh.
$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(CRM) db upgrade
	$(PY) scripts/run.py $(RUN_PROCESSES)

test: $(DEV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# Benchmarks print figures and write nothing to the repository. pages.py needs
# PostgreSQL on 127.0.0.1:5432 for its second half (skipped when unreachable) and
# uses wrk when installed (apt-get install wrk), else a Python load client.
bench: $(DEV_STAMP)
	$(PY) bench/deliver_reminders.py
	$(PY) bench/pages.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
