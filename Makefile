# Everyday commands. `make run` and `make test` work on a fresh clone: they create .venv first.
# Debian's CPython is built with PGO and LTO; the pyenv build first on PATH here has neither and
# runs our hot paths ~40% slower. Use the optimised one where it exists.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test screenshots lint format bench bench-tools clean tools tls-tools browser-tools

$(STAMP): pyproject.toml setup.py $(wildcard src/mailbeacon/core/instrumentation/*.c)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# The local service: SQLite in ./var, mail captured (never sent), a development signing key.
RUN_ENV := MAILBEACON_ENVIRONMENT=development \
	MAILBEACON_DATABASE_URL=sqlite:///var/mailbeacon.sqlite3 MAILBEACON_UPSTREAM=capture

run: $(STAMP)
	mkdir -p var
	$(RUN_ENV) $(BIN)/mailbeacon migrate
	$(RUN_ENV) $(BIN)/mailbeacon project demo --state var/demo.json
	$(RUN_ENV) $(BIN)/mailbeacon serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# swaks (Debian's package) for the SMTP relay's tests: installed once when missing and we are
# root; otherwise those tests are skipped (and fail under CI=true, where they must run).
tools:
	@command -v swaks >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q swaks >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null && apt-get install -y -q swaks >/dev/null; }; }; } || \
		echo "note: swaks is not installed: the SMTP relay's swaks tests will be skipped"

# caddy and pebble (Debian's packages) for deploy/Caddyfile's TLS test
# (tests/deploy/test_caddy_tls.py): the same rule.
TLS_TOOLS := caddy pebble
tls-tools:
	@missing=$$(for t in $(TLS_TOOLS); do command -v $$t >/dev/null || echo $$t; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q $$missing >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; }; } || \
		echo "note: $$missing not installed: the Caddy TLS test will be skipped"

# chromium (Debian's package) for the dashboard's browser tests (tests/web/dashboard/
# test_browser.py, driven by Playwright): the same rule.
browser-tools:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }; } || \
		echo "note: chromium is not installed: the dashboard's browser tests will be skipped"

# Two workers (pytest-xdist): most of the suite's time is servers, processes and databases
# waiting, so the suite takes about half as long (1,813 tests: 540-600 s alone, 274 s on
# two); every PostgreSQL template and SQLite file is per worker already.
test: lint tools tls-tools browser-tools
	$(BIN)/pytest -n 2

# The README's pictures of the dashboard, taken by its browser tests (a test run alone keeps
# them in a temporary directory).
screenshots: $(STAMP) browser-tools
	MAILBEACON_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/web/dashboard/test_browser.py

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# nginx (the redirect's baseline) and wrk (its load), Debian's packages: the same rule.
BENCH_TOOLS := nginx:nginx-light wrk:wrk
bench-tools:
	@missing=$$(for t in $(BENCH_TOOLS); do command -v $${t%%:*} >/dev/null || \
		[ -x /usr/sbin/$${t%%:*} ] || echo $${t#*:}; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q $$missing >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; }; } || \
		echo "note: $$missing not installed: bench/redirect will say what it misses"

bench: $(BENCH_STAMP) bench-tools
	$(BIN)/python bench/instrument/run.py
	$(BIN)/python bench/redirect/run.py
	$(BIN)/python bench/promote/run.py
	$(BIN)/python bench/webhooks/run.py
	$(BIN)/python bench/analytics/run.py
	$(BIN)/python bench/retention/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
	find src -name '*.so' -delete
