# One task runner for people, hooks and CI: `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WORKERS ?= 1
export WORKERS

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "logpipe needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing logpipe and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	@touch $@

.PHONY: install
install: $(STAMP) ## create .venv and install logpipe with everything its tests need

.PHONY: run
run: $(STAMP) ## start broker, PostgreSQL, Redis (found or embedded) and the worker(s); Ctrl-C stops them
	@$(BIN)/python -m devstack.run

.PHONY: test
test: $(STAMP) ## run every test (unit, integration against real servers, multi-worker)
	@command -v promtool >/dev/null 2>&1 || $(MAKE) --no-print-directory promtool
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory chromium
	@test -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so -o -e /usr/lib/aarch64-linux-gnu/rsyslog/omkafka.so || $(MAKE) --no-print-directory rsyslog
	@$(BIN)/python -m pytest

.PHONY: fuzz
fuzz: $(STAMP) ## longer fuzzing: 1,000 generated requests per API operation, 10,000 raw records
	@FUZZ_SEED=$${FUZZ_SEED:-random} FUZZ_EXAMPLES=1000 FUZZ_RECORDS=10000 $(BIN)/python -m pytest tests/integration/test_fuzz.py -s

.PHONY: chaos
chaos: $(STAMP) ## longer fault injection: 10 SIGKILLs while 50,000 events flow, two kills and returns of one of two workers, then the other fault tests
	@CHAOS_KILLS=10 CHAOS_EVENTS=50000 $(BIN)/python -m pytest tests/integration/test_chaos.py tests/integration/test_faults.py -s

.PHONY: promtool
promtool: ## install promtool (Debian's prometheus package) for the alert-rule tests
	@echo "installing promtool (Debian package prometheus) for the alert-rule tests ..."
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null

.PHONY: chromium
chromium: ## install Debian's chromium for the console's browser tests (Playwright drives it; no browser download)
	@echo "installing chromium (Debian package) for the console's browser tests ..."
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null

.PHONY: rsyslog
rsyslog: ## install rsyslog with its Elasticsearch and Kafka outputs (Debian packages) for the shipper tests
	@echo "installing rsyslog, rsyslog-elasticsearch, rsyslog-kafka (Debian packages) for the shipper tests ..."
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    rsyslog rsyslog-elasticsearch rsyslog-kafka >/dev/null

.PHONY: lint
lint: $(STAMP) ## ruff (lint and format check) and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: format
format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: schema
schema: $(STAMP) ## regenerate schemas/log-event.schema.json from the model
	$(BIN)/python -m app.cli.schema > schemas/log-event.schema.json

.PHONY: bench
bench: $(STAMP) ## measure throughput and latency against the ceilings (BENCH_ARGS="--rows 1000000" to shorten)
	@$(BIN)/python -m bench $(BENCH_ARGS)

.PHONY: clean
clean: ## remove .venv and var/ (all local data)
	rm -rf $(VENV) var
