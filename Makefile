# Holdfast: `make demo` runs the lab and a resolver; `make test` runs every check.
# Both work on a fresh Debian machine with Python 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check pytest tools conformance conformance-tools bench bench-tools upgrade-lock test-latest clean

# The exact versions (with hashes) we test and ship with: requirements/test.lock
# (runtime + test tools) and requirements/runtime.lock (what a production venv
# installs). pyproject.toml keeps the loose ranges. `make upgrade-lock` makes
# both anew from the newest releases; `make test-latest` tries those releases
# in a throw-away venv without touching the lock.
LOCK := requirements/test.lock
# pip-compile must see only the public index (no machine-local wheel folders).
PIP_COMPILE := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The wheelhouse holds the runtime lock's wheels, so that the packaging test
# can install the built wheel into a fresh venv inside the offline namespace.
$(STAMP): pyproject.toml $(LOCK) requirements/runtime.lock | $(BIN)/python
	$(BIN)/pip install --quiet --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip download --quiet --quiet --require-hashes --no-deps --only-binary :all: \
		-r requirements/runtime.lock -d $(VENV)/wheelhouse
	touch $@

demo: $(STAMP)
	$(BIN)/holdfast demo

# Debian packages the tests and the harness need: dig (bind9-dnsutils) and ip
# (iproute2) for the tests, kdig and curl for DoT/DoH, Unbound for the DNSSEC differential test and the
# harness, dnsperf for the harness. They are installed when a command is missing
# and we are root (CI is). Unbound ships a daemon: an executable policy-rc.d
# that exits 101 keeps it from starting (added only if none exists, removed
# after), and --no-install-recommends keeps unbound-anchor out. The tests and
# the harness run Unbound themselves, with the lab's hints and anchor only.
# $(1): commands needed; $(2): packages; $(3): what happens without them.
define debian_install
	@missing=; for c in $(1); do command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    added=; \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added=1; \
	    fi; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(2); \
	    status=$$?; if [ -n "$$added" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; \
	  else echo "warning: one of $(1) is missing and we are not root: $(3)"; fi; \
	fi
endef

tools:
	$(call debian_install,dig ip unbound kdig curl dnsdist,bind9-dnsutils iproute2 unbound knot-dnsutils curl dnsdist,tests that need them skip)
	$(call debian_install,redis-server redis-cli,redis-server redis-tools,the shared cache tests skip)

check: $(STAMP)
	$(BIN)/ruff check resolver rootzone dnssec tests bench
	$(BIN)/mypy

pytest: $(STAMP) tools
	tests/run-isolated $(BIN)/pytest $(PYTEST_ARGS)

test: check pytest

# Deckard (CZ.NIC's cross-resolver scenarios, in ../shared/conformance) against
# this checkout, held to tests/conformance/expected-failures.txt. Its harness
# gets its own venv from its own lock; it skips when ../shared is absent.
DECKARD_KIT := ../shared/conformance
DECKARD_VENV := .venv-deckard

conformance-tools:
	$(call debian_install,faketime dumpcap pkg-config augparse,faketime libfaketime wireshark-common libaugeas-dev augeas-lenses augeas-tools pkg-config,conformance cannot run)

$(DECKARD_VENV)/.installed: tests/conformance/requirements.lock
	$(PYTHON) -m venv $(DECKARD_VENV)
	$(DECKARD_VENV)/bin/pip install --quiet --quiet --require-hashes -r $<
	touch $@

conformance: $(STAMP)
	@if [ -d $(DECKARD_KIT)/deckard ]; then \
	  $(MAKE) --no-print-directory conformance-tools $(DECKARD_VENV)/.installed && \
	  tests/conformance/run; \
	else echo "conformance: $(DECKARD_KIT) is absent: skipped"; fi

bench-tools:
	$(call debian_install,dnsperf unbound nsd,dnsperf unbound nsd,the harness says what it can do)

bench: $(STAMP) tools bench-tools
	$(BIN)/holdfast bench $(BENCH_ARGS)

upgrade-lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(PIP_COMPILE) --upgrade --extra test -o requirements/test.lock pyproject.toml
	$(PIP_COMPILE) --upgrade -c requirements/test.lock -o requirements/runtime.lock pyproject.toml
	@echo "lock refreshed: run make test, then commit requirements/"

# The suite against the newest releases, in .venv-latest (not in CI): the next
# breakage shows here before a user's fresh install meets it.
test-latest: tools
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --upgrade -e '.[test]'
	.venv-latest/bin/ruff check resolver rootzone dnssec tests bench
	.venv-latest/bin/mypy
	tests/run-isolated .venv-latest/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-latest .mypy_cache .pytest_cache .ruff_cache .hypothesis
