# The two set-up commands: `make up` and `make test`. Everything else is `esup …`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up down test unit lint bench wheel-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make up: install; start Kafka and ClickHouse in the background (no Docker; state in .esup/); create the
## topics; migrate the database and create the score views; then `esup services up`: publish a simulated
## province's catalog and department names and start WORKERS stream workers, the ClickHouse sink and the live
## province, which starts a month ago, backfills that month as fast as the machine allows (SPEED=max; or a
## factor such as 600) and goes on in real time once it reaches today. It waits, showing progress, until
## this month is ranked, then says where to look. Running it again starts only what is not running.
## `make down` stops it all.
WORKERS ?= 2
WEB_PORT ?= 6066
SPEED ?= max
CASES_PER_DAY ?= 200
up: install
	$(BIN)/esup stack up
	$(BIN)/esup topics create
	$(BIN)/esup db migrate
	$(BIN)/esup db views
	$(BIN)/esup services up --workers $(WORKERS) --web-port $(WEB_PORT) --speed $(SPEED) \
		--cases-per-day $(CASES_PER_DAY) --rules esup/config/rules.yaml

## make down: stop the simulator, the workers and the sink, then the stack; nothing is left listening
down:
	@if [ -x $(BIN)/esup ]; then $(BIN)/esup services down; $(BIN)/esup stack down; \
	else echo "nothing to stop (no $(VENV))"; fi

## make test: lint, type-check and run the whole suite (unit, property, integration). The integration tests
## start the servers they need (local stack, or KAFKA_BOOTSTRAP_SERVERS / CLICKHOUSE_URL) and stop what they started.
test: install lint
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit tests/property

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## make wheel-check: build the wheel, install it into a fresh venv and run it from an empty folder against a
## stack of its own (other ports and ESUP_HOME; stops what it starts): what a new user or the Docker image gets
wheel-check: install
	PYTHON=$(BIN)/python .ci/wheel-check

## make bench: benchmarks (off by default); figures go to docs/performance.md
bench: install
	$(BIN)/pytest tests/bench -m bench -s

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
