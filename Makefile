# yundian — two commands for a newcomer: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
BROWSER_STAMP := $(VENV)/.browser-deps
# The console's build output (git-ignored; served by the API and shipped by `chalice package`)
CONSOLE_BUILT := chalicelib/console_assets/manifest.json
CONSOLE_SOURCES := console/build.mjs $(wildcard console/src/*.* console/src/*/*.*)
STAGE ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install console run test lint infra package bench clean

install: $(PY_STAMP) $(NODE_STAMP) $(CONSOLE_BUILT)

# A .venv or node_modules that is a symlink is a shared install (e.g. git worktrees): never
# reinstall through it (`npm ci` would empty the shared folder under everyone using it).
$(PY_STAMP): requirements.txt requirements-dev.txt
	@if [ -L $(VENV) ]; then echo "$(VENV) links to a shared install: not reinstalling"; else \
	  test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt; fi
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@if [ -L node_modules ]; then echo "node_modules links to a shared install: not reinstalling"; else \
	  npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

# The console: esbuild bundles console/src (with Chart.js and qrcode from node_modules) into
# content-hashed assets; nothing is fetched when the page runs.
console: $(CONSOLE_BUILT)
$(CONSOLE_BUILT): $(NODE_STAMP) $(CONSOLE_SOURCES)
	node console/build.mjs

# DynamoDB Local with data in .dynamodb/, demo data, then localdev/server.py (chalice's local server, the
# stream poller and the schedules) on 127.0.0.1:$${YUNDIAN_PORT:-8000}.
run: install
	$(PY) scripts/run_local.py

# Debian's chromium and a CJK font for tests/browser (Playwright itself is in requirements-dev.txt),
# installed with apt-get when missing (as root; otherwise it says what to run). Not needed by `make run`.
$(BROWSER_STAMP): scripts/browser_deps.sh | $(PY_STAMP)
	bash scripts/browser_deps.sh
	touch $@

# The whole suite; conftest starts DynamoDB Local on a free port and stops it, even on failure.
test: install $(BROWSER_STAMP)
	$(PY) -m pytest

# Regenerate infra/resources.json and .chalice/policy-<stage>.json from the PynamoDB models.
infra: $(PY_STAMP)
	$(PY) -m infra.build

# ruff, mypy, generated files up to date, then the packaged CloudFormation template through cfn-lint
# for a commercial region and the China regions (partition aws-cn); cfn-lint does not flag a literal `arn:aws:`
# in a policy, so grep for it.
CFN_REGIONS := us-east-1 cn-north-1 cn-northwest-1
lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m infra.build --check
	$(MAKE) --no-print-directory package STAGE=dev
	$(VENV)/bin/cfn-lint --regions $(CFN_REGIONS) -- build/sam.json
	@! grep -n 'arn:aws:' build/sam.json || { echo 'build/sam.json names a literal arn:aws: partition' >&2; exit 1; }

# SAM template + deployment.zip for a stage in build/ (see README "Deploy"). Never the local stage:
# its public JWT secret and test clock are for a laptop (the app also refuses it inside Lambda).
package: $(PY_STAMP) $(CONSOLE_BUILT)
	@if [ "$(STAGE)" = local ]; then \
	  echo "make package: the local stage cannot be packaged for deployment (public JWT secret, test clock);" \
	    "package a deployed stage, e.g. make package STAGE=dev" >&2; exit 2; fi
	rm -rf build
	$(VENV)/bin/chalice package --stage $(STAGE) --merge-template infra/resources.json build/

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .dynamodb build chalicelib/console_assets
