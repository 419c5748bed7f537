# The commands people type. Everything runs from a fresh clone: the first target that
# needs the environment creates .venv and installs the pinned set.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
LOS_PORT ?= 8001
LMS_PORT ?= 8002
ROLE ?= admin
SUB ?= dev-user
PYTEST := $(BIN)/pytest
PYTEST_FLAGS ?= -q

UNIT_TESTS := services/loanmath/tests shared-schemas/tests services/servicekit/tests/unit \
	los-service/tests/unit lms-service/tests/unit tests/ops
INTEGRATION_TESTS := services/servicekit/tests/integration los-service/tests/integration \
	lms-service/tests/integration tests/security
CONTRACT_TESTS := tests/contract
E2E_TESTS := tests/e2e
# The seeded handoff simulation and its transport contract (LENDING_SIM_SEEDS raises the count).
SIM_TESTS := tests/sim
# Schemathesis over both OpenAPI documents (LENDING_FUZZ_EXAMPLES per operation and mode).
FUZZ_TESTS := tests/fuzz
CRASH_TESTS := tests/crash
CRASH_ROUNDS ?= 10
SOURCES := shared-schemas/src services/loanmath/src services/servicekit/src los-service/src lms-service/src

.PHONY: help install run test test-unit test-integration test-contract test-e2e test-crash test-sim test-fuzz check-ci \
	lint format typecheck contract-check migrate token demo bench clean

help:
	@echo "make run        start broker, migrate, run LOS (:$(LOS_PORT)) and LMS (:$(LMS_PORT)); Ctrl-C stops"
	@echo "make test       every test tier (PostgreSQL too when LENDING_TEST_POSTGRES_URL is set)"
	@echo "make -s token ROLE=<role> [SUB=<name>]   print a bearer token"
	@echo "make demo       walk one application to a booked loan against running services"
	@echo "make bench      benchmarks, results in bench-results/"
	@echo "make lint typecheck contract-check migrate clean"

$(STAMP): requirements/constraints.txt requirements/local.txt requirements/dev.in \
		shared-schemas/pyproject.toml services/loanmath/pyproject.toml \
		services/servicekit/pyproject.toml los-service/pyproject.toml lms-service/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(PY) -c requirements/constraints.txt \
		-r requirements/local.txt -r requirements/dev.in
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m servicekit.devstack --service los:$(LOS_PORT) --service lms:$(LMS_PORT)

migrate: $(STAMP)
	$(BIN)/los migrate
	$(BIN)/lms migrate

token: $(STAMP)
	@$(BIN)/los token --role $(ROLE) --sub $(SUB)

demo: $(STAMP)
	$(PY) -m tests.e2e.demo --los http://127.0.0.1:$(LOS_PORT) --lms http://127.0.0.1:$(LMS_PORT)

check-ci:
	@if [ "$$CI" = "true" ]; then \
		if [ -z "$$LENDING_TEST_POSTGRES_URL" ]; then echo "CI needs LENDING_TEST_POSTGRES_URL" >&2; exit 1; fi; \
		$(PY) -c 'import asyncio, asyncpg, os, sys; from servicekit.testing import _asyncpg_dsn; \
asyncio.run(asyncpg.connect(_asyncpg_dsn(os.environ["LENDING_TEST_POSTGRES_URL"]), timeout=5)); print("PostgreSQL reachable")' \
		|| { echo "CI: PostgreSQL at $$LENDING_TEST_POSTGRES_URL is not reachable" >&2; exit 1; }; \
	fi

test: $(STAMP) check-ci contract-check test-unit test-contract test-integration test-sim test-fuzz test-e2e
	$(PYTEST) $(PYTEST_FLAGS) $(CRASH_TESTS)

test-unit: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) $(UNIT_TESTS)

test-integration: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) $(INTEGRATION_TESTS)

test-contract: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) $(CONTRACT_TESTS)

test-sim: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) -n 2 $(SIM_TESTS)

test-fuzz: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) $(FUZZ_TESTS)

test-e2e: $(STAMP)
	$(PYTEST) $(PYTEST_FLAGS) $(E2E_TESTS)

# kill -9 at the relay and consumer crash points over many rounds (make test runs 2 rounds).
test-crash: $(STAMP)
	LENDING_CRASH_ROUNDS=$(CRASH_ROUNDS) $(PYTEST) $(PYTEST_FLAGS) $(CRASH_TESTS)

contract-check: $(STAMP)
	$(PY) -m lending_schemas.compat

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy $(SOURCES)

bench: $(STAMP)
	$(PY) -m tests.bench --out bench-results

clean:
	rm -rf var bench-results .mypy_cache .ruff_cache .hypothesis
