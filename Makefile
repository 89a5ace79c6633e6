# PaliGemma in C: one Makefile for the chapters, the tests and the programs.
#
#   make run         build and run paligemma on a bundled checkpoint (installs missing packages first)
#   make test        build and run every Check suite; exits non-zero on any failure
#   make test NAIVE=1  the same with every Linear as the plain naive loop
#   make test-debug  the suites at -O0 in one process (CK_FORK=no), e.g.
#                    make test-debug DEBUGGER="valgrind --leak-check=full"
#   make golden      regenerate golden/*/ with PyTorch (needs Debian's python3-torch)
#   make bench       time C against PyTorch at paligemma-3b-pt-224's shapes
#   make compare     dump the C activations on the tiny checkpoints and compare them
#                    with the PyTorch dumps in golden/numerics_compare (docs/numerics.md)
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

.PHONY: all run test test-binaries test-debug golden compare bench deps deps-golden clean
.DEFAULT_GOAL := all

all: $(LIB) $(PROGRAMS) $(TEST_RUNNER)

# The main job: the paligemma program on a bundled checkpoint and image.
# NOTE: tiny_f32 has random weights, so its answer is noise; it shows the
# whole pipeline running until a trained model is bundled.
RUN_MODEL   ?= golden/12_paligemma/tiny_f32
RUN_COMMAND  = ./$(BUILD)/paligemma --model $(RUN_MODEL) --image golden/12_paligemma/photo.png \
               --prompt "caption en" --max-tokens 12

run: deps
	@$(MAKE) --no-print-directory $(PROGRAMS)
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

# Installs only what is missing, and says what; prints nothing when all is there.
deps:
	@./.ci/install-debian-packages $(DEB_BUILD_PACKAGES)

deps-golden:
	@./.ci/install-debian-packages $(DEB_GOLDEN_PACKAGES)

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

# The fast Linear may use every instruction of this machine's processor and
# fused multiply-adds; its tests compare it with the naive linear().
$(BUILD)/common/linear_fast.o: CFLAGS += -march=native -ffp-contract=fast

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
