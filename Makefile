# `make demo` and `make test` each do all set-up on a fresh machine: a virtual environment in the
# checkout, installed once (re-installed when setup.py changes), then reused.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[offline,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py --out results/demo

test: $(STAMP)
	$(PY) -m pytest -q tests

clean:
	rm -rf results .pytest_cache
