# README.md gives two commands: `pip install -e . && vts-masking serve` (`make run` does the
# same, with the test extras) and `make test`. CI (.ci/run) calls `make test` and `make lint`.
PYTHON ?= python3
SYSTEM_PACKAGES := sip-tester sox libsox-fmt-mp3 jq

.PHONY: install system-packages run test fuzz lint bench

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# SIPp (Debian package sip-tester) plays the phones in the end-to-end tests; sox and jq
# are used by the README tour, which a test runs as written.
system-packages:
	@if ! command -v sipp >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; fi; \
	fi

run: install
	vts-masking serve

test: install system-packages
	$(PYTHON) -m pytest

# The fuzz stage alone (make test runs it too): schemathesis over the API's OpenAPI and
# Hypothesis properties over the SIP, SDP and API parsers, bounded to a minute or two.
fuzz: install
	$(PYTHON) -m pytest tests/fuzz

lint:
	$(PYTHON) -m ruff check src tests bench

bench: install
	$(PYTHON) bench/api/run.py
