# Two commands set up a fresh machine: `make demo` and `make test`.
# Both share one virtual environment, .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test dev clean

$(BIN)/t2s: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/t2s

demo: $(BIN)/t2s
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/t2s demo

test: $(BIN)/t2s
	$(BIN)/python -m pytest -q --durations=20

dev: $(BIN)/t2s
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml  # the run queue
	$(BIN)/dg dev --host 127.0.0.1

clean:
	rm -rf $(VENV) .dagster_home .t2s_storage
