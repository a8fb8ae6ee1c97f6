PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.DEFAULT_GOAL := help

.PHONY: help venv install demo install-test lint fmt typecheck imports pytest test test-fast cov store-asset clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ModelCycle needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(BIN)/python ## create .venv with the system Python (3.11 or newer)

install: venv ## install ModelCycle (with the serving extra the quickstart uses) into .venv
	$(PIP) install --quiet -e '.[serve]'

demo: install ## install, then run the quickstart on the embedded default store
	$(BIN)/python examples/quickstart.py

install-test: venv ## install ModelCycle with every extra and the test tools
	$(PIP) install --quiet -e '.[all,test]'

lint: ## ruff check and ruff format --check
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

fmt: ## format and fix what ruff can
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

typecheck: ## mypy --strict over src and tests
	$(BIN)/mypy

imports: ## check the layering contracts
	$(BIN)/lint-imports

pytest: ## the whole test suite, in parallel
	$(BIN)/python -m pytest -n auto

test: install-test lint typecheck imports pytest ## what CI runs

test-fast: ## the inner loop: everything but slow and browser tests
	$(BIN)/python -m pytest -n auto -m "not slow and not browser"

cov: ## the suite under coverage, then the report
	$(BIN)/python -m pytest -n auto --cov=modelcycle --cov-report=term-missing

store-asset: ## write tests/assets/stores/<head>.db (run when adding a migration; commit it)
	rm -rf .store-asset && $(BIN)/python tests/migrations/populate_store.py tests/assets/stores .store-asset && rm -rf .store-asset

clean: ## remove .venv, caches and build outputs
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist src/*.egg-info

-include benchmarks/bench.mk
