# Two commands set up everything on a fresh machine:
#   make demo   create .venv, install, run a one-hour simulation of the 10k-GPU site
#   make test   create .venv, install, run ruff, mypy on twin/ and the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hil demo --site aidc_10k --hours 1

lint: $(STAMP)
	$(BIN)/ruff check twin hil tests benchmarks tools
	$(BIN)/ruff format --check twin hil tests benchmarks tools
	$(BIN)/mypy twin

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_site.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
