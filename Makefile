# prism-io: top-level entry points. CMake does the building underneath.
#
#   make            release build into build/ (CLI at build/prismio)
#   make test       install missing packages, build with ASan+UBSan and run
#                   the whole suite (CTest); concurrent tests also under TSan;
#                   the Python package's tests in the release tree
#   make python     the Python package into build/python (PYTHONPATH=build/python)
#   make demo       install missing packages, build, run the demo
#   make install PREFIX=/usr/local
#   make bench      the benchmarks (ratios against same-run baselines)
#   make format     clang-format every C source and header
#   make fuzz       fuzz the HOLO, foreign-format and Arrow readers and the selection
#                   parsers with libFuzzer
#                   (FUZZ_SECONDS=60 each); corpora in tests/fuzz/corpus/
#   make stress     the fault-injection loops of `make test` (CTest label faults:
#                   writer kills, truncations and bit flips, converter mutants,
#                   ENOSPC) run longer in the ASan tree: COUNT=N (default 1000) is
#                   N kills, N mutants per format, N/10 ENOSPC rounds, N/100 files
#                   of truncations and flips; SECONDS=S also stops each loop after
#                   S seconds (SECONDS alone: no count limit)

BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
CTEST    ?= ctest

FUZZ_SECONDS ?= 60
# make stress: SECONDS only from the command line (a shell may export its own)
STRESS_SECONDS := $(if $(filter command line,$(origin SECONDS)),$(SECONDS),)
COUNT ?= $(if $(STRESS_SECONDS),,1000)

.PHONY: all build deps test test-asan test-tsan test-python python demo install bench format fuzz \
        stress clean

all: build

deps:
	@sh scripts/install-deps.sh

build:
	@$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory test-asan test-tsan test-python

# The Python package, built in the release tree (see tests/CMakeLists.txt).
python: build

test-python: build
	@cd $(BUILD) && $(CTEST) --output-on-failure -L python

test-asan:
	@$(CMAKE) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPIO_SANITIZE=address,undefined -DPIO_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build $(BUILD)/asan -j $(JOBS)
	@cd $(BUILD)/asan && $(CTEST) --output-on-failure -j $(JOBS)

stress:
	@$(CMAKE) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPIO_SANITIZE=address,undefined -DPIO_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build $(BUILD)/asan -j $(JOBS)
	@cd $(BUILD)/asan && PIO_STRESS_COUNT=$(COUNT) PIO_STRESS_SECONDS=$(STRESS_SECONDS) \
	    $(CTEST) --output-on-failure -V -j $(JOBS) -L stress

test-tsan:
	@$(CMAKE) -S . -B $(BUILD)/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPIO_SANITIZE=thread -DPIO_TESTS_ONLY_CONCURRENT=ON >/dev/null
	@$(CMAKE) --build $(BUILD)/tsan -j $(JOBS)
	@cd $(BUILD)/tsan && $(CTEST) --output-on-failure -L concurrent

demo: deps build
	@sh scripts/demo.sh $(BUILD)/prismio

install: build
	@$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

bench: build
	@sh bench/run.sh $(BUILD)

fuzz: deps
	@CC=clang $(CMAKE) -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIO_FUZZ=ON \
	    -DPIO_BUILD_TESTS=OFF -DPIO_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build $(BUILD)/fuzz -j $(JOBS) --target fuzz_holo_reader fuzz_convert_reader \
	    fuzz_arrow_reader fuzz_select fuzz_extxyz
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-convert $(BUILD)/fuzz/corpus-arrow \
	    $(BUILD)/fuzz/corpus-select $(BUILD)/fuzz/corpus-extxyz
	$(BUILD)/fuzz/fuzz_holo_reader -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus/holo
	$(BUILD)/fuzz/fuzz_convert_reader -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    $(BUILD)/fuzz/corpus-convert tests/fuzz/corpus/convert
	$(BUILD)/fuzz/fuzz_arrow_reader -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    $(BUILD)/fuzz/corpus-arrow tests/fuzz/corpus/arrow
	$(BUILD)/fuzz/fuzz_extxyz -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	    $(BUILD)/fuzz/corpus-extxyz tests/fuzz/corpus/extxyz
	UBSAN_OPTIONS=halt_on_error=1 $(BUILD)/fuzz/fuzz_select -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=32768 -dict=tests/fuzz/select.dict $(BUILD)/fuzz/corpus-select \
	    tests/fuzz/corpus/select

format:
	@clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf $(BUILD)
