# Two commands on a fresh clone: `make demo` and `make test`.
# torch is installed first and pinned (a plain `pip install torch` pulls a multi-GB CUDA build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-all bench lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PIP) install "$(TORCH_SPEC)"
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[dev,apps]"
	touch $@

$(VENV)/.apps: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[apps]"
	touch $@

demo: $(VENV)/.apps
	$(PY) -m apps.check_reading demo --out out/demo

test: $(VENV)/.dev
	$(PY) -m pytest -q

test-all: $(VENV)/.dev
	$(PY) -m pytest -q -m ""

bench: $(VENV)/.dev
	$(PY) bench/graphs.py
	$(PY) bench/dense.py

lint: $(VENV)/.dev
	$(PY) -m ruff check gtn factors decoders apps tests bench
	$(PY) -m ruff format --check gtn factors decoders apps tests bench

format: $(VENV)/.dev
	$(PY) -m ruff format gtn factors decoders apps tests bench
	$(PY) -m ruff check --fix gtn factors decoders apps tests bench

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
