# Live Plan Mode. `make run` and `make test` work on a fresh machine: they create .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test test-vscode vscode-package fuzz migrate smoke lint format check-deploy clean venv dev-venv \
        pr19-dev pr19-test pr19-smoke pr19-migrate pr19-all

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

migrate: venv
	$(PY) manage.py migrate --noinput

## Serve the app with uvicorn (uvloop, httptools) on $(HOST):$(PORT) (embedded default: SQLite,
## events in this process). SERVER=daphne serves the same ASGI app with daphne (Channels' server);
## uvicorn delivers live events to many streams several times faster: see docs/PERFORMANCE.md.
SERVER ?= uvicorn
run: migrate
	@echo "Live Plan Mode on http://$(HOST):$(PORT)/  (API token: $(PY) manage.py create_api_token USER --org ORG)"
	$(PY) -m ops.serve --server $(SERVER) --host $(HOST) --port $(PORT)

## The whole app through Pushpin (GRIP) on 127.0.0.1:$(PORT), daphne behind it (README "Pushpin topology").
.PHONY: run-pushpin
run-pushpin: migrate
	$(PY) scripts/run_pushpin.py --port $(PORT)

## The whole suite. Browser tests run when /usr/bin/chromium exists and are reported as skipped otherwise.
test: dev-venv
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a broken setup"; exit 1; fi; \
	  exit $$status

## The packaged VS Code extension inside a real VS Code (code-server 4.100.3, Chromium), against a real
## server: builds and packages the extension, installs code-server into $(CODE_SERVER_HOME) once (reused
## by later runs), then runs tests/e2e/vscode. AEP_VSCODE_REQUIRED=1: a missing piece fails, not skips.
CODE_SERVER_HOME ?= $(HOME)/.cache/aep-code-server
vscode-package:
	cd vscode-extension && npm ci --no-audit --no-fund --loglevel=error && npm run compile && npm run package

test-vscode: dev-venv vscode-package
	CODE_SERVER_HOME="$(CODE_SERVER_HOME)" scripts/install_code_server.sh
	CODE_SERVER_HOME="$(CODE_SERVER_HOME)" AEP_VSCODE_REQUIRED=1 $(PY) -m pytest tests/e2e/vscode $(PYTEST_ARGS); \
	  status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a broken setup"; exit 1; fi; \
	  exit $$status

## A longer schemathesis run than the one in `make test`.
fuzz: dev-venv
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(PY) -m pytest tests/fuzz -q

## Start (if needed) a server and run the seed's curl flow: start, step, get, archive.
smoke: migrate
	PY=$(PY) PORT=$(PORT) scripts/smoke.sh

## Load benchmark (issue 8): starts its own server(s), seeds, drives them, prints a table and writes
## bench/results/<UTC>-<mode>.json. Quick (< 3 min, embedded SQLite) unless BENCH_ARGS says otherwise,
## e.g. BENCH_ARGS="--database-url postgres://... --redis-url redis://... --processes 2".
.PHONY: bench bench-full bench-sweep
BENCH_ARGS ?=
bench: dev-venv
	$(PY) bench/run.py $(BENCH_ARGS)

bench-full: dev-venv
	$(PY) bench/run.py --mode full $(BENCH_ARGS)

## Fan-out latency at 10 to 10,000 subscribers on one plan (20 steps/s, 50 steps) and its plot.
bench-sweep: dev-venv
	$(PY) bench/run.py --sweep 10,100,1000,5000,10000 --open-rate 500 --json bench/results/sweep.json $(BENCH_ARGS)
	$(PY) bench/plot.py bench/results/sweep.json -o bench/results/sweep.png

## ruff, and the import contracts of pyproject.toml (which way dependencies point).
lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: dev-venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) aep.sqlite3* test-aep*.sqlite3* staticfiles

# The seed's target names.
pr19-dev: run
pr19-test: test
pr19-smoke: smoke
pr19-migrate: migrate
pr19-all: lint test smoke
