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

# dig (Debian's bind9-dnsutils) and ip (iproute2) are needed by the tests;
# install them when missing and we are root (CI is).
tools:
	@if ! command -v dig >/dev/null || ! command -v ip >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bind9-dnsutils iproute2; \
	  else echo "warning: dig or ip missing and not root: tests that need them will skip"; fi; \
	fi

check: $(STAMP)
	$(BIN)/ruff check resolver rootzone dnssec tests bench
	$(BIN)/mypy

pytest: $(STAMP) tools
	tests/run-isolated $(BIN)/pytest $(PYTEST_ARGS)

test: check pytest

# dnsperf and Unbound (the resolver we compare with) come from Debian. Unbound
# ships a daemon: an executable policy-rc.d that exits 101 keeps it from
# starting on install (we add one only if none exists, and remove it after).
# The harness runs Unbound itself, with the lab's hints and anchor only.
bench-tools:
	@if ! command -v dnsperf >/dev/null || ! command -v unbound >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    added=; \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added=1; \
	    fi; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dnsperf unbound; \
	    status=$$?; [ -n "$$added" ] && rm -f /usr/sbin/policy-rc.d; exit $$status; \
	  else echo "warning: dnsperf or unbound missing and not root: the harness says what it can do"; fi; \
	fi

bench: $(STAMP) tools bench-tools
	$(BIN)/holdfast bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
