# Holdfast: `make demo` runs the lab and a resolver; `make test` runs every check.
# Both work on a fresh Debian machine with Python 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check pytest tools bench bench-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/holdfast demo

# Debian packages the tests and the harness need: dig (bind9-dnsutils) and ip
# (iproute2) for the tests, Unbound for the DNSSEC differential test and the
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
	$(call debian_install,dig ip unbound,bind9-dnsutils iproute2 unbound,tests that need them skip)

check: $(STAMP)
	$(BIN)/ruff check resolver rootzone dnssec tests bench
	$(BIN)/mypy

pytest: $(STAMP) tools
	tests/run-isolated $(BIN)/pytest $(PYTEST_ARGS)

test: check pytest

bench-tools:
	$(call debian_install,dnsperf unbound,dnsperf unbound,the harness says what it can do)

bench: $(STAMP) tools bench-tools
	$(BIN)/holdfast bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
