# The front door. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := data/sample
# The sample data ends in 2026-10; reports are rendered as of a fixed time so they reproduce
# (showcase: the latest complete month before AS_OF and its most instructive release).
AS_OF ?= 2026-11-15T00:00:00Z
STAMP := $(VENV)/.installed

.PHONY: help env lock sample-data report test lint format bench calibrate browser postgres clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e '.[spark]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

env: $(STAMP) ## Create .venv with the pinned dependencies

lock: ## Re-resolve requirements.in into requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.in
	(echo "# Exact pins resolved from requirements.in with 'make lock' (Python 3.11)."; \
	  $(BIN)/pip freeze --all --exclude-editable | \
	    grep -v -i -e '^pip==' -e '^ai[-_]release[-_]analytics') > requirements.lock

browser: ## Install Debian's chromium, poppler-utils and Java 17 (browser, PDF and Spark checks)
	@command -v chromium > /dev/null && command -v pdfinfo > /dev/null && command -v java > /dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium poppler-utils openjdk-17-jre-headless > /dev/null)

postgres: ## Install Debian's PostgreSQL server binaries (the database tests start their own server)
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql > /dev/null)

$(DATA)/releases.csv: $(STAMP)
	$(BIN)/analytics sample-data --out $(DATA)

sample-data: $(DATA)/releases.csv ## Generate the sample dataset into data/sample

report: $(STAMP) $(DATA)/releases.csv ## Set up, make the sample data and render the reports into reports/
	$(BIN)/analytics report showcase --data $(DATA) --as-of $(AS_OF) --out reports

test: $(STAMP) browser postgres lint ## Lint and type-check, then run the whole test suite (unit, property, notebooks, browser, PostgreSQL)
	ANALYTICS_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff lint and format check, mypy
	$(BIN)/ruff check analytics tests benchmarks
	$(BIN)/ruff format --check analytics tests benchmarks
	$(BIN)/mypy analytics

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format analytics tests benchmarks

bench: $(STAMP) sample-data ## Run the benchmarks (see benchmarks/README.md)
	$(BIN)/python benchmarks/kpi_speed.py --data $(DATA)
	$(BIN)/python benchmarks/report_render.py
	$(BIN)/python benchmarks/telemetry_rollup.py

calibrate: $(STAMP) ## Calibration table of the comparison engine (METRICS.md; about 15 min)
	$(BIN)/python benchmarks/calibration.py --out benchmarks/out/calibration.md

clean: ## Remove the environment, generated data and reports
	rm -rf $(VENV) data/sample reports/*.html reports/*.pdf
