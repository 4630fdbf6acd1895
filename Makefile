# featurecast: the two commands a fresh machine needs are `make run` and `make test`.
# Each sets up .venv (Python 3.11, pinned by constraints.txt) the first time, or when the pins change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup run test lint bench docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

## Ingest the embedded synthetic market, build every feature with dbt, print a summary.
run: setup
	$(BIN)/featurecast run

## Lint, then the whole test suite (real dbt builds on temporary DuckDB warehouses).
test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

## Benchmarks (not part of the tests): 500 symbols x 10 years by default.
bench: setup
	$(BIN)/python bench/features.py

## dbt docs and docs/feature_spec.md from the manifest.
docs: setup
	$(BIN)/featurecast docs

clean:
	rm -rf data target logs .pytest_cache .ruff_cache
