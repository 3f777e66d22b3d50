# Set-up is part of every target: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast bench samples clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: setup  ## the main job: configs/web-en.yaml over samples/ on in-process Ray
	$(VENV)/bin/tamis run configs/web-en.yaml

test: setup  ## the whole test suite (real Ray included)
	$(PY) -m pytest -q

test-fast: setup  ## tests without the slow (Ray / subprocess) ones
	$(PY) -m pytest -q -m 'not slow and not bench and not gpu'

BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

# Peers live in their own venv so their pins never touch ours.
$(BENCH_STAMP): Makefile
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		'datatrove[processing,io]==0.10.1' 'spacy==3.8.18' pyarrow
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)  ## heuristics: tamis vs datatrove on the same shards, local vs Ray
	$(PY) benchmarks/bench_heuristics.py

samples: setup  ## regenerate samples/web from ../shared/data
	$(PY) samples/build_samples.py

clean:
	rm -rf out .pytest_cache
