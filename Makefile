# PaliGemma in C: one Makefile for the chapters, the tests and the programs.
#
#   make run         build and run paligemma with the bundled model on the example images
#                    (installs missing packages first)
#   make test        build and run every Check suite; exits non-zero on any failure
#   make test NAIVE=1  the same with every Linear as the plain naive loop
#   make test-debug  the suites at -O0 in one process (CK_FORK=no), e.g.
#                    make test-debug DEBUGGER="valgrind --leak-check=full"
#   make golden      regenerate golden/*/ with PyTorch (needs Debian's python3-torch)
#   make bench       time C against PyTorch at paligemma-3b-pt-224's shapes
#   make compare     dump the C activations on the tiny checkpoints and compare them
#                    with the PyTorch dumps in golden/numerics_compare (docs/numerics.md)
#   make sanitize    the suites under AddressSanitizer and UndefinedBehaviorSanitizer
#   make valgrind    `make run`'s command under valgrind (memcheck, leaks)
#   make fuzz        build the libFuzzer targets of tests/fuzz/ and run each FUZZ_SECONDS
#   make eval        score the tiny-shapes model, C against PyTorch (EVAL_ARGS="--scenes 50")
#   make deps        install the missing Debian build packages with apt-get
#   make clean       remove build/
#
# Layout: chapters/NN_name/*.c and common/*.c form build/libpaligemma.a;
# each tests/test_[NN_]name.c adds one Check suite, name_suite(), to the one
# test runner; a source named main_<program>.c builds build/<program>.

CC      ?= cc
# No -ffast-math (or -Ofast) here: the golden tests compare float32 results
# with PyTorch to a few ulp, and fast-math reorders sums and breaks GELU.
# -ffp-contract=off keeps the compiler from fusing a * b + c into one FMA
# rounding, which PyTorch's reference does not do either.
OPTIMIZE ?= -O2
CFLAGS  ?= $(OPTIMIZE) -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -ffp-contract=off -fopenmp
CPPFLAGS += -Icommon -Ichapters -I/usr/include/stb -I/usr/include/cjson
# libstb holds the compiled stb_image, so no file defines STB_IMAGE_IMPLEMENTATION.
LDLIBS  += -lstb -lcjson -lm
# Check's flags come from pkg-config, read when a recipe needs them (after `make deps`).
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)

# `make test NAIVE=1` (or run, test-debug, ...) builds with linear() as the
# plain loop of common/linear.c instead of the fast routine, into build/naive.
ifdef NAIVE
CPPFLAGS += -DPG_NAIVE_LINEAR
BUILD ?= build/naive
else
BUILD ?= build
endif

