# SPDX-License-Identifier: ISC
# Fuzzing.  Every fuzz/fuzz_<name>.c is a libFuzzer harness whose seed
# corpus is fuzz/corpus/<name>/ (and dictionary fuzz/<name>.dict, if any).
#
#   make check      builds $(BUILD)/fuzz/replay_<name> with $(CC) (also in
#                   the ASan build) and replays the seed corpus through it
#   make fuzz-run   builds $(BUILD)/fuzz/fuzz_<name> with clang and
#                   -fsanitize=fuzzer,address,undefined and fuzzes each
#                   harness for FUZZ_SECONDS (default 60) in a copy of its
#                   corpus, $(BUILD)/fuzz/corpus-<name>/ (FUZZ_NAMES=toml for one)
#
# A harness that needs more libraries than the library's sets
# FUZZ_LIBS_<name> in its own fragment; one that needs test-support code
# sets FUZZ_SRCS_<name> (its sources, for fuzz_<name>) and makes
# replay_<name> depend on their objects and fuzz_<name> on the sources.

FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)

TEST_DEPS += $(FUZZ_REPLAYS)
TEST_CMDS += $(FUZZ_REPLAYS)

# The replay finds its corpus from its own name (replay_<name>).
$(BUILD)/fuzz/replay_%: $(BUILD)/obj/fuzz/fuzz_%.o $(BUILD)/obj/fuzz/replay.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $(filter %.o,$^) $(LIB_A) $(LIB_LIBS) $(FUZZ_LIBS_$*)

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   ?=
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all $(CPPFLAGS_ALL)

FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB_SRCS) $(wildcard src/*.h include/*.h) | deps-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(LIB_SRCS) $(LIB_LIBS) $(FUZZ_LIBS_$*)

.PHONY: fuzz-build fuzz-run
fuzz-build: $(FUZZ_BINS)

fuzz-run: $(FUZZ_BINS)
	@set -e; for name in $(FUZZ_NAMES); do \
	    corpus=$(BUILD)/fuzz/corpus-$$name; \
	    mkdir -p $$corpus; \
	    if [ -d fuzz/corpus/$$name ]; then cp -R fuzz/corpus/$$name/. $$corpus/; fi; \
	    dict=""; \
	    if [ -f fuzz/$$name.dict ]; then dict=-dict=fuzz/$$name.dict; fi; \
	    echo "fuzzing $$name for $(FUZZ_SECONDS)s in $$corpus"; \
	    $(BUILD)/fuzz/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$name- \
	        $$dict $(FUZZ_FLAGS) $$corpus; \
	done
