# Two commands on a fresh machine:
#   make run   environment from uv.lock, then `dvc repro` → corpus/published/
#   make test  the same environment, the local doccano server's environment, then the whole suite
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := False
export UV_COMPILE_BYTECODE := 1

.PHONY: run test lint env clean chromium storage release consumer-env

run: env storage
	dvc repro

# The default DVC remote's directory (`.dvc/config`: remote "local" → .dvc-storage/, git-ignored).
storage:
	mkdir -p .dvc-storage

# Cut a release: `make release VERSION=0.2.0` (README "Releases and versions").
release: env storage
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=<major.minor.patch>" >&2; exit 2; }
	python -m pipeline release $(VERSION) $(RELEASE_ARGS)

test: env doccano-env consumer-env chromium lint
	python -m pytest $(PYTEST_ARGS)

# A training team's environment (dvc, dvc-s3, pandas, pyarrow, datasets; never `pipeline`), from
# its own hashed lock: the release tests fetch versions with it (tests/test_releases.py).
CONSUMER_VENV := .venv-consumer
CONSUMER_LOCK := tests/consumer/requirements.txt
consumer-env: $(CONSUMER_VENV)/.synced

$(CONSUMER_VENV)/.synced: $(CONSUMER_LOCK) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CONSUMER_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(CONSUMER_VENV)/bin/python $(CONSUMER_LOCK)
	touch $@

# Chromium from the Debian packages, for the test that opens the review page (`python -m pipeline show`)
# in a real headless browser; installed only when missing (needs root, as on CI).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# ruff (pinned in uv.lock, configured in pyproject.toml): a lint or format finding fails `make test`
lint: env
	ruff check .
	ruff format --check .

env: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

clean:
	rm -rf corpus/interim corpus/reports corpus/.published.staging corpus/.published.old

-include Makefile.doccano
-include Makefile.bench
