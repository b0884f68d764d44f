# README.md gives two commands: `pip install -e . && vts-masking serve` (`make run` does the
# same, with the test extras) and `make test`. CI (.ci/run) calls `make test` and `make lint`.
PYTHON ?= python3
# kamailio (+ its TLS modules) plays the carrier and baresip-core the encrypting phone
# (TLS + SRTP) in the trunking tests, and both softphones of the end-to-end tests
# (baresip-core: the `baresip` package without the GUI and video plugins it recommends);
# tshark's dumpcap captures what each phone received for the leak check; chromium the
# console tests' browser; sox and jq are used by the README tour, which a test runs as
# written
SYSTEM_PACKAGES := sip-tester sox libsox-fmt-mp3 jq chromium chromium-driver kamailio \
	kamailio-tls-modules baresip-core tshark

NODE_SDK_DIR := tests/sdk_official/node

.PHONY: install system-packages node-packages run test fuzz lint bench vendor-htmx

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# SIPp (Debian package sip-tester) plays the phones in the end-to-end tests; headless
# Chromium (driven by Playwright, never downloaded by it) is the console tests' browser.
# Installed when any package is missing (dpkg asked by name: kamailio lives in /usr/sbin).
system-packages:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
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

# Most tests wait on sockets, SIP timers and subprocesses rather than compute, so three
# xdist workers keep a 2-core machine busy without starving the SIP/RTP tests (every
# test picks its own free ports and its own database schema, so workers never meet).
TEST_WORKERS ?= 3
test: install system-packages node-packages
	$(PYTHON) -m pytest -n $(TEST_WORKERS)

# The fuzz stage alone (make test runs it too): schemathesis over the API's OpenAPI and
# Hypothesis properties over the SIP, SDP and API parsers, bounded to a minute or two.
fuzz: install
	$(PYTHON) -m pytest tests/fuzz

lint:
	$(PYTHON) -m ruff check src tests bench

bench: install
	$(PYTHON) bench/api/run.py

# The console's one script, vendored from the npm registry (the file and its licence are
# committed; this only refreshes them). Checked against the tarball's known digest.
HTMX_VERSION := 2.0.11
HTMX_SHA256 := 165a2655073e9e6e55e307a7c74e8ebcdb76afb7701f9c16cfd106a13add408e
CONSOLE_STATIC := src/vts_masking/console/static
vendor-htmx:
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null \
		&& echo "$(HTMX_SHA256)  htmx.org-$(HTMX_VERSION).tgz" | sha256sum -c --quiet \
		&& tar xzf htmx.org-$(HTMX_VERSION).tgz \
		&& cp package/dist/htmx.min.js $(CURDIR)/$(CONSOLE_STATIC)/htmx.min.js \
		&& cp package/LICENSE $(CURDIR)/$(CONSOLE_STATIC)/htmx.LICENSE.txt && rm -rf $$tmp
