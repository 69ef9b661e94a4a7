# softslm: the two commands of the README, plus helpers.
#   make run    set up, build, and run the main job (generate with the shipped sample model)
#   make test   set up, build, and run the whole test suite
BUILD ?= build
JOBS ?= $(shell nproc)
MODEL ?= models/sample
PROMPT ?= Once upon a time
SOFTSLM = $(BUILD)/softslm

.PHONY: all setup build run test bench clean

all: build

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	$(SOFTSLM) generate --model $(MODEL) --prompt "$(PROMPT)" --temperature 0.8 --top-k 40 --max-new-tokens 120 --seed 1

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	$(SOFTSLM) bench

clean:
	rm -rf $(BUILD)
