# SPDX-License-Identifier: ISC
# TOML reader/writer tooling: the toml-test decoder and runner (run by
# `make check` over $TOML_TEST_DIR, else ../shared/toml-test; skipped when
# neither exists, failed then under CI), the runner's own test, a
# throughput tool that is built but not run, and the allocator wrapping
# that lets test_toml fail the N-th allocation.

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

$(TOML_PERF): $(BUILD)/obj/tests/toml/perf.o $(LIB_A)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(LIB_A) $(LIB_LIBS)

# Calls to malloc/calloc/realloc/mmap from the test and the library go
# through __wrap_* in test_toml.c, which can fail the N-th one.
$(BUILD)/tests/test_toml: private LDFLAGS_EXE += \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=mmap
