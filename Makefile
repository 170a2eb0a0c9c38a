# Two commands for a newcomer: `make run` and `make test`. Everything else is set up on demand.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test lint typecheck pytest bench bench-api clean-db tools browser

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# exec: python replaces the recipe's shell, so the SIGTERM that make passes on to its child
# reaches serve, which stops the web workers and PostgreSQL (Ctrl-C reaches it either way).
run: $(STAMP)
	HOST=$(HOST) PORT=$(PORT) exec $(BIN)/python manage.py serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	TODO_EMBEDDED=true DATABASE_URL=postgresql://typecheck@localhost/unused $(BIN)/mypy .

# Helm, actionlint and checkov for tests/deploy, pinned and cached under .tools/ (each script
# returns at once when its version is already there).
tools:
	scripts/fetch-helm.sh
	scripts/fetch-actionlint.sh
	scripts/fetch-checkov.sh

# Chromium and its driver for the web app's browser tests (tests/dashboard_app): installed with
# apt-get when run as root (CI); elsewhere, without them, those tests skip.
browser:
	scripts/install-browser.sh

pytest: $(STAMP) tools browser
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	scripts/fetch-autocannon.sh
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

# The HTTP load benchmark alone (autocannon from npm, pinned, under .tools/).
bench-api: $(STAMP)
	scripts/fetch-autocannon.sh
	$(BIN)/python bench/api_load.py

clean-db:
	rm -rf var/pgdata
