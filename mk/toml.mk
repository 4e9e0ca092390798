# SPDX-License-Identifier: ISC
# TOML reader/writer tooling: the toml-test decoder and runner (run by
# `make check` over $TOML_TEST_DIR, else ../shared/toml-test; skipped when
# neither exists, failed then under CI), the runner's own test, a
# throughput tool that is built but not run, and the allocator wrapping
# that lets test_toml fail the N-th allocation.  The test-only tree code
# is test support.

# What only the tests use of the tree - builders, toml_equal,
# toml_write_alloc - is test support (tests/toml/toml_build.c), linked into
# test_toml (through the unit-test rule's UNIT_EXTRA_OBJS), toml-perf and
# the TOML fuzzer, never into the library.
TOML_BUILD_SRC := tests/toml/toml_build.c
TOML_BUILD_OBJ := $(BUILD)/obj/tests/toml/toml_build.o
$(BUILD)/tests/test_toml: $(TOML_BUILD_OBJ)
$(BUILD)/tests/test_toml: private UNIT_EXTRA_OBJS += $(TOML_BUILD_OBJ)
FUZZ_SRCS_toml := $(TOML_BUILD_SRC)
$(BUILD)/fuzz/replay_toml: $(TOML_BUILD_OBJ)
$(BUILD)/fuzz/fuzz_toml: $(TOML_BUILD_SRC) tests/toml/toml_build.h

TOML_DECODER := $(BUILD)/toml-decoder
TOML_RUNNER  := $(BUILD)/toml-test-runner
TOML_PERF    := $(BUILD)/toml-perf

PROGRAMS  += $(TOML_DECODER) $(TOML_RUNNER) $(TOML_PERF)
TEST_DEPS += $(TOML_DECODER) $(TOML_RUNNER)
TEST_CMDS += $(TOML_RUNNER) tests/toml/test-runner.sh

$(TOML_DECODER): $(BUILD)/obj/tests/toml/decoder.o $(LIB_A)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(LIB_A) $(LIB_LIBS) -ljansson

$(TOML_RUNNER): $(BUILD)/obj/tests/toml/runner.o
	$(CC) $(LDFLAGS_EXE) -o $@ $< -ljansson

$(TOML_PERF): $(BUILD)/obj/tests/toml/perf.o $(TOML_BUILD_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(TOML_BUILD_OBJ) $(LIB_A) $(LIB_LIBS)

# The reader's hot loops are spread over several objects, so their speed
# (parse_mb_s) would depend on where the linker happens to place them;
# functions and loops on cache-line boundaries take that chance away.
$(BUILD)/obj/src/toml_%.o: private CFLAGS_ALL += -falign-functions=64 -falign-loops=32

# Calls to malloc/calloc/realloc/mmap from the test and the library go
# through __wrap_* in test_toml.c, which can fail the N-th one.
$(BUILD)/tests/test_toml: private LDFLAGS_EXE += \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=mmap
