# Builds one test runner per graded chapter for classroom/grade.sh. Run from
# the root of the tree whose tests, golden data and common/ are used:
#
#   make -f classroom/grade.mk GRADE_BUILD=build/grade STUDENT_DIR=... \
#        REFERENCE_DIR=... GRADED="03_rms_norm 07_decoder_layer" runners
#
# The runner of chapter c links the student's chapters/c/*.c and, for every
# other chapter, the reference sources: REFERENCE_DIR/chapters/<chapter>/*.c
# where that folder exists, else ./chapters/<chapter>/*.c. One wrong chapter
# so fails only its own suite. CC, CFLAGS, CPPFLAGS, LDLIBS and CHECK_LIBS
# come from the main Makefile (make grade passes them).

GRADE_BUILD   ?= build/grade
STUDENT_DIR   ?= student
REFERENCE_DIR ?= .
GRADED        ?=

# "." becomes no prefix, so that object paths never contain "./".
prefix_of = $(if $(filter .,$(1)),,$(1)/)
STUDENT_PREFIX   := $(call prefix_of,$(STUDENT_DIR))
REFERENCE_PREFIX := $(call prefix_of,$(REFERENCE_DIR))

CHAPTERS_ALL := $(patsubst chapters/%/,%,$(sort $(dir $(wildcard chapters/*/*.c))))

# The library sources of chapter $(1) under the prefix $(2): main_*.c builds a program.
chapter_sources = $(filter-out $(2)chapters/$(1)/main_%.c,$(wildcard $(2)chapters/$(1)/*.c))
reference_sources = $(or $(call chapter_sources,$(1),$(REFERENCE_PREFIX)),$(call chapter_sources,$(1),))

COMMON_SRCS := $(filter-out common/main_%.c,$(wildcard common/*.c))
TEST_SRCS   := $(wildcard tests/test_*.c)
BASE_OBJS   := $(patsubst %.c,$(GRADE_BUILD)/obj/%.o,$(COMMON_SRCS) $(TEST_SRCS)) $(GRADE_BUILD)/obj/tests/main.o
reference_objs = $(patsubst %.c,$(GRADE_BUILD)/obj/%.o,$(call reference_sources,$(1)))
student_objs = $(patsubst $(STUDENT_PREFIX)%.c,$(GRADE_BUILD)/student/%.o,$(call chapter_sources,$(1),$(STUDENT_PREFIX)))

.PHONY: base runners $(addprefix student-objects-,$(GRADED))
.SUFFIXES:

# The common code, the tests and the reference of every chapter not graded.
# The reference of a graded chapter is built with the runners that link it:
# without .classroom/reference it is the student's own code.
base: $(BASE_OBJS) $(foreach c,$(filter-out $(GRADED),$(CHAPTERS_ALL)),$(call reference_objs,$(c)))

runners: $(foreach c,$(GRADED),$(GRADE_BUILD)/$(c)/run_tests)

$(GRADE_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(GRADE_BUILD)/student/%.o: $(STUDENT_PREFIX)%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# The suite list, as the main Makefile writes it.
$(GRADE_BUILD)/tests/suites.inc: $(TEST_SRCS)
	@mkdir -p $(dir $@)
	@for f in $(sort $(TEST_SRCS)); do \
	  echo "SUITE($$(basename $$f .c | sed -e 's/^test_//' -e 's/^[0-9][0-9]*_//'))"; \
	done > $@.tmp && mv $@.tmp $@

$(GRADE_BUILD)/obj/tests/main.o: tests/main.c $(GRADE_BUILD)/tests/suites.inc
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(GRADE_BUILD)/tests $(CFLAGS) -c $< -o $@

# student-objects-<c>: compiles the student's chapter alone, so that grade.sh
# can tell a compile error from a link error.
define chapter_rules
student-objects-$(1): $(call student_objs,$(1))

$(GRADE_BUILD)/$(1)/run_tests: $(BASE_OBJS) $(call student_objs,$(1)) \
    $(foreach other,$(filter-out $(1),$(CHAPTERS_ALL)),$(call reference_objs,$(other)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$^ -o $$@ $$(CHECK_LIBS) $$(LDLIBS)
endef
$(foreach c,$(GRADED),$(eval $(call chapter_rules,$(c))))

-include $(shell find $(GRADE_BUILD)/obj -name '*.d' 2>/dev/null)
