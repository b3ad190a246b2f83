# Two commands do everything on a fresh machine:
#   make demo   set up the virtual environment and run the default (demo) study with its HTML report
#   make test   set up the virtual environment and run the default test tier (unit tests and smoke studies)
#   make reproduce   rerun every committed study (docs/studies/) and compare its tables with the committed ones;
#                    STUDY=<name> for one, DATA=<root> for datasets outside ../shared/datasets
# make test-all runs every tier: the default one plus the slow, SLURM, browser and real-data tests (CI runs it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
STUDY ?=
DATA ?= ../shared/datasets
# pytest's workers: tests run two at a time (pytest-xdist), the tiny study they share built once for both
# (tests/conftest.py). TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS)
# the tiers (pyproject's markers, set in tests/conftest.py from what each test uses) that `make test` leaves out
BEYOND_DEFAULT := slow or realdata or slurm or browser

.PHONY: setup browser demo test test-all reproduce report lint format clean-demo

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
	$(PYTEST) -m "not ($(BEYOND_DEFAULT))"

# the browser tier's headless Chromium, from Debian's packages when absent (needs root and apt; without it the
# browser test skips, saying why). The SLURM tier installs its own daemons (tests/slurm/start.sh).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && echo "installed chromium"; } || \
	  echo "no chromium, and it could not be installed (needs root and apt): the browser test will skip"

test-all: setup browser
	$(PYTEST)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules
