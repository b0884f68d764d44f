# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
# kamailio (+ its TLS modules) plays the carrier and baresip-core the encrypting phone
# (TLS + SRTP) in the trunking tests
SYSTEM_PACKAGES := sip-tester sox libsox-fmt-mp3 kamailio kamailio-tls-modules baresip-core

.PHONY: install system-packages run test fuzz lint bench

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# SIPp (Debian package sip-tester) plays the phones in the end-to-end tests. Installed
# when any package is missing (dpkg asked by name: kamailio lives in /usr/sbin).
system-packages:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
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
