# Python: the first of python3.13, python3.12, python3.11, python3 that is >= 3.11 (Airflow 3.3
# supports 3.10-3.14; this provider needs 3.11+). Override with `make demo PYTHON=/path/to/python`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 15))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
# uv (pinned) lives in its own small venv: `uv pip sync` makes .venv exactly the lock, itself included
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# uv installs from the committed lock files in locks/ (regenerate them with `make lock`), so a fresh
# clone next month resolves the versions that passed today. One stamp per install flavour: `make demo`
# installs the package and its runtime lock alone; `make test` syncs the test lock (test and bench
# extras: the official SDKs are peers for the compatibility tests and the benchmark).
DEMO_STAMP := $(VENV)/.installed-demo-$(shell cat pyproject.toml locks/runtime.txt | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat pyproject.toml locks/test.txt | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9

.PHONY: test demo bench lint clean lock compat

$(PY):
	@[ -n "$(PYTHON)" ] || { echo "make: need Python 3.11 or newer on PATH (or PYTHON=/path/to/python)"; exit 1; }
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V))"
	@$(PYTHON) -m venv $(VENV)

$(UV):
	@[ -n "$(PYTHON)" ] || { echo "make: need Python 3.11 or newer on PATH (or PYTHON=/path/to/python)"; exit 1; }
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q uv==$(UV_VERSION)

$(DEMO_STAMP): $(PY) $(UV) pyproject.toml locks/runtime.txt
	@echo "make: installing the provider and Apache Airflow into $(VENV) from locks/runtime.txt ..."
	@VIRTUAL_ENV=$(VENV) $(UV) pip install -q -r locks/runtime.txt
	@VIRTUAL_ENV=$(VENV) $(UV) pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-demo-*; touch $@
	@echo "make: installed"

$(TEST_STAMP): $(PY) $(UV) pyproject.toml locks/test.txt
	@echo "make: installing the provider with its test and bench extras into $(VENV) from locks/test.txt ..."
	@VIRTUAL_ENV=$(VENV) $(UV) pip sync -q locks/test.txt
	@VIRTUAL_ENV=$(VENV) $(UV) pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@
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
	rm -rf $(VENV) $(TOOLS) .pytest_cache .compat

# Regenerate every lock file in locks/ (compat/lock.sh says which is which)
lock: $(UV)
	UV=$(UV) compat/lock.sh

# The Airflow version matrix: 2.11, 3.0, 3.1, 3.2, 3.3, each in its own venv from its lock, the built
# wheel installed, the demo run outside the clone and the core tests (docs/compat.md).
# One line only: `make compat AIRFLOW=3.0`.
compat: $(UV)
	$(TOOLS)/bin/python compat/run.py $(if $(AIRFLOW),--airflow $(AIRFLOW))

# oss2 2.19.1's own upstream tests (pinned sdist from the package index, cached in .cache/)
# against a fresh emulator, V1 and V4; see docs/conformance.md.
.PHONY: conformance
conformance: $(TEST_STAMP)
	$(PY) conformance/run.py
