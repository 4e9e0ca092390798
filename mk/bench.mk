# SPDX-License-Identifier: ISC
# bench.mk - the pairtok-bench latency benchmark and `make bench`, which
# runs it for several store sizes and writes bench/results.md and
# bench/latency.png.  Included by the top-level Makefile.

BENCH_BIN := $(BUILD)/pairtok-bench

PROGRAMS += $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/obj/bench/pairtok-bench.o $(LIB_A)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(LIB_A) $(LIB_LIBS)

.PHONY: bench
bench: deps $(BENCH_BIN)
	scripts/bench $(BENCH_BIN) $(BUILD)/bench-tmp
