# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
# baresip-core: the `baresip` package without the GUI and video plugins it recommends
SYSTEM_PACKAGES := sip-tester sox libsox-fmt-mp3 baresip-core tshark
# the commands that show they are installed (one per package that has one)
SYSTEM_COMMANDS := sipp sox baresip dumpcap

.PHONY: install system-packages run test fuzz lint bench

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# SIPp (Debian package sip-tester) and baresip play the phones in the end-to-end tests;
# dumpcap (tshark) captures what each phone received for the leak check.
system-packages:
	@missing=0; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
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
