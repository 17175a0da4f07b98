# The two set-up commands: `make up` and `make test`. Everything else is `esup …`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up down test unit lint bench chaos cluster-chaos wheel-check clean

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

## make test: lint, type-check, the fast tier (unit, property), then the integration tier (one chaos run in it).
## The integration tests start the servers they need (local stack, or KAFKA_BOOTSTRAP_SERVERS / CLICKHOUSE_URL)
## and stop what they started.
test: install lint
	$(BIN)/pytest tests/unit tests/property -q
	$(BIN)/pytest tests/integration

unit: install
	$(BIN)/pytest tests/unit tests/property

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layers read top-down ([tool.importlinter] in pyproject.toml)

## make wheel-check: build the wheel, install it into a fresh venv and run it from an empty folder against a
## stack of its own (other ports and ESUP_HOME; stops what it starts): what a new user or the Docker image gets
wheel-check: install
	PYTHON=$(BIN)/python .ci/wheel-check

## make bench: benchmarks (off by default); figures go to docs/performance.md
bench: install
	$(BIN)/pytest tests/bench -m bench -s

## make chaos RUNS=10: the chaos test (tests/integration/test_chaos.py: workers frozen, joined and killed -9, the
## sink killed -9, on busy cores) RUNS times; one line per run ("run i: ok" or "run i: N missing, M extra, …")
## in build/chaos.log, each run's pytest output in build/chaos-run-i.out. Fails if any run failed.
RUNS ?= 10
CHAOS_PREFIX ?=  # e.g. "flock /tmp/esup-it.lock" to take turns with other integration runs on a shared machine
chaos: install
	@mkdir -p build; : > build/chaos.log; failed=0; \
	for i in $$(seq 1 $(RUNS)); do \
		rm -f build/chaos-result.txt; \
		ESUP_CHAOS_SUMMARY=$(CURDIR)/build/chaos-result.txt $(CHAOS_PREFIX) $(BIN)/pytest tests/integration/test_chaos.py -s \
			-p no:cacheprovider > build/chaos-run-$$i.out 2>&1 || failed=$$((failed + 1)); \
		echo "run $$i: $$(cat build/chaos-result.txt 2>/dev/null || echo "no result, see build/chaos-run-$$i.out")" \
			| tee -a build/chaos.log; \
	done; \
	echo "$$failed of $(RUNS) runs failed" | tee -a build/chaos.log; test $$failed -eq 0

## make cluster-chaos RUNS=3: the cluster fault test (tests/integration/test_cluster.py: three brokers, two
## ClickHouse replicas and two workers on hosts of their own; the leading broker killed -9, a replica stopped, a
## worker's host cut off) RUNS times, each run under /tmp/esup-it.lock from the cluster's start to its stop.
## One line per run in build/cluster-chaos.log, its output in build/cluster-chaos-run-i.out. Needs root.
cluster-chaos: install
	@mkdir -p build; : > build/cluster-chaos.log; failed=0; \
	for i in $$(seq 1 $(RUNS)); do \
		rm -f build/cluster-result.txt; \
		ESUP_CHAOS_SUMMARY=$(CURDIR)/build/cluster-result.txt flock /tmp/esup-it.lock $(BIN)/pytest \
			tests/integration/test_cluster.py -m cluster -s -p no:cacheprovider > build/cluster-chaos-run-$$i.out 2>&1 \
			|| failed=$$((failed + 1)); \
		echo "run $$i: $$(cat build/cluster-result.txt 2>/dev/null || echo "no result, see build/cluster-chaos-run-$$i.out")" \
			| tee -a build/cluster-chaos.log; \
	done; \
	echo "$$failed of $(RUNS) runs failed" | tee -a build/cluster-chaos.log; test $$failed -eq 0

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
