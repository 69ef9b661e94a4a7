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

.PHONY: all setup build run test bench bench-torch clean task-data default-model fuzz test-asan

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
#   build-asan/ (no AVX2 twin), then the CTest suite there; the CLI tests run the sanitized
#   binary too. ASAN_CTEST_ARGS passes extra ctest arguments (e.g. -E 'Slow').
# make fuzz: clang 14 + libFuzzer harnesses (fuzz/) in build-fuzz/, each target run for
#   FUZZ_SECONDS (default 60; FUZZ_RUNS caps executions); fails on any crash, leak, timeout
#   (-timeout=10 s) or memory blow-up (-rss_limit_mb=2048). Artifacts: build-fuzz/artifacts/.
ASAN_BUILD ?= build-asan
ASAN_CTEST_ARGS ?=
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Asan -DSOFTSLM_AVX2_TWIN=OFF >/dev/null
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

# softslm and the same model in PyTorch eager, same machine, same run (installs python3-torch)
bench-torch: build
	scripts/setup --with-torch
	$(PYTHON) bench/torch_reference.py --parity --model models/sample --softslm $(SOFTSLM)
	$(SOFTSLM) bench --json > $(BUILD)/bench-softslm.json
	$(PYTHON) bench/torch_reference.py --bench --json > $(BUILD)/bench-torch.json
	$(PYTHON) bench/compare.py $(BUILD)/bench-softslm.json $(BUILD)/bench-torch.json

# The shipped task model: data (seeded, splits never overlap), then training (~50 min, 2 cores).
task-data: build
	$(SOFTSLM) data --task add --n 30000 --split train --seed 1 --out $(TASK_DATA)/add-train.jsonl
	$(SOFTSLM) data --task mul --n 70000 --split train --seed 1 --out $(TASK_DATA)/mul-train.jsonl
	$(SOFTSLM) data --task path --n 100000 --split train --seed 1 --out $(TASK_DATA)/path-train.jsonl
	$(SOFTSLM) data --task add --n 500 --split val --seed 1 --out $(TASK_DATA)/add-val.jsonl
	$(SOFTSLM) data --task mul --n 500 --split val --seed 1 --out $(TASK_DATA)/mul-val.jsonl
	$(SOFTSLM) data --task path --n 500 --split val --seed 1 --out $(TASK_DATA)/path-val.jsonl

default-model: task-data
	$(SOFTSLM) train --config configs/train-tasks.yaml
	mkdir -p models/default
	cp runs/tasks/config.json runs/tasks/model.safetensors runs/tasks/tokenizer.json \
	   runs/tasks/train_config.yaml runs/tasks/metrics.jsonl models/default/

clean:
	rm -rf $(BUILD)
