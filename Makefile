# The two commands: `make run` (serve the demo) and `make test` (lint + the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install dev lint fmt translations messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed translations

dev: $(VENV)/.dev-installed translations node_modules/.installed

# axe-core for the browser tests (tests/test_pages_browser.py), where npm exists; without it
# those tests skip locally and fail under CI.
node_modules/.installed: package.json
	@if command -v npm >/dev/null; then npm install --no-audit --no-fund && touch $@; \
	else echo "npm not found: the axe-core browser checks will not run"; fi

translations: | $(BIN)/python
	$(BIN)/pybabel compile -d referral_app/translations

# Re-extract the strings and merge them into both catalogs (then translate what is new).
messages: dev
	$(BIN)/pybabel extract --no-location -F babel.cfg -k _l -k lazy_gettext -o referral_app/translations/messages.pot .
	$(BIN)/pybabel update -N -i referral_app/translations/messages.pot -d referral_app/translations

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl+C stops; mails: http://$(HOST):$(PORT)/dev/mail)"
	$(FLASK) serve --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# PYTEST_ARGS: pytest's arguments; by default one pytest-xdist worker per core. Without
# TEST_DATABASE_URL the MariaDB + Redis runs are skipped (SQLite only); .ci/run sets both.
PYTEST_ARGS ?= -n auto

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Every benchmark against MariaDB + Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL; defaults to
# referral_bench* databases on 127.0.0.1, made if missing): gunicorn + an RQ worker, the
# 1,000,000-click dashboard, the daily job on 10,000 participants. Prints the table and
# writes it into docs/performance.md. BENCH_ARGS=--quick for a short smoke run.
bench: dev
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts node_modules
