# Two commands do everything on a fresh machine (Python 3.11+, node and npm):
#   make demo   the example stack's Create against a local Data Exchange endpoint (no AWS account needed)
#   make test   the test suite, with ruff and mypy
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Boto3-only venvs like the Lambda runtime, on the newest Python here (offline/toolchain.py).
LAMBDA_VENVS := .venv-lambda/.installed .venv-lambda-boto3-1.34/.installed
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup demo test bench mutants synth cdk clean
.DEFAULT_GOAL := demo

setup: $(VENV)/.installed $(LAMBDA_VENVS) node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(LAMBDA_VENVS) &: requirements-lambda.txt requirements-lambda-boto3-1.34.txt
	$(PYTHON) -m offline.toolchain lambda-venvs

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

demo: setup
	$(PY) -m offline $(or $(ARGS),deploy)

test: setup
	$(PY) -m pytest $(ARGS)

bench: setup
	$(PY) -m benchmarks $(ARGS)

# Mutation testing of lambda/ and constructs/, each file against its fast tests (tools/mutants.py); minutes, so
# not part of `make test` or CI. ARGS="lambda --only backfill.py" narrows it, ARGS="lambda --rev main" mutates a revision.
mutants: setup
	$(PY) -m tools.mutants $(ARGS)

# The pinned CDK CLI, quiet and offline, with the venv's python for cdk.json's app (offline/toolchain.py).
synth: setup
	$(PY) -m offline.toolchain synth $(ARGS)

cdk: setup
	$(PY) -m offline.toolchain $(ARGS)

clean:
	rm -rf $(VENV) .venv-lambda* node_modules cdk.out .offline .mutants
