# Set-up and test on a fresh machine: `make install`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DO_NOT_TRACK := 1
export SODA_CORE_TELEMETRY_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_HOME := $(CURDIR)/.mlplatform/dagster

.PHONY: install test test-fast demo dev bench lint lock

install:  ## create .venv from the committed lock (constraints.txt)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir .  # the manifest the dbt assets load
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml

test:  ## the whole suite, slow end-to-end tests included
	$(BIN)/ruff check .
	$(BIN)/pytest

test-fast:  ## everything but the slow tests
	$(BIN)/pytest -m "not slow"

demo:  ## the main job on embedded defaults
	$(BIN)/mlplatform demo

dev:  ## the Dagster UI on the project-local instance
	$(BIN)/dagster dev

bench:  ## benchmarks (print figures)
	$(BIN)/python -m bench

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

lock:  ## refresh constraints.txt from the current .venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
