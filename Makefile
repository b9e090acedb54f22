# Set-up and run on a fresh machine: `make run` serves, `make test` tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install install-test run index test test-fast lint eval bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is installed first and pinned: the CPU build, not the CUDA one.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

index: install
	$(BIN)/qa index --source seeds

run: install
	@test -f index/manifest.json || $(BIN)/qa index --source seeds
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

# The browser tests drive the system's Chromium (Debian's package; no browser download).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium >/dev/null || \
	  ($(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null)

# Everything CI runs: lint, types, every test (model conversion, server processes and the
# browser too).
test: install-test $(CHROMIUM)
	$(BIN)/ruff check qa tests bench
	$(BIN)/ruff format --check qa tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

# The edit-test loop: tests/unit (no child process, no model, no browser; a stand-in
# embedder) on every core, no lint.
test-fast: install-test
	$(BIN)/pytest -q -n auto tests/unit

lint: install-test
	$(BIN)/ruff check qa tests bench
	$(BIN)/ruff format --check qa tests bench
	$(BIN)/mypy

# Every evaluation (seed set, pira_xling, faquad_pt, xquad_xling, answers) -> eval/RESULTS.md
eval: install
	$(BIN)/pip install --quiet -e '.[eval,milvus]'
	$(BIN)/python -m bench.results

# Speed and memory (embedding backends, indexing, HTTP load, vector indexes) -> eval/BENCH.md
bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) index/manifest.json index/segments index/ann index/.lock index/milvus.db
