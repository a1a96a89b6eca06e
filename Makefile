# `make demo` and `make test` each do all set-up on a fresh machine: a virtual environment in the
# checkout, installed once (re-installed when setup.py changes), then reused.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

# pip installs without compiling (faster set-up); the first import of each module writes its bytecode instead.
# An environment that sets PYTHONDONTWRITEBYTECODE would otherwise recompile torch & co. in every process the
# demo and the tests start (measured: the test suite 955 s instead of 619 s on a fresh clone).
export PYTHONDONTWRITEBYTECODE =

# The set-up's wall time goes to $(SETUP_SECONDS); the demo's summary.json reports it beside its stages.
SETUP_SECONDS := $(VENV)/.setup_seconds

$(STAMP): setup.py
	@mkdir -p $(VENV) && date +%s > $(VENV)/.setup_started
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -e ".[offline,test]"
	@echo $$(( $$(date +%s) - $$(cat $(VENV)/.setup_started) )) > $(SETUP_SECONDS)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py --out results/demo

# SpeechBrain's gates (configuration in pyproject.toml, .yamllint.yaml, .dict-interpretability.txt): ruff,
# ruff format, yamllint (errors fail; over-long lines are warnings, as there) and codespell.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint --no-warnings .
	$(VENV)/bin/codespell

# Lint first: a lint error fails `make test` (and so CI) before any test runs.
test: lint
	$(PY) -m pytest -q -n auto --dist loadscope tests

clean:
	rm -rf results .pytest_cache
