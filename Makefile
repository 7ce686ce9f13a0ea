# Python: the first of python3.13, python3.12, python3.11, python3 that is >= 3.11 (Airflow 3.3
# supports 3.10-3.14; this provider needs 3.11+). Override with `make demo PYTHON=/path/to/python`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 15))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
# One stamp per install flavour: `make demo` installs the package alone; `make test` adds the test
# and bench extras (the official SDKs are peers for the compatibility tests and the benchmark).
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: test demo bench lint clean

$(PY):
	@[ -n "$(PYTHON)" ] || { echo "make: need Python 3.11 or newer on PATH (or PYTHON=/path/to/python)"; exit 1; }
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V))"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): $(PY) pyproject.toml
	@echo "make: installing the provider and Apache Airflow into $(VENV) (first time: about a minute) ..."
	@$(PY) -m pip install -q -e .
	@rm -f $(VENV)/.installed-demo-*; touch $@
	@echo "make: installed"

$(TEST_STAMP): $(PY) pyproject.toml
	@echo "make: installing the provider with its test and bench extras into $(VENV) (first time: a few minutes) ..."
	@$(PY) -m pip install -q -e '.[test,bench]'
	@rm -f $(VENV)/.installed-test-*; touch $@
	@echo "make: installed"

demo: $(DEMO_STAMP)
	@$(PY) -m oss_provider.demo

test: $(TEST_STAMP)
	$(PY) -m pytest -n 2 -q tests; rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

bench: $(TEST_STAMP)
	$(PY) -m bench

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache

# oss2 2.19.1's own upstream tests (pinned sdist from the package index, cached in .cache/)
# against a fresh emulator, V1 and V4; see docs/conformance.md.
.PHONY: conformance
conformance: $(TEST_STAMP)
	$(PY) conformance/run.py
