# Two entry points: `make dev` runs the server on its embedded default,
# `make test` runs the whole suite. Both build .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest schema bench clean codegen-check

# Typed clients generated from schema.graphql for the operations in examples/operations:
# TypeScript (graphql-codegen, then tsc) and Python (ariadne-codegen, in a venv of its own).
# Generated code is not committed; a schema change that breaks an operation fails here.
TS_EXAMPLE := examples/typescript
PY_EXAMPLE := examples/python
OPERATIONS := $(wildcard examples/operations/*.graphql)
CODEGEN_VENV := $(PY_EXAMPLE)/.venv
PY_CLIENT := $(PY_EXAMPLE)/kra_client/__init__.py

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

dev: $(STAMP)
	$(BIN)/kra-graphql dev

test: codegen-check lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) $(PY_CLIENT)
	$(BIN)/mypy

pytest: $(STAMP) $(PY_CLIENT)
	$(BIN)/pytest $(PYTEST_ARGS)

$(TS_EXAMPLE)/node_modules/.package-lock.json: $(TS_EXAMPLE)/package-lock.json
	cd $(TS_EXAMPLE) && npm ci --no-audit --no-fund --loglevel=error

$(CODEGEN_VENV)/.installed: $(PY_EXAMPLE)/requirements.txt
	@test -x $(CODEGEN_VENV)/bin/python || $(PYTHON) -m venv $(CODEGEN_VENV)
	$(CODEGEN_VENV)/bin/python -m pip install --quiet -r $(PY_EXAMPLE)/requirements.txt
	@touch $@

$(PY_CLIENT): schema.graphql $(OPERATIONS) $(PY_EXAMPLE)/pyproject.toml $(CODEGEN_VENV)/.installed
	rm -rf $(PY_EXAMPLE)/kra_client
	cd $(PY_EXAMPLE) && .venv/bin/ariadne-codegen > .venv/codegen.log 2>&1 \
		|| { cat .venv/codegen.log; exit 1; }

codegen-check: $(TS_EXAMPLE)/node_modules/.package-lock.json $(PY_CLIENT)
	cd $(TS_EXAMPLE) && npm run --silent check > node_modules/.codegen.log 2>&1 \
		|| { cat node_modules/.codegen.log; exit 1; }
	@echo "codegen: TypeScript types and the Python client match schema.graphql"

schema: $(STAMP)
	$(BIN)/kra-graphql export-schema --output schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/graphql.py

clean:
	rm -rf $(VENV) .kra .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(TS_EXAMPLE)/node_modules $(TS_EXAMPLE)/src/generated $(CODEGEN_VENV) $(PY_EXAMPLE)/kra_client
