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

## make up: install, then evaluate the sample province data with the rules engine
up: install
	$(BIN)/esup evaluate examples/events.jsonl --catalog examples/catalog.yaml --rules config/rules.yaml

## make test: lint, type-check and run the whole suite (unit, property, integration)
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
