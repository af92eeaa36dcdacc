# Set-up and test on a fresh machine: `make install`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every tool's telemetry switch (the same file mlplatform.telemetry applies in code).
include mlplatform/telemetry.env
export $(shell sed -n 's/^\([A-Z_]*\)=.*/\1/p' mlplatform/telemetry.env)

.PHONY: install test test-fast demo dev bench lint typecheck lock

install:  ## create .venv from the committed lock (constraints.txt)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[all,dev]"
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir .  # the manifest the dbt assets load

test:  ## lint, types and the whole suite, slow end-to-end tests included
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist loadfile  # a process per core (a file's tests share one): 12-20 min here

test-fast:  ## everything but the slow tests (two processes: 55 s against 60 s in one, measured on a slow day)
	$(BIN)/pytest -m "not slow" -n auto --dist loadfile

demo:  ## the main job on embedded defaults
	$(BIN)/mlplatform demo

dev:  ## the Dagster UI on the project-local instance (http://127.0.0.1:3000)
	$(BIN)/mlplatform ui

bench:  ## benchmarks (print figures)
	$(BIN)/python -m bench

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

lock:  ## refresh constraints.txt from the current .venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