# Everything is found by wildcard, so adding a chapter or a test needs no edit here.
PROGRAM_SRCS := $(wildcard chapters/main_*.c chapters/*/main_*.c common/main_*.c)
LIB_SRCS     := $(filter-out $(PROGRAM_SRCS) common/testing.c,$(wildcard chapters/*/*.c common/*.c))
TEST_SRCS    := $(wildcard tests/test_*.c)
LIB_OBJS     := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS    := $(TEST_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/tests/main.o $(BUILD)/common/testing.o
PROGRAMS     := $(foreach src,$(PROGRAM_SRCS),$(BUILD)/$(subst _,-,$(patsubst main_%.c,%,$(notdir $(src)))))
LIB          := $(BUILD)/libpaligemma.a
TEST_RUNNER  := $(BUILD)/tests/run_tests

# Debian packages the build needs, and those `make golden` needs.
DEB_BUILD_PACKAGES  := build-essential pkg-config check libstb-dev libcjson-dev
DEB_GOLDEN_PACKAGES := python3-torch python3-numpy python3-pil python3-sentencepiece libopenblas0-pthread
PYTHON := /usr/bin/python3

.PHONY: all run test test-binaries test-debug golden compare bench eval deps deps-golden clean sanitize valgrind fuzz
.DEFAULT_GOAL := all

all: $(LIB) $(PROGRAMS) $(TEST_RUNNER)

# The main job: the paligemma program with the bundled tiny-shapes model on
# the example images (a caption, detections with boxes drawn into
# build/examples/, and color questions). RUN_TARGETS are built first, then
# RUN_COMMAND runs. `make valgrind` runs VALGRIND_COMMAND, one of those
# requests, because valgrind must start the program itself.
RUN_MODEL        ?= golden/tiny_shapes/model
RUN_TARGETS       = $(PROGRAMS)
RUN_COMMAND       = PALIGEMMA=./$(BUILD)/paligemma golden/tiny_shapes/run_examples.sh $(RUN_MODEL)
VALGRIND_COMMAND  = ./$(BUILD)/paligemma --model $(RUN_MODEL) --image golden/tiny_shapes/examples/shapes_1.png \
                    --prompt "detect square" --boxes $(BUILD)/valgrind-boxes.png

run: deps
	@$(MAKE) --no-print-directory $(RUN_TARGETS)
	$(RUN_COMMAND)

# The tests run the programs too; PG_BUILD_DIR tells them where they are.
test-binaries: $(TEST_RUNNER) $(PROGRAMS)

test: deps
	@$(MAKE) --no-print-directory test-binaries
	PG_BUILD_DIR=$(BUILD) ./$(TEST_RUNNER)

test-debug: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/debug OPTIMIZE=-O0 test-binaries
	PG_BUILD_DIR=$(BUILD)/debug CK_FORK=no CK_VERBOSITY=verbose $(DEBUGGER) ./$(BUILD)/debug/tests/run_tests

golden: deps-golden
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) golden/make_golden.py $(CHAPTERS)

# The C dump of one request per tiny checkpoint against the committed PyTorch
# dump; the last two show what bfloat16 and float16 weights cost against float32.
compare: $(BUILD)/paligemma $(BUILD)/paligemma-compare
	@mkdir -p $(BUILD)/numerics
	@for precision in f32 bf16 f16; do \
	  ./$(BUILD)/paligemma --model golden/12_paligemma/tiny_$$precision --image golden/12_paligemma/photo.png \
	    --prompt "caption en" --max-tokens 4 --dump-activations $(BUILD)/numerics/c_$$precision > /dev/null \
	    2> $(BUILD)/numerics/c_$$precision.log || exit 1; \
	  echo; echo "== C $$precision weights vs PyTorch $$precision weights"; \
	  ./$(BUILD)/paligemma-compare $(BUILD)/numerics/c_$$precision golden/numerics_compare/$$precision || exit 1; \
	done
	@for precision in bf16 f16; do \
	  echo; echo "== C $$precision weights vs PyTorch f32 weights: the cost of $$precision rounding (FAIL expected)"; \
	  ./$(BUILD)/paligemma-compare $(BUILD)/numerics/c_$$precision golden/numerics_compare/f32 || true; \
	done

# C against our PyTorch reference at the shapes of paligemma-3b-pt-224. The
# first run writes a 5.9 GB random bfloat16 checkpoint into
# ~/.cache/paligemma-c/bench-3b-pt-224; results go in docs/benchmarks.md.
bench: deps deps-golden
	@$(MAKE) --no-print-directory $(PROGRAMS)
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) golden/bench/run_bench.py --build $(BUILD)
# Scores the trained tiny-shapes model (golden/tiny_shapes/model) on 300 new scenes,
# with build/paligemma and with the PyTorch reference, and lists where they differ.
eval: deps-golden
	@$(MAKE) --no-print-directory $(BUILD)/paligemma
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) golden/tiny_shapes/eval.py $(EVAL_ARGS)

# Installs only what is missing, and says what; prints nothing when all is there.
deps:
	@./.ci/install-debian-packages $(DEB_BUILD_PACKAGES)

deps-golden:
	@./.ci/install-debian-packages $(DEB_GOLDEN_PACKAGES)

# ---- reliability: sanitizers, valgrind, fuzzing -----------------------------
# See docs/reliability.md for what each finds and the measured results.

# The suites at -O1 with ASan and UBSan into build/sanitize/, in one process
# (CK_FORK=no) so that LeakSanitizer checks the whole run at exit. Any report
# stops the run with a non-zero status (-fno-sanitize-recover=all).
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SANITIZE_ENV   := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize OPTIMIZE="-O1 $(SANITIZE_FLAGS)" \
	  $(BUILD)/sanitize/tests/run_tests
	$(SANITIZE_ENV) ./$(BUILD)/sanitize/tests/run_tests

# `make run`'s command under memcheck: fails on any error or definite leak.
# NOTE: valgrind runs code about 20 to 50 times slower; on a full-size
# checkpoint that is hours, so use it with a small model.
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite

valgrind: deps
	@./.ci/install-debian-packages valgrind
	@$(MAKE) --no-print-directory $(RUN_TARGETS)
	$(VALGRIND) $(VALGRIND_COMMAND)

# libFuzzer targets: tests/fuzz/fuzz_<name>.c, built with clang into
# build/fuzz/ together with the library (and stb_image, so that the decoder
# is instrumented too). Each runs FUZZ_SECONDS on a corpus in
# build/fuzz/corpus/<name>, seeded from the committed files below. A crash
# writes build/fuzz/crash-* and stops make; commit it under
# tests/fuzz/regressions/<name>/ with the fix.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
FUZZ_FLAGS   := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SEEDS_npy               := $(wildcard golden/00_npy/*.npy)
FUZZ_SEEDS_safetensors       := $(wildcard golden/00_safetensors/*/*.safetensors)
FUZZ_SEEDS_safetensors_index := golden/00_safetensors/sharded/model.safetensors.index.json
FUZZ_SEEDS_config            := $(wildcard golden/12_paligemma/*/config.json) golden/12_paligemma/paligemma-3b-pt-224.json
FUZZ_SEEDS_tokenizer         := $(wildcard golden/14_tokenizer/*.model)
FUZZ_SEEDS_encode            := golden/14_tokenizer/prompt_texts.txt golden/14_tokenizer/strings.txt
FUZZ_SEEDS_image             := $(wildcard golden/13_image_preprocessing/*.png golden/13_image_preprocessing/*.bmp \
                                  golden/13_image_preprocessing/*.gif golden/13_image_preprocessing/*.jpg \
                                  golden/13_image_preprocessing/*.p?m)
# Per-target options: inputs larger than the prompts, images and headers
# that matter only slow the search (BPE encoding is quadratic in the text),
# and dictionaries of the formats' keys and edge values.
FUZZ_OPTIONS_npy               := -dict=tests/fuzz/npy.dict
FUZZ_OPTIONS_config            := -dict=tests/fuzz/config.dict
FUZZ_OPTIONS_encode            := -max_len=256
FUZZ_OPTIONS_image             := -max_len=8192
FUZZ_OPTIONS_safetensors       := -max_len=16384 -dict=tests/fuzz/safetensors.dict
FUZZ_OPTIONS_safetensors_index := -dict=tests/fuzz/safetensors.dict

fuzz: deps
	@./.ci/install-debian-packages clang-14 libclang-rt-14-dev
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=$(FUZZ_CC) OPTIMIZE="-O1 $(FUZZ_FLAGS)" $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	@$(foreach name,$(FUZZ_NAMES),mkdir -p $(BUILD)/fuzz/corpus/$(name) $(BUILD)/fuzz/seeds/$(name) && \
	  for f in $(FUZZ_SEEDS_$(name)); do \
	    cp $$f $(BUILD)/fuzz/seeds/$(name)/$$(basename $$(dirname $$f))_$$(basename $$f); done &&) true
	@$(foreach name,$(FUZZ_NAMES),$(call fuzz_one,$(name)))

# Runs fuzzer $(1) for FUZZ_SECONDS on its corpus, seeds and regression
# inputs, and prints its execution count, or the end of its log on a crash.
define fuzz_one
echo "fuzz_$(1): $(FUZZ_SECONDS) s, log in $(BUILD)/fuzz/fuzz_$(1).log"; \
if ! $(BUILD)/fuzz/fuzz_$(1) $(FUZZ_OPTIONS_$(1)) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
     -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus/$(1) $(BUILD)/fuzz/seeds/$(1) \
     $(wildcard tests/fuzz/regressions/$(1)) >$(BUILD)/fuzz/fuzz_$(1).log 2>&1; then \
  tail -n 40 $(BUILD)/fuzz/fuzz_$(1).log; exit 1; \
fi; \
grep -E '^stat::number_of_executed_units' $(BUILD)/fuzz/fuzz_$(1).log;
endef

# The bad_inputs suite runs $(BUILD)/paligemma beside the test runner.
$(TEST_RUNNER): | $(BUILD)/paligemma

# A fuzzer links the library objects built with FUZZ_FLAGS and its own
# instrumented copy of stb_image, compiled without -Werror and without
# UBSan: it is not ours, and UBSan reports in it that are no memory errors
# (such as a zero offset added to a null pointer on an empty PNG IDAT chunk)
# would stop the search. ASan still checks every access it makes.
FUZZ_STB_FLAGS := -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer
$(BUILD)/tests/fuzz/stb_image.o: tests/fuzz/stb_image.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -O1 $(FUZZ_STB_FLAGS) -g -w -c $< -o $@

.PRECIOUS: $(BUILD)/tests/fuzz/%.o
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/stb_image.o $(LIB)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $^ -o $@ -lcjson -lm

# ---- building -------------------------------------------------------------

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# build/<program> from .../main_<program>.c (underscores become dashes).
define program_rule
$(BUILD)/$(subst _,-,$(patsubst main_%.c,%,$(notdir $(1)))): $(BUILD)/$(1:.c=.o) $(LIB)
	$$(CC) $$(CFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach src,$(PROGRAM_SRCS),$(eval $(call program_rule,$(src))))

# Test-only: build/paligemma-broken is the paligemma program with the wrong
# conventions of common/broken_variant.h, one chosen at run time by
# PG_BROKEN_VARIANT=n. Only the files holding a variant are compiled again,
# with -DPG_BROKEN_VARIANTS, into build/broken/; they come before the library
# on the link line, so the linker takes them instead of its members. Nothing
# else is built with that define.
BROKEN_SRCS    := chapters/03_rms_norm/rms_norm.c chapters/04_mlp/mlp.c chapters/05_rope/rope.c \
                  chapters/11_merge/merge.c chapters/12_paligemma/paligemma.c
BROKEN_OBJS    := $(BROKEN_SRCS:%.c=$(BUILD)/broken/%.o)
BROKEN_PROGRAM := $(BUILD)/paligemma-broken
test-binaries: $(BROKEN_PROGRAM)

$(BUILD)/broken/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DPG_BROKEN_VARIANTS $(CFLAGS) -MMD -MP -c $< -o $@

$(BROKEN_PROGRAM): $(BUILD)/chapters/12_paligemma/main_paligemma.o $(BROKEN_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The list of suites, one SUITE(name) per tests/test_[NN_]name.c.
$(BUILD)/tests/suites.inc: $(TEST_SRCS) Makefile
	@mkdir -p $(dir $@)
	@for f in $(sort $(TEST_SRCS)); do \
	  echo "SUITE($$(basename $$f .c | sed -e 's/^test_//' -e 's/^[0-9][0-9]*_//'))"; \
	done > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/main.o: tests/main.c $(BUILD)/tests/suites.inc
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(BUILD)/tests $(CFLAGS) -c $< -o $@

$(TEST_RUNNER): $(TEST_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(TEST_OBJS) $(LIB) -o $@ $(CHECK_LIBS) $(LDLIBS)

# The fast Linear uses AVX2 and fused multiply-adds where the processor has
# them (x86-64 from Intel since 2013 and AMD since 2015), and the baseline
# instructions elsewhere; its tests compare it with the naive linear().
# AVX-512 is left out: it was no faster here and valgrind 3.19 cannot run it.
FAST_LINEAR_FLAGS := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && echo -mavx2 -mfma)
$(BUILD)/common/linear_fast.o: CFLAGS += -O3 $(FAST_LINEAR_FLAGS) -ffp-contract=fast

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- classroom: student trees and grading (docs/teaching.md) --------------
#
#   make student CHAPTERS="03 07"   copy the tree to $(STUDENT_DIR) with the
#                                   solutions of chapters 3 and 7 blanked
#                                   (CHAPTERS=all blanks every marked chapter)
#   make grade                      in a student tree: grade its chapters
#   make grade STUDENT_DIR=path     here: grade that student tree against
#                                   this tree's tests (CHAPTERS= overrides
#                                   the assigned chapters)
#   make test-classroom             the tests of the classroom scripts
#                                   (about a minute; .ci/run runs them)

STUDENT_DIR ?= student

.PHONY: student grade test-classroom

student:
	@tests/classroom/make_student.sh "$(STUDENT_DIR)" "$(CHAPTERS)"

grade: deps
	@CC="$(CC)" CFLAGS="$(CFLAGS)" CPPFLAGS="$(CPPFLAGS)" LDLIBS="$(LDLIBS)" CHECK_LIBS="$(CHECK_LIBS)" \
	  BUILD="$(BUILD)" MAKE="$(MAKE)" tests/classroom/grade.sh "$(STUDENT_DIR)" "$(CHAPTERS)"

test-classroom: deps
	@MAKE="$(MAKE)" tests/classroom/test_classroom.sh
