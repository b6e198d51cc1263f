# hub_ops: `make demo` shows every flow on the local default; `make test` runs every test
# against a real local stack (kube-apiserver, GCS server, Postgres, JupyterHub).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.data/dagster

.PHONY: setup lint format test demo dev stack-prepare stack-up stack-down bench clean

$(VENV)/.installed: pyproject.toml hub_ops_dev/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./hub_ops_dev
	touch $@

setup: $(VENV)/.installed

# system packages (apt) and the kube-apiserver build, cached outside the repo
stack-prepare: setup
	$(PY) -m hub_ops_dev.stack prepare

# ruff: lint and format are checked before any test runs (CI fails on either)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint stack-prepare
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m hub_ops_dev.demo

dev: setup
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	HUB_OPS_FLEET=$(CURDIR)/deployments $(VENV)/bin/dagster dev -w workspace.yaml

# the local stack by hand: prints the kubeconfig, GCS endpoint, Postgres URL, hub URL
stack-up: stack-prepare
	$(VENV)/bin/hub-ops-stack up

stack-down:
	$(VENV)/bin/hub-ops-stack down

bench: setup
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf .data test-artifacts .pytest_cache
