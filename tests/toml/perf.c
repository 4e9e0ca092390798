/* SPDX-License-Identifier: ISC */
/*
 * toml-perf - throughput and memory of the TOML reader and writer on a
 * generated pair-token store (built by make, not run by make check).
 *
 *   toml-perf [RECORDS [RUNS]]     defaults: 100000 records, 7 runs
 *
 * Prints the median parse and write throughput in MB/s (10^6 bytes per
 * second), by the wall clock and by CPU time (the machine may be shared),
 * and the memory the parsed tree holds (growth of the resident set over the
 * first parse): bytes per record and (input + tree) / input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "toml.h"
#include "toml_build.h"

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock and CPU time of one run: on a busy machine the wall clock
 * also counts the time other processes had the CPU. */
typedef struct stopwatch {
    double wall, cpu;
} stopwatch;

static stopwatch start(void)
{
    return (stopwatch){seconds(CLOCK_MONOTONIC), seconds(CLOCK_PROCESS_CPUTIME_ID)};
}

static stopwatch stop(stopwatch t0)
{
    return (stopwatch){seconds(CLOCK_MONOTONIC) - t0.wall,
                       seconds(CLOCK_PROCESS_CPUTIME_ID) - t0.cpu};
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

/* "name  W MB/s wall (ms), C MB/s CPU" from the median of each clock. */
static void report(const char *name, size_t bytes, const stopwatch *runs, int n)
{
    double wall[101], cpu[101];
    for (int i = 0; i < n; i++) {
        wall[i] = runs[i].wall;
        cpu[i] = runs[i].cpu;
    }
    double w = median(wall, n), c = median(cpu, n);
    printf("%-12s %7.1f MB/s wall (%.2f ms), %7.1f MB/s CPU (%.2f ms)\n", name,
           (double)bytes / w / 1e6, w * 1e3, (double)bytes / c / 1e6, c * 1e3);
}

/* Resident bytes of the process (the tree's arena chunks are mmap()ed, so
 * the malloc statistics alone would miss them). */
static size_t resident(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static int discard(const char *bytes, size_t len, void *ctx)
{
    (void)bytes;
    *(size_t *)ctx += len;
    return 0;
}

int main(int argc, char **argv)
{
    long records = argc > 1 ? atol(argv[1]) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (records <= 0 || runs <= 0 || runs > 101) {
        fprintf(stderr, "usage: toml-perf [RECORDS [RUNS]]\n");
        return 2;
    }
    size_t len;
    char *text = toml_gen_store((size_t)records, &len);
    if (text == NULL) {
        return 2;
    }
    stopwatch parse_s[101], write_s[101], alloc_s[101];
    toml_doc *doc = NULL;
    toml_error err;
    size_t tree_bytes = 0;
    for (int r = 0; r < runs; r++) {
        toml_free(doc);
        size_t before = resident();
        stopwatch t0 = start();
        if (toml_parse(text, len, &doc, &err) != 0) {
            fprintf(stderr, "%u:%u: %s\n", err.line, err.col, err.message);
            return 1;
        }
        parse_s[r] = stop(t0);
        if (r == 0) { /* later runs may reuse pages the allocator kept */
            tree_bytes = resident() - before;
        }
    }
    size_t written = 0;
    for (int r = 0; r < runs; r++) {
        stopwatch t0 = start();
        if (toml_write(doc, discard, &written) != 0) {
            return 1;
        }
        write_s[r] = stop(t0);
    }
    written /= (size_t)runs;
    char *out = NULL;
    size_t out_len = 0;
    for (int r = 0; r < runs; r++) {
        free(out);
        stopwatch t0 = start();
        if (toml_write_alloc(doc, &out, &out_len) != 0) {
            return 1;
        }
        alloc_s[r] = stop(t0);
    }
    toml_doc *again;
    if (toml_parse(out, out_len, &again, &err) != 0 ||
        !toml_equal(toml_root(doc), toml_root(again))) {
        fprintf(stderr, "round trip failed\n");
        return 1;
    }
    toml_free(again);
    printf("records %ld, input %zu bytes (%.1f per record), %d runs, medians:\n", records, len,
           (double)len / (double)records, runs);
    report("parse", len, parse_s, runs);
    report("write", written, write_s, runs);
    report("write_alloc", out_len, alloc_s, runs);
    printf("tree         %zu bytes, %.1f per record; (input + tree) / input = %.2f\n", tree_bytes,
           (double)tree_bytes / (double)records, (double)(len + tree_bytes) / (double)len);
    free(out);
    toml_free(doc);
    free(text);
    return 0;
}
