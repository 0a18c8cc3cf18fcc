# Everyday commands. `make run` and `make test` work on a fresh clone: they create .venv first.
# Debian's CPython is built with PGO and LTO; the pyenv build first on PATH here has neither and
# runs our hot paths ~40% slower. Use the optimised one where it exists.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml setup.py $(wildcard src/mailbeacon/core/*.c)
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

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(BENCH_STAMP)
	$(BIN)/python bench/instrument/run.py
	$(BIN)/python bench/redirect/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
	find src -name '*.so' -delete
