# Two commands on a fresh clone: `make demo` and `make test`.
# torch is installed first and pinned (a plain `pip install torch` pulls a multi-GB CUDA build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-all docs bench lint format clean speech-extras

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

# The documentation site, into site/ (--strict: a broken link or anchor, a page left out of the
# navigation or a docstring that does not render is an error). `make test` builds it too.
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

bench: $(VENV)/.dev
	$(PY) bench/graphs.py
	$(PY) bench/dense.py

lint: $(VENV)/.dev
	$(PY) -m ruff check gtn factors decoders apps tests bench docs/_ext
	$(PY) -m ruff format --check gtn factors decoders apps tests bench docs/_ext

format: $(VENV)/.dev
	$(PY) -m ruff format gtn factors decoders apps tests bench docs/_ext
	$(PY) -m ruff check --fix gtn factors decoders apps tests bench docs/_ext

# Optional: festival's voices, the speech app's held-out synthesiser (evaluation rows only),
# and flite, whose awb and rms voices `--flite N` adds to training.
# festvox-kallpc8k conflicts with festvox-kallpc16k, so only the 16 kHz one.
SPEECH_EXTRAS := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts flite
speech-extras:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y --no-install-recommends $(SPEECH_EXTRAS) || \
		{ apt-get update && apt-get install -y --no-install-recommends $(SPEECH_EXTRAS); }; \
	else \
		echo "festival and flite need root and apt-get; run: sudo apt-get install $(SPEECH_EXTRAS)"; \
	fi

clean:
	rm -rf $(VENV) out site .pytest_cache .hypothesis
