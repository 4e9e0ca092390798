# SPDX-License-Identifier: ISC
# reliability.mk - the reliability suites of tests/reliability/: syscall
# fault injection, allocation-failure injection, crash consistency,
# concurrency, hostile input, and the ctgrind constant-time check (plus the
# CLI hostile-input script).  Included by the top-level Makefile; make check
# runs them in both builds (fewer iterations under ASan, ctgrind skipped).

REL_DIR    := $(BUILD)/reliability
REL_HELPER := $(BUILD)/obj/tests/reliability/rel.o
REL_SUITES := test_faults test_alloc test_crash test_concurrency test_badinput test_limits
REL_BINS   := $(REL_SUITES:%=$(REL_DIR)/%)
REL_CTGRIND := $(REL_DIR)/ctgrind

TEST_CMDS += $(REL_BINS) tests/reliability/ctgrind.sh tests/cli/badinput.sh
TEST_DEPS += $(REL_BINS) $(REL_CTGRIND)

.PHONY: reliability
reliability: $(REL_BINS) $(REL_CTGRIND)

# Allocation failures: every malloc/calloc/realloc/free/mmap of the test and
# of libpairtok goes through the test's __wrap_* functions.
$(REL_DIR)/test_alloc: $(BUILD)/obj/tests/reliability/test_alloc.o $(REL_HELPER) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=mmap \
	    -o $@ $< $(REL_HELPER) $(LIB_A) $(LIB_LIBS) $(TEST_LIBS)

$(REL_DIR)/test_concurrency: $(BUILD)/obj/tests/reliability/test_concurrency.o $(REL_HELPER) \
    $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -pthread -o $@ $< $(REL_HELPER) $(LIB_A) $(LIB_LIBS) $(TEST_LIBS)

$(REL_DIR)/ctgrind: $(BUILD)/obj/tests/reliability/ctgrind.o $(REL_HELPER) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(REL_HELPER) $(LIB_A) $(LIB_LIBS)

$(REL_DIR)/test_%: $(BUILD)/obj/tests/reliability/test_%.o $(REL_HELPER) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(REL_HELPER) $(LIB_A) $(LIB_LIBS) $(TEST_LIBS)
