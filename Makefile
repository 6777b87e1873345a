# Two commands do everything on a fresh machine (Python 3.11+, node and npm):
#   make demo   the example stack's Create against a local Data Exchange endpoint (no AWS account needed): it sets up
#               only what the demo runs (the package and its local kit in the dev venv, the handler's asset, the
#               pinned boto3-only Lambda-like venv)
#   make test   the test suite, with ruff and mypy: it sets up everything else too
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Boto3-only venvs like the Lambda runtime, on the newest Python here (tools/toolchain.py): the pinned boto3 (the
# demo's), and an old one a runtime may still carry (the lifecycle tests').
LAMBDA_VENV := .venv-lambda/.installed
OLD_LAMBDA_VENV := .venv-lambda-boto3-1.34/.installed
# checkov, for the compliance test, in a venv of its own: its pins clash with the dev venv's.
CHECKOV_VENV := .venv-checkov
# cdk-nag 2, for tests/test_construct_nag2.py, in a venv of its own: cdk-nag 2 and 3 are one distribution.
NAG2_VENV := .venv-cdk-nag2
PY := $(VENV)/bin/python
# The oldest aws-cdk-lib and constructs the construct supports (pyproject.toml), for its tests' second run.
LOWEST_VENV := .venv-cdk-lowest
LOWEST_TESTS := $(LOWEST_VENV)/bin/python -m pytest tests/test_construct_*.py
ARGS ?=
# The handler's Lambda asset as the construct ships it, built from lambda/ by tools/asset.py: rebuilt whenever a file
# of lambda/ changes (tests/test_construct_asset.py fails while it is stale).
ASSET := constructs/cdk_dataexchange_auto_export/lambda_asset/dataexchange_auto_export_handler/index.py
HANDLER_FILES := $(shell find lambda -type f -not -path '*/__pycache__/*')

.PHONY: setup setup-demo asset demo test test-cdk-lowest bench mutants synth cdk vendor clean
.DEFAULT_GOAL := demo

setup-demo: $(VENV)/.demo-installed $(ASSET) $(LAMBDA_VENV)

setup: setup-demo $(VENV)/.installed $(OLD_LAMBDA_VENV) $(CHECKOV_VENV)/.installed $(NAG2_VENV)/.installed $(LOWEST_VENV)/.installed \
	node_modules/.installed

$(ASSET): $(HANDLER_FILES) tools/asset.py
	$(PYTHON) -m tools.asset

# The dev venv in two steps. What the demo runs: the package, editable, with its local extra (the kit), the
# example app's requirements.txt and the pinned setuptools that builds the package; no bytecode compiled ahead
# (aws-cdk-lib's is most of the install's time, and the demo imports a fraction of it).
$(VENV)/.demo-installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --upgrade -r requirements.txt setuptools -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --no-build-isolation -e ".[local]" \
		-c constraints.txt
	touch $@

# Then what the tests need besides.
$(VENV)/.installed: $(VENV)/.demo-installed requirements-dev.txt constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# --clear: nothing of an earlier build stays, a newer aws-cdk-lib least of all.
$(LOWEST_VENV)/.installed: requirements-cdk-lowest.txt
	$(PYTHON) -m venv --clear $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-cdk-lowest.txt
	touch $@

$(LAMBDA_VENV): requirements-lambda.txt
	$(PYTHON) -m tools.toolchain lambda-venvs pinned

$(OLD_LAMBDA_VENV): requirements-lambda-boto3-1.34.txt
	$(PYTHON) -m tools.toolchain lambda-venvs boto3-1.34

# The file is a whole freeze, so nothing is resolved here: pip check fails on anything it left out.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-checkov.txt
	$(CHECKOV_VENV)/bin/python -m pip check
	touch $@

# A whole freeze as well (cdk-nag 2's newest release, the rest at constraints.txt's pins).
$(NAG2_VENV)/.installed: requirements-cdk-nag2.txt
	$(PYTHON) -m venv --clear $(NAG2_VENV)
	$(NAG2_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-cdk-nag2.txt
	$(NAG2_VENV)/bin/python -m pip check
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

# The example app through the local kit, as a user runs `dataexchange-local` on an app of their own (state in
# .dataexchange-local/): an alert topic and a backfill of every existing revision. ARGS="publish" and the like go on.
DEMO := deploy -c dataSetId=8d494cba5e4720172a1e69a6e1b8fed5 -c alertEmail=data-team@example.com -c exportExisting=all \
	--outputs-file cdk-outputs.json
demo: setup-demo
	$(PY) -m tools.toolchain local $(or $(ARGS),$(DEMO))

# The whole suite on the pinned aws-cdk-lib; without ARGS, then the construct tests on the oldest supported one.
test: setup
	$(PY) -m pytest $(ARGS)
	$(if $(ARGS),,$(LOWEST_TESTS))

test-cdk-lowest: setup
	$(LOWEST_TESTS) $(ARGS)

bench: setup
	$(PY) -m benchmarks $(ARGS)

# Mutation testing of lambda/ and constructs/, each file against its fast tests (tools/mutants.py); minutes, so
# not part of `make test` or CI. ARGS="lambda --only backfill.py" narrows it, ARGS="lambda --rev main" mutates a revision.
mutants: setup
	$(PY) -m tools.mutants $(ARGS)

# The pinned CDK CLI, quiet and offline, with the venv's python for cdk.json's app (tools/toolchain.py).
synth: setup
	$(PY) -m tools.toolchain synth $(ARGS)

cdk: setup
	$(PY) -m tools.toolchain $(ARGS)

asset: $(ASSET)

# The crhelper release the handler's asset carries, copied again from the one pinned in requirements-dev.txt
# (tests/test_construct_asset.py fails while the two differ).
VENDOR := lambda/dataexchange_auto_export_handler/_vendor
vendor: $(VENV)/.installed
	from=$$($(PY) -c 'import crhelper, os; print(os.path.dirname(crhelper.__file__))') && \
	cp $$from/*.py $(VENDOR)/crhelper/ && cp $$from-*.dist-info/LICENSE $$from-*.dist-info/NOTICE $(VENDOR)/
	$(PYTHON) -m tools.asset

clean:
	rm -rf $(VENV) .venv-lambda* $(CHECKOV_VENV) $(NAG2_VENV) $(LOWEST_VENV) node_modules cdk.out .dataexchange-local .mutants \
		constructs/cdk_dataexchange_auto_export/lambda_asset build dist
