# Two commands set up everything on a fresh machine:
#   make demo   create .venv, install, run the 10k-GPU site's evening peak under the reference EMS and bill it
#   make test   create .venv, install (and the npm test clients, and Debian's chromium for the
#               dashboard's browser tests), run ruff, mypy on twin/ and hil/
#               (the numba kernels compiling beside them), and the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# the evening peak on aidc_10k under the reference EMS, ending with the bill, what storage saved
# and the share of the optimum (profiles/scenarios/demo_aidc.yaml); `hil demo` is a bare site under the stand-in EMS
demo: $(STAMP)
	$(BIN)/hil run demo_aidc --fast --out runs/demo

lint: $(STAMP)
	$(BIN)/ruff check twin hil tests benchmarks tools examples
	$(BIN)/ruff format --check twin hil tests benchmarks tools examples
	$(BIN)/mypy twin hil

# Independent third-party clients for the protocol tests (node-opcua-client, modbus-serial)
JS     := tests/integration/js
JSSTAMP := $(JS)/node_modules/.installed

$(JSSTAMP): $(JS)/package.json
	cd $(JS) && npm install --no-audit --no-fund --loglevel=error
	touch $(JSSTAMP)

# Debian's headless Chromium for the dashboard's browser tests (tests/integration/
# test_dashboard_browser.py): Playwright drives it and downloads no browser of its own
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium

# two workers (CI has two cores); a file's tests stay on one worker (a scenario runs once).
# --no-loadscope-reorder: xdist hands out files in collection order (tests/conftest.py puts
# the long ones first) instead of by their number of tests, which sent the 110-s paced EMS
# test last and left one worker alone for its whole length (≈ 55 s of a run)
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder

# numba compiles the twin's kernels into its on-disk cache beside the linters
# (tools/warm_kernels.py, ≈ 40 s on a fresh clone), so the test workers load them instead of
# each compiling them at the same moment. Bytecode is written even where the shell sets
# PYTHONDONTWRITEBYTECODE: without it every pytest worker and every subprocess a test starts
# recompiles the project and pytest re-rewrites each test module's asserts (≈ 4 s a worker).
test: export PYTHONDONTWRITEBYTECODE =
test: export HIL_CHROMIUM = $(CHROMIUM)
test: $(STAMP) $(JSSTAMP) $(CHROMIUM)
	@$(BIN)/python tools/warm_kernels.py > $(VENV)/warm.log 2>&1 & warm=$$!; \
	$(MAKE) --no-print-directory lint; linted=$$?; \
	wait $$warm; warmed=$$?; cat $(VENV)/warm.log; \
	test $$linted -eq 0 && test $$warmed -eq 0
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_site.py
	$(BIN)/python benchmarks/bench_modbus.py
	$(BIN)/python benchmarks/bench_opcua.py
	$(BIN)/python benchmarks/bench_serve.py --clients 32 8

serve: $(STAMP)
	$(BIN)/hil serve lab_rack

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
