# Kontor – two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
KONTOR := $(VENV)/bin/kontor
PYTHON ?= python3.11
export KONTOR_HOME ?= $(CURDIR)/var
export HF_HUB_OFFLINE := 1
# Portable llama.cpp build: -march=native produces AMX kernels that segfault on these machines, and AVX-512
# only where this CPU has it (an AVX-512 build dies with "Illegal instruction" on an AVX2-only EPYC).
HAS_AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo ON || echo OFF)
HAS_VNNI := $(shell grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null && echo ON || echo OFF)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DGGML_AVX512=$(HAS_AVX512) -DGGML_AVX512_VNNI=$(HAS_VNNI)

.PHONY: setup run demo test eval check lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 fehlt ($(PYTHON))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0   # the CPU build on this machine; other pins pull CUDA
	# --no-cache-dir: a wheel cached from a build for another CPU must not be reused
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(PIP) install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(KONTOR) ingest
	$(KONTOR) demo   # demo users (passwords printed once, or KONTOR_DEMO_PASSWORD_<NAME>) and a dozen tickets

run: demo
	$(KONTOR) serve --host 127.0.0.1 --port 8000

test: setup
	$(PY) -m pytest -q

# The release gate: the production prompts on the evaluation cases against eval/baselines/ (run before every
# release; CI runs it). Exit code 1 names each metric that fell behind.
eval: setup
	$(KONTOR) ingest
	$(KONTOR) eval --gate

lint: setup
	$(VENV)/bin/ruff check assistant tests bench
	$(VENV)/bin/mypy assistant

check: lint test

bench: setup
	$(PY) bench/retrieval_xquad.py
	$(PY) bench/categorise_germeval.py
	$(PY) bench/answer_quality.py
	$(PY) bench/drafting.py
	$(PY) bench/ticket_flow.py
	$(PY) bench/mailbox_import.py
	$(PY) bench/load.py
	$(PY) bench/ingest_scale.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
