# SPDX-License-Identifier: ISC
# reliability.mk - the reliability suites of tests/reliability/: syscall
# fault injection, allocation-failure injection, crash consistency,
# concurrency, hostile input, and the ctgrind constant-time check (plus the
# CLI hostile-input script).  Included by the top-level Makefile; make check
# runs them in both builds (fewer iterations under ASan, ctgrind skipped).
# Every tests/reliability/test_<name>.c is a suite, $(BUILD)/reliability/test_<name>.

REL_DIR     := $(BUILD)/reliability
REL_SRCS    := $(sort $(wildcard tests/reliability/test_*.c))
REL_BINS    := $(REL_SRCS:tests/reliability/%.c=$(REL_DIR)/%)
REL_CTGRIND := $(REL_DIR)/ctgrind

TEST_CMDS += $(REL_BINS) tests/reliability/ctgrind.sh tests/cli/badinput.sh
TEST_DEPS += $(REL_BINS) $(REL_CTGRIND)

.PHONY: reliability
reliability: $(REL_BINS) $(REL_CTGRIND)

# Allocation failures: every malloc/calloc/realloc/free/mmap of the test and
# of libpairtok goes through the test's __wrap_* functions.
$(REL_DIR)/test_alloc: private LDFLAGS_EXE += \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=mmap

$(REL_DIR)/test_concurrency: private LDFLAGS_EXE += -pthread

# ctgrind runs under valgrind alone: no cmocka.
$(REL_CTGRIND): $(BUILD)/obj/tests/reliability/ctgrind.o $(TESTLIB_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(TESTLIB_A) $(LIB_A) $(LIB_LIBS)

$(REL_DIR)/test_%: $(BUILD)/obj/tests/reliability/test_%.o $(TESTLIB_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(TESTLIB_A) $(LIB_A) $(LIB_LIBS) $(TEST_LIBS)
