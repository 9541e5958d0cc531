# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# The virtual environment is rebuilt only when pyproject.toml changes, so a second run takes seconds.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip's notes about this machine's local package mirrors are noise; errors still show.
PIP := $(PY) -m pip install -q --progress-bar off
DEMO_DIR ?= demo_out
# torch/torchvision pinned to the builds that lie on this machine's disk (CUDA-enabled wheels from PyPI
# elsewhere); override TORCH_SPEC for another build, e.g. a CPU-only index or another CUDA version.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test lint bench browser serve clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m liver3d.demo --out $(DEMO_DIR)

test: $(STAMP) browser
	$(PY) -m pytest

# Debian's chromium + chromedriver for the viewer's browser tests (skipped when it cannot install them).
browser:
	@scripts/install_browser.sh

# The viewer on http://127.0.0.1:8501 with the models the demo trained.
serve: $(STAMP)
	$(PY) -m liver3d.app --models $(DEMO_DIR)/app_models.json

lint: $(STAMP)
	$(VENV)/bin/ruff check liver3d tests scripts
	$(VENV)/bin/ruff format --check liver3d tests scripts

bench: $(STAMP)
	$(PY) scripts/bench_io.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
