# Meterhouse: `make demo` and `make test` set up everything on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
DATA_DIR ?= data
# Nothing here may reach the internet: telemetry off for dbt, Dagster and GX.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export UV_COMPILE_BYTECODE := 1
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test ui bench lint clean manifest browser

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) -r requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp orchestration/dagster.yaml $@

manifest: install
	cd dbt_project && ../$(VENV)/bin/dbt parse --quiet

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/meterhouse generate --data-dir $(DATA_DIR)
	$(VENV)/bin/meterhouse run --data-dir $(DATA_DIR) --stripe-emulator

# Both cores: two pytest-xdist workers, a test file each at a time (module fixtures stay on one worker;
# each worker parses dbt in its own copy of the project, see tests/conftest.py); the 15 slowest tests are
# listed at the end, to keep the suite's time in view.
test: install $(DAGSTER_HOME)/dagster.yaml browser
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

# The browser test drives Debian's Chromium through Selenium. Installed with apt when running as root (CI);
# otherwise the test says how to install them and skips.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver with apt (for the browser test)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium chromium-driver >/dev/null \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
		|| echo "apt could not install chromium: the browser test will skip"; \
	else \
		echo "chromium/chromedriver missing and not root: the browser test will skip"; \
	fi

ui: install $(DAGSTER_HOME)/dagster.yaml manifest
	MH_DATA_DIR=$(abspath $(DATA_DIR)) $(VENV)/bin/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

bench: install $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m benchmarks.run --snapshot-code --out BENCHMARKS.md

lint: install
	$(VENV)/bin/ruff check ingestion orchestration tests benchmarks
	$(VENV)/bin/ruff format --check ingestion orchestration tests benchmarks

clean:
	rm -rf $(VENV) .dagster_home dbt_project/target dbt_project/logs
