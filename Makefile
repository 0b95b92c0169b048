# Sentori Push: `make dev` runs the whole service locally, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python

.PHONY: dev test lint cfn-lint pytest bench openapi clean

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

dev: $(VENV)/.installed
	$(PY) -m local.devstack

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

cfn-lint: $(TOOLS)/.installed
	$(TOOLS)/bin/cfn-lint template.yaml

pytest: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/pytest

test: lint cfn-lint pytest

bench: $(VENV)/.installed
	$(PY) bench/dispatch.py

openapi: $(VENV)/.installed
	PYTHONPATH=layers/core $(PY) -m sentori_push.openapi --write docs/openapi.json

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .sentori .pytest_cache .mypy_cache .ruff_cache
