# Two commands do everything on a fresh machine:
#   make demo   set up the virtual environment and run the default (demo) study with its HTML report
#   make test   set up the virtual environment and run the test suite
#   make reproduce   rerun every committed study (docs/studies/) and compare its tables with the committed ones;
#                    STUDY=<name> for one, DATA=<root> for datasets outside ../shared/datasets
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
STUDY ?=
DATA ?= ../shared/datasets

.PHONY: setup demo test reproduce report lint format clean-demo

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-test.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/snakemake --cores $(CORES) --logger emoverify
	$(BIN)/snakemake --cores $(CORES) --report results/demo/report.html

reproduce: setup
	$(BIN)/python -m emoverify.reproduce --data $(DATA) $(if $(STUDY),--study $(STUDY))

test: setup
	$(BIN)/python -m pytest -q -rs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules
