PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test demo bench lint clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The official SDKs (bench extra) are peers for the compatibility tests and the benchmark smoke
# run, never runtime dependencies.
$(STAMP): $(PY) pyproject.toml Makefile
	$(PY) -m pip install -q -e '.[test,bench]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q tests; rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

demo: $(STAMP)
	$(PY) -m oss_provider.demo

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
