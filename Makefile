# featurecast: the two commands a fresh machine needs are `make run` and `make test`.
# Each sets up .venv (Python 3.11, pinned by constraints.txt) the first time, or when the pins change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup browser run test lint bench docs screenshot clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

## Headless Chromium (Debian's package) for the dashboard test and screenshots; installed once.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

## The main job: the daily_refresh Prefect flow on the embedded synthetic market (training first if needed).
run: setup
	$(BIN)/featurecast run

## Lint Python and SQL (sqlfluff compiles the models against an in-memory DuckDB) and type-check, then the whole test suite (real dbt builds, real Prefect flows, headless Chromium).
test: setup browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	FEATURECAST_WAREHOUSE=:memory: $(BIN)/sqlfluff lint models tests/singular
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	FEATURECAST_WAREHOUSE=:memory: $(BIN)/sqlfluff lint models tests/singular

## Benchmarks (not part of the tests): 500 symbols x 10 years by default.
bench: setup
	$(BIN)/python bench/features.py
	$(BIN)/python bench/daily_refresh.py

## A PNG of the dashboard (after `make run`), taken in headless Chromium.
screenshot: setup browser
	$(BIN)/featurecast screenshot --output docs/dashboard.png

## dbt docs and docs/feature_spec.md from the manifest.
docs: setup
	$(BIN)/featurecast docs

clean:
	rm -rf data target logs .pytest_cache .ruff_cache
