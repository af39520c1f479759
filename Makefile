# Two entry points: `make dev` runs the server on its embedded default,
# `make test` runs the whole suite. Both build .venv when it is missing or stale,
# from the committed lock files that `make lock` writes from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# requirements/runtime.txt: what the server needs to run (make dev, the image), with the
# `learn` extra that trains LEARNED models.
# requirements/test.txt: the same pins plus the `dev` extra (pytest, ruff, mypy, ...).
RUNTIME_LOCK := requirements/runtime.txt
TEST_LOCK := requirements/test.txt
# One stamp per lock, so `make dev` and `make test` can take turns on one checkout: the
# test lock holds every runtime pin, so installing it makes the runtime stamp true too.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test

.PHONY: dev test lint typecheck pytest schema bench clean codegen-check lock test-latest graphiql-assets

# Typed clients generated from schema.graphql for the operations in examples/operations:
# TypeScript (graphql-codegen, then tsc) and Python (ariadne-codegen, in a venv of its own).
# Generated code is not committed; a schema change that breaks an operation fails here.
TS_EXAMPLE := examples/typescript
PY_EXAMPLE := examples/python
OPERATIONS := $(wildcard examples/operations/*.graphql)
CODEGEN_VENV := $(PY_EXAMPLE)/.venv
PY_CLIENT := $(PY_EXAMPLE)/kra_client/__init__.py

# Installs exactly what a lock names, checked against its hashes, without resolving
# anything; then the project itself, editable and without dependencies.
define install-lock
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(2)
	$(1)/bin/python -m pip install --quiet --no-deps -e .
endef

# `pip check` fails when pyproject.toml asks for a version the lock does not give:
# the lock is older than a change to pyproject.toml, so run `make lock`.
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml
	$(call install-lock,$(VENV),$(RUNTIME_LOCK))
	$(BIN)/python -m pip check
	@touch $@

$(TEST_STAMP): $(TEST_LOCK) $(RUNTIME_LOCK) pyproject.toml
	$(call install-lock,$(VENV),$(TEST_LOCK))
	$(BIN)/python -m pip check
	@touch $(RUNTIME_STAMP) $@

dev: $(RUNTIME_STAMP)
	$(BIN)/kra-graphql dev

test: codegen-check lint typecheck pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP) $(PY_CLIENT)
	$(BIN)/mypy

pytest: $(TEST_STAMP) $(PY_CLIENT)
	$(BIN)/pytest $(PYTEST_ARGS)

# Rewrites both locks from pyproject.toml, keeping every pin that still satisfies it;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions,
# `LOCK_ARGS="-P NAME"` one package. pip-compile (pip-tools) runs in a venv of its own,
# so only this target needs it: installing from a lock takes nothing but pip. The test
# lock is constrained by the runtime lock so that the two never disagree on a version.
# Resolved with this machine's Python (3.11, as in CI and the image) on Linux.
LOCK_VENV := .venv-lock
# pip-compile drives pip's own internals, so pip is pinned beside it.
PIP_TOOLS_VERSION := 7.6.2
LOCK_PIP_VERSION := 26.3
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host

$(LOCK_VENV)/.installed-$(PIP_TOOLS_VERSION)-$(LOCK_PIP_VERSION):
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet "pip==$(LOCK_PIP_VERSION)" "pip-tools==$(PIP_TOOLS_VERSION)"
	@touch $@

lock: $(LOCK_VENV)/.installed-$(PIP_TOOLS_VERSION)-$(LOCK_PIP_VERSION)
	@mkdir -p requirements
	$(PIP_COMPILE) $(LOCK_ARGS) --extra learn --output-file $(RUNTIME_LOCK) pyproject.toml
	$(PIP_COMPILE) $(LOCK_ARGS) --extra learn --extra dev --constraint $(RUNTIME_LOCK) \
		--output-file $(TEST_LOCK) pyproject.toml

# For CI, not part of `make test`: the test suite against the newest releases of the two
# packages that are pinned exactly, in a venv of its own (everything else as locked).
# Green means: bump both pins in pyproject.toml and run `make lock`.
# The project uses final releases of both; `LATEST_PIP_ARGS=--pre` tries pre-releases too.
LATEST_VENV := .venv-latest
LATEST := strawberry-graphql graphql-core
LATEST_PIP_ARGS ?=

test-latest: $(PY_CLIENT)
	$(call install-lock,$(LATEST_VENV),$(TEST_LOCK))
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade $(LATEST_PIP_ARGS) $(LATEST)
	@$(LATEST_VENV)/bin/python -c 'import importlib.metadata as m, re, sys; \
		locked = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", open(sys.argv[1]).read(), re.M)); \
		[print(f"test-latest: {n} {m.version(n)} (locked: {locked[n]})") for n in sys.argv[2:]]' \
		$(TEST_LOCK) $(LATEST)
	$(LATEST_VENV)/bin/pytest $(PYTEST_ARGS)

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

schema: $(RUNTIME_STAMP)
	$(BIN)/kra-graphql export-schema --output schema.graphql

# GraphiQL's libraries from the npm registry into kra_graphql/graphiql/assets/vendor/.
graphiql-assets:
	scripts/build-graphiql-assets.sh

bench: $(RUNTIME_STAMP)
	$(BIN)/python bench/graphql.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(LATEST_VENV) .kra .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(TS_EXAMPLE)/node_modules $(TS_EXAMPLE)/src/generated $(CODEGEN_VENV) $(PY_EXAMPLE)/kra_client
