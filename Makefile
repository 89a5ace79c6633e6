# PaliGemma in C: one Makefile for the chapters, the tests and the programs.
#
#   make run         build and run the main program (installs missing packages first)
#   make test        build and run every Check suite; exits non-zero on any failure
#   make test-debug  the suites at -O0 in one process (CK_FORK=no), e.g.
#                    make test-debug DEBUGGER="valgrind --leak-check=full"
#   make golden      regenerate golden/*/ with PyTorch (needs Debian's python3-torch)
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
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -ffp-contract=off
CPPFLAGS += -Icommon -Ichapters -I/usr/include/stb -I/usr/include/cjson
# libstb holds the compiled stb_image, so no file defines STB_IMAGE_IMPLEMENTATION.
LDLIBS  += -lstb -lcjson -lm
# Check's flags come from pkg-config, read when a recipe needs them (after `make deps`).
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)

BUILD ?= build

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

.PHONY: all run test test-debug golden eval deps deps-golden clean
.DEFAULT_GOAL := all

all: $(LIB) $(PROGRAMS) $(TEST_RUNNER)

# The main job. At this stage: the demo of chapters 1 to 3.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/chapter-demo
	./$(BUILD)/chapter-demo

test: deps
	@$(MAKE) --no-print-directory $(TEST_RUNNER)
	./$(TEST_RUNNER)

test-debug: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/debug OPTIMIZE=-O0 $(BUILD)/debug/tests/run_tests
	CK_FORK=no CK_VERBOSITY=verbose $(DEBUGGER) ./$(BUILD)/debug/tests/run_tests

golden: deps-golden
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) golden/make_golden.py $(CHAPTERS)

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

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
