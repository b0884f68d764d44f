# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
SYSTEM_PACKAGES := sip-tester sox libsox-fmt-mp3

NODE_SDK_DIR := tests/sdk_official/node

.PHONY: install system-packages node-packages run test fuzz lint bench

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# SIPp (Debian package sip-tester) plays the phones in the end-to-end tests.
system-packages:
	@if ! command -v sipp >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; fi; \
	fi

# The family's official Node SDK (npm plivo), pinned by the lockfile, for
# tests/sdk_official/test_node_sdk.py; node itself comes from the machine.
node-packages:
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_SDK_DIR) --no-audit --no-fund --loglevel=error >/dev/null; \
	else echo "npm not found: the official Node SDK tests will be skipped" >&2; fi

run: install
	vts-masking serve

test: install system-packages node-packages
	$(PYTHON) -m pytest

# The fuzz stage alone (make test runs it too): schemathesis over the API's OpenAPI and
# Hypothesis properties over the SIP, SDP and API parsers, bounded to a minute or two.
fuzz: install
	$(PYTHON) -m pytest tests/fuzz

lint:
	$(PYTHON) -m ruff check src tests bench

bench: install
	$(PYTHON) bench/api/run.py
