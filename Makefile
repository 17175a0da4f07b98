# The two set-up commands: `make up` and `make test`. Everything else is `esup …`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up down test unit lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make up: install, start Kafka and ClickHouse in the background (no Docker; state in .esup/), create the
## topics, migrate the database, evaluate the sample data, and say what runs where. `make down` stops it all.
up: install
	$(BIN)/esup stack up
	$(BIN)/esup topics create
	$(BIN)/esup db migrate
	@if [ -f examples/events.jsonl ] && [ -f examples/catalog.yaml ]; then \
		$(BIN)/esup evaluate examples/events.jsonl --catalog examples/catalog.yaml --rules config/rules.yaml; \
	fi
	@echo
	@$(BIN)/esup stack status
	@echo "topics: kcat -L -b 127.0.0.1:9092   tables: clickhouse-client --query 'SHOW TABLES FROM esup'   stop: make down"

## make down: stop everything `make up` started; nothing is left listening
down:
	@if [ -x $(BIN)/esup ]; then $(BIN)/esup stack down; else echo "nothing to stop (no $(VENV))"; fi

## make test: lint, type-check and run the whole suite (unit, property, integration). The integration tests
## start the servers they need (local stack, or KAFKA_BOOTSTRAP_SERVERS / CLICKHOUSE_URL) and stop what they started.
test: install lint
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit tests/property

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## make bench: benchmarks (off by default); figures go to docs/performance.md
bench: install
	$(BIN)/pytest tests/bench -m bench -s

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
