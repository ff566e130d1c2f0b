# Rapport: `make run` serves the app, `make test` runs the tests. Each target
# sets up .venv itself; only python3 (3.11+) is needed on the machine.

PYTHON ?= python3
PORT ?= 5000
PYTEST_ARGS ?=

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
.PHONY: help run test lint clean

help:
	@echo "make run     migrate, then serve on http://127.0.0.1:$(PORT) (PORT=...)"
	@echo "make test    run the test suite (PYTEST_ARGS='-k name -x')"
	@echo "make lint    ruff check"
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

clean:
	rm -rf $(VENV)
