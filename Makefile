# Every target bootstraps .venv itself, so a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test lint typecheck check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV): pyproject.toml $(RUNTIME)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/lvyue demo --fresh --site-url http://$(HOST):$(PORT)
	$(BIN)/lvyue serve --host $(HOST) --port $(PORT)

test: $(DEV)
	$(BIN)/pytest

lint: $(DEV)
	$(BIN)/ruff check .

typecheck: $(DEV)
	$(BIN)/mypy

check: lint typecheck test

bench: $(DEV)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache
