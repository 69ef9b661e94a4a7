# softslm: the two commands of the README, plus helpers.
#   make run    set up, build, and run the main job (soft thinking with the shipped task model)
#   make test   set up, build, and run the whole test suite
BUILD ?= build
JOBS ?= $(shell nproc)
MODEL ?= models/default
PROMPT ?= 4528+734=
SOFTSLM = $(BUILD)/softslm
PYTHON ?= /usr/bin/python3  # Debian's, where scripts/setup --with-torch installs python3-torch

TASK_DATA = data/tasks

.PHONY: all setup build run test bench bench-server bench-torch clean task-data cot-model default-model results \
	select-default results-recipes \
	model-internalize model-self-feed model-latent-hidden model-latent-concept model-soft-targets \
	fuzz test-asan

all: build

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	$(SOFTSLM) generate --model $(MODEL) --prompt "$(PROMPT)" --soft-thinking --max-new-tokens 200 --seed 1

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# Hardening (issue 13).
# make test-asan: the whole project with g++ under ASan + LSan + UBSan (any report is fatal) in
#   build-asan/ (no AVX2 twin, no Python module: an ASan library cannot load into an
#   uninstrumented python3), then the CTest suite there; the CLI tests run the sanitized
#   binary too. ASAN_CTEST_ARGS passes extra ctest arguments (e.g. -E 'Slow').
# make fuzz: clang 14 + libFuzzer harnesses (fuzz/) in build-fuzz/, each target run for
#   FUZZ_SECONDS (default 60; FUZZ_RUNS caps executions); fails on any crash, leak, timeout
#   (-timeout=10 s) or memory blow-up (-rss_limit_mb=2048). Artifacts: build-fuzz/artifacts/.
ASAN_BUILD ?= build-asan
ASAN_CTEST_ARGS ?=
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Asan -DSOFTSLM_AVX2_TWIN=OFF -DSOFTSLM_PYTHON=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j$(JOBS) $(ASAN_CTEST_ARGS)

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
fuzz: setup
	@scripts/setup --with-fuzz
	@cmake -S fuzz -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	$(FUZZ_BUILD)/make_seeds $(FUZZ_BUILD)/seeds
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run

bench: build
	$(SOFTSLM) bench

# softslm serve under 1, 8, 32 and 128 concurrent clients against softslm eval's in-process
# batched decode of the same prompts, in one run (bench/server_load.py)
bench-server: build
	$(PYTHON) bench/server_load.py --softslm $(SOFTSLM)

# softslm and the same model in PyTorch eager, same machine, same run: Debian's python3-torch
# on OpenBLAS (libopenblas0-pthread; without it Debian's torch runs on the reference BLAS) and
# PyPI's current torch (MKL) from .venv; each prints the BLAS it runs on. Installs both
# (scripts/setup --with-torch --with-hf).
bench-torch: build
	scripts/setup --with-torch --with-hf
	$(PYTHON) bench/torch_reference.py --parity --model models/sample --softslm $(SOFTSLM)
	.venv/bin/python bench/torch_reference.py --parity --model models/sample --softslm $(SOFTSLM)
	$(SOFTSLM) bench --json > $(BUILD)/bench-softslm.json
	$(PYTHON) bench/torch_reference.py --bench --json > $(BUILD)/bench-torch.json
	.venv/bin/python bench/torch_reference.py --bench --json > $(BUILD)/bench-torch-pypi.json
	$(PYTHON) bench/compare.py $(BUILD)/bench-softslm.json $(BUILD)/bench-torch.json \
	  $(BUILD)/bench-torch-pypi.json

# The task models: data (seeded, splits never overlap; add and mul train sets with --repeats,
# so every digit-count class keeps its share, the one-digit sums included), then training.
#   make cot-model      the chain-of-thought baseline, models/cot (~60 min on 2 cores)
#   make model-RECIPE   a soft-thinking recipe from models/cot, runs/RECIPE (internalize,
#                       self-feed, latent-hidden, latent-concept; soft-targets on path)
#   make select-default the candidates (CANDIDATES: models/cot and the recipe runs there are)
#                       on the validation split, ranked by accuracy per thinking token
#                       (scripts/select_default; docs/results/val/)
#   make default-model  DEFAULT_RUN (runs/cot unless given) -> models/default
#   make results        the shipped models' evaluation -> docs/report.html, docs/results/,
#                       the README's results table (scripts/results; ~10 min)
#   make results-recipes the recipe runs in runs/ on the same sets -> docs/recipes.html,
#                       docs/results/recipes/, the README's recipes table (scripts/results_recipes)
task-data: build
	$(SOFTSLM) data --task add --n 30000 --split train --seed 1 --repeats --out $(TASK_DATA)/add-train.jsonl
	$(SOFTSLM) data --task mul --n 70000 --split train --seed 1 --repeats --out $(TASK_DATA)/mul-train.jsonl
	$(SOFTSLM) data --task path --n 100000 --split train --seed 1 --out $(TASK_DATA)/path-train.jsonl
	$(SOFTSLM) data --task add --n 500 --split val --seed 1 --out $(TASK_DATA)/add-val.jsonl
	$(SOFTSLM) data --task mul --n 500 --split val --seed 1 --out $(TASK_DATA)/mul-val.jsonl
	$(SOFTSLM) data --task path --n 500 --split val --seed 1 --out $(TASK_DATA)/path-val.jsonl

# copy_model RUN DEST: the Hugging Face directory, its decoding file and its record
copy_model = mkdir -p $(2) && cp $(1)/config.json $(1)/model.safetensors $(1)/tokenizer.json \
	$(1)/train_config.yaml $(1)/metrics.jsonl $(2)/ && \
	if [ -f $(1)/soft_thinking.yaml ]; then cp $(1)/soft_thinking.yaml $(2)/; else rm -f $(2)/soft_thinking.yaml; fi

cot-model: task-data
	$(SOFTSLM) train --config configs/train-tasks.yaml
	$(call copy_model,runs/cot,models/cot)

model-internalize model-self-feed model-latent-hidden model-latent-concept: model-%: task-data
	@test -f models/cot/model.safetensors || { echo "make $@: models/cot is needed (make cot-model)" >&2; exit 1; }
	$(SOFTSLM) train --config configs/train-mix-$*.yaml

model-soft-targets: task-data
	$(SOFTSLM) train --config configs/train-soft-targets.yaml

DEFAULT_RUN ?= runs/cot
default-model:
	$(call copy_model,$(DEFAULT_RUN),models/default)

CANDIDATES ?= models/cot $(wildcard runs/internalize runs/self-feed runs/latent-hidden runs/latent-concept)
select-default: build
	scripts/select_default $(CANDIDATES)

results: build
	scripts/results

results-recipes: build
	scripts/results_recipes

clean:
	rm -rf $(BUILD)
