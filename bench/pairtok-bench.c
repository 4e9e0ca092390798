/* SPDX-License-Identifier: ISC */
/*
 * pairtok-bench.c - latency of the pairtok store against the bare I/O floor.
 *
 *   pairtok-bench --dir DIR | --store LOCATION --tokens N --ops K [--clients C]
 *                 [--after-seed CMD] [--json] [--verbose]
 *
 * LOCATION is a store file or a postgresql:// URI (an empty store: the
 * caller makes a fresh schema for each run).  On a database there is no
 * I/O floor and no parse: issue and redeem use the plain forms (the
 * database's clock), and load and save are timed only up to 10,000
 * records (a 1,000,000-record save is the seed, timed once as seed_us).
 *
 * With --clients C, C processes, each with its own handle, then run K
 * issue + redeem pairs each, all at once, and "clients" and "ops_per_s"
 * (issues and redeems completed per second, all clients together) are
 * added to the result.
 *
 * Seeds DIR/pair-tokens.toml with N unexpired records (one
 * pairtok_store_save of a generated list), then measures, each as the median
 * of K samples:
 *
 *   load_us    pairtok_store_load on a fresh handle (no parsed-doc cache)
 *   save_us    pairtok_store_save of the N records, on one long-lived handle
 *   issue_us   pairtok_issue_at, K times, on that handle
 *   redeem_us  pairtok_redeem_at (no bind callback) of those K tokens
 *   floor_us   the bare I/O of one rewrite: open and read the whole store,
 *              write a temp file in DIR, fsync it, rename it, fsync DIR
 *   parse      the internal TOML parser on the file's bytes, run as the store
 *              runs it (toml_parse_harvest, records dropped once read)
 *
 * Every operation sample is paired with a floor sample, the two taken back
 * to back in alternating order, so page-cache and device drift hit both
 * alike; floor_us is the median of all the floor samples.  The floor renames
 * its temp file to DIR/floor.toml rather than over the store: replacing the
 * store's inode would defeat the handle's cache and make the benchmark
 * measure itself.  It copies through a small buffer, and the store is
 * seeded in a child process, so that peak_rss_kb (getrusage ru_maxrss) is
 * what the measured library calls needed, not the benchmark's own setup.
 *
 * --after-seed CMD runs CMD with the shell once the store is seeded and
 * before anything is measured, and the run stops if it fails: for a
 * database, a VACUUM ANALYZE and a CHECKPOINT, so that every size is
 * measured in the same settled state rather than against the autovacuum
 * and checkpoint that a big seed sets off.
 *
 * --verbose prints each phase's median and the peak RSS so far on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "pairtok.h"
#include "toml.h"

/* The seed spreads its records over at least PRINCIPALS principals and
 * puts at most TOKENS_PER_PRINCIPAL on each (half the default cap): a
 * principal holds a few tokens however big the store is, as under a real
 * per-principal cap, so what grows with N is the store, not the rows an
 * issue's per-principal count has to visit. */
#define PRINCIPALS 997u
#define TOKENS_PER_PRINCIPAL 8u
#define SEED_TTL_SECS 3600u
#define MAX_TOKENS 10000000ull
#define MAX_OPS 100000ull

typedef struct bench {
    const char *dir;
    const char *location;   /* --store; else dir/pair-tokens.toml */
    const char *after_seed; /* --after-seed: a shell command, or NULL */
    bool database;          /* a postgresql:// location */
    size_t clients;
    size_t n;
    size_t k;
    size_t principals; /* user0 .. user<principals - 1> */
    bool json;
    bool verbose; /* per-phase progress and peak RSS on stderr */
    char store_path[PAIRTOK_PATH_MAX];
    char floor_tmp[PAIRTOK_PATH_MAX];
    char floor_path[PAIRTOK_PATH_MAX];
    pairtok_options opts;
    double *floors; /* every floor sample, 4 * k of them */
    size_t nfloors;
} bench;

typedef struct results {
    long long file_bytes;
    double load_us, save_us, issue_us, redeem_us, floor_us, parse_us, seed_us;
    double ops_per_s;
    long peak_rss_kb;
} results;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pairtok-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void check(pairtok_status st, const pairtok_error *err, const char *what)
{
    if (st != PAIRTOK_OK) {
        die("%s: %s (%s)", what, err->message, pairtok_strerror(st));
    }
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of `v` (sorted in place). */
static double median(double *v, size_t n)
{
    if (n == 0) {
        return 0.0;
    }
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static size_t parse_size(const char *flag, const char *text, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v == 0 || v > max) {
        die("%s: expected an integer from 1 to %llu, got '%s'", flag, max, text);
    }
    return (size_t)v;
}

static void usage(void)
{
    fputs("usage: pairtok-bench --dir DIR | --store LOCATION --tokens N --ops K [--clients C]\n"
          "                     [--after-seed CMD] [--json] [--verbose]\n",
          stderr);
    exit(2);
}

static bool is_database(const char *location)
{
    return strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0;
}

/* The store, and for a file store the floor's files beside it. */
static void name_files(bench *b)
{
    b->database = b->location != NULL && is_database(b->location);
    if (b->database) {
        if (strlen(b->location) >= sizeof b->store_path) {
            die("--store: too long");
        }
        strcpy(b->store_path, b->location);
        return;
    }
    static char dir[PAIRTOK_PATH_MAX];
    if (b->location != NULL) {
        snprintf(dir, sizeof dir, "%s", b->location);
        char *slash = strrchr(dir, '/');
        if (slash == NULL || strcmp(slash, "/pair-tokens.toml") != 0) {
            die("--store: a file store must be DIR/pair-tokens.toml");
        }
        *slash = '\0';
        b->dir = dir;
    }
    int w1 = snprintf(b->store_path, sizeof b->store_path, "%s/pair-tokens.toml", b->dir);
    int w2 = snprintf(b->floor_tmp, sizeof b->floor_tmp, "%s/.floor.tmp", b->dir);
    int w3 = snprintf(b->floor_path, sizeof b->floor_path, "%s/floor.toml", b->dir);
    if (w1 < 0 || w2 < 0 || w3 < 0 || (size_t)w1 >= sizeof b->store_path ||
        (size_t)w2 >= sizeof b->floor_tmp || (size_t)w3 >= sizeof b->floor_path) {
        die("--dir: path too long");
    }
}

static size_t ceil_div(size_t a, size_t b)
{
    return a / b + (a % b != 0);
}

/* Caps the run never reaches, and no more than it needs per principal.
 * Per principal: its share of the seed and of the K issues (all issued
 * before any is redeemed) and one more; a client of --clients has a
 * principal of its own and one token at a time.  In total: twice what the
 * run ever holds, and then some, so that the PostgreSQL backend, whose
 * bound on the total only grows until it recounts (and which keeps a
 * margin of one token per possible server connection), stays far from
 * the cap: near it every issue would count the whole table exactly, a
 * path the benchmark does not set out to measure. */
static void set_caps(bench *b)
{
    b->principals = ceil_div(b->n, TOKENS_PER_PRINCIPAL);
    if (b->principals < PRINCIPALS) {
        b->principals = PRINCIPALS;
    }
    size_t per = ceil_div(b->n, b->principals) + ceil_div(b->k, b->principals) + 1;
    uint64_t held = (uint64_t)b->n + (uint64_t)b->k * (b->clients + 1) + b->clients;
    uint64_t total = 2 * held + 100000;
    b->opts.max_per_principal = (uint32_t)per;
    b->opts.max_total = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

static void parse_args(bench *b, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            b->json = true;
        } else if (strcmp(a, "--verbose") == 0) {
            b->verbose = true;
        } else if (i + 1 < argc && strcmp(a, "--dir") == 0) {
            b->dir = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--store") == 0) {
            b->location = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--after-seed") == 0) {
            b->after_seed = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--clients") == 0) {
            b->clients = parse_size(a, argv[++i], 256);
        } else if (i + 1 < argc && strcmp(a, "--tokens") == 0) {
            b->n = parse_size(a, argv[++i], MAX_TOKENS);
        } else if (i + 1 < argc && strcmp(a, "--ops") == 0) {
            b->k = parse_size(a, argv[++i], MAX_OPS);
        } else {
            usage();
        }
    }
    if ((b->dir == NULL) == (b->location == NULL) || b->n == 0 || b->k == 0) {
        usage();
    }
    name_files(b);
    set_caps(b);
    /* Clients that never pause starve each other on a polled flock (the
     * kernel has no queue for LOCK_NB): give them time rather than fail. */
    b->opts.lock_timeout_ms = 600000;
}

/* ---------------------------------------------------------------------- */
/* The I/O floor.                                                         */
/* ---------------------------------------------------------------------- */

/* The whole file in a buffer of its own pages (release with unmap_buffer).
 * Not malloc: freeing a big malloc block raises glibc's mmap threshold,
 * and the benchmark's own buffers would then change how the library's
 * memory is laid out and the peak RSS it is charged with. */
static void read_file(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        die("%s: %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    char *data =
        mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) {
        die("out of memory");
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            die("%s: read: %s", path, r < 0 ? strerror(errno) : "short file");
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = data;
    *len = got;
}

static void unmap_buffer(char *buf, size_t len)
{
    munmap(buf, len ? len : 1);
}

static void write_all(int fd, const char *data, size_t len, const char *path)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            die("%s: write: %s", path, w < 0 ? strerror(errno) : "no progress");
        }
        data += w;
        len -= (size_t)w;
    }
}

/* One rewrite's worth of I/O with no parsing or formatting: what any
 * implementation of the store's write path must pay at least.  The file is
 * copied through a small buffer, so the floor adds nothing to the peak RSS
 * charged to the library. */
static double floor_once(bench *b)
{
    static char chunk[1 << 20];
    double t0 = now_us();
    int in = open(b->store_path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        die("%s: %s", b->store_path, strerror(errno));
    }
    int out = open(b->floor_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        die("%s: %s", b->floor_tmp, strerror(errno));
    }
    for (;;) {
        ssize_t r = read(in, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            die("%s: read: %s", b->store_path, strerror(errno));
        }
        if (r == 0) {
            break;
        }
        write_all(out, chunk, (size_t)r, b->floor_tmp);
    }
    close(in);
    if (fsync(out) != 0 || close(out) != 0) {
        die("%s: fsync/close: %s", b->floor_tmp, strerror(errno));
    }
    if (rename(b->floor_tmp, b->floor_path) != 0) {
        die("%s: rename: %s", b->floor_tmp, strerror(errno));
    }
    int dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        die("%s: fsync: %s", b->dir, strerror(errno));
    }
    close(dfd);
    double t = now_us() - t0;
    b->floors[b->nfloors++] = t;
    return t;
}

/* ---------------------------------------------------------------------- */
/* Phases.                                                                */
/* ---------------------------------------------------------------------- */

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void progress(const bench *b, const char *phase, double median_us)
{
    if (b->verbose) {
        fprintf(stderr, "pairtok-bench: %-8s median %12.1f us, peak RSS so far %ld KiB\n", phase,
                median_us, peak_rss_kb());
    }
}

static pairtok_store *open_store(const bench *b)
{
    pairtok_store *s;
    pairtok_error err;
    check(pairtok_store_open(b->store_path, &b->opts, &s, &err), &err, "open");
    return s;
}

/* N unexpired records with hashes of fresh random tokens, saved at once. */
static void seed_records(const bench *b, uint64_t now)
{
    pairtok_record_list list = {xcalloc(b->n, sizeof(pairtok_record)), 0, b->n, NULL};
    for (size_t i = 0; i < b->n; i++) {
        pairtok_record *r = &list.items[list.count++];
        char token[PAIRTOK_TOKEN_LEN + 1];
        if (pairtok_generate_token(token) != 0) {
            die("the CSPRNG failed");
        }
        pairtok_hash_token(token, r->token_hash);
        sodium_memzero(token, sizeof token);
        snprintf(r->principal, sizeof r->principal, "user%zu", i % b->principals);
        char label[32];
        int len = snprintf(label, sizeof label, "device %zu", i);
        r->label = xcalloc((size_t)len + 1, 1);
        memcpy(r->label, label, (size_t)len);
        r->issued_at_epoch = now;
        r->expires_at_epoch = now + SEED_TTL_SECS;
    }
    pairtok_store *s = open_store(b);
    pairtok_error err;
    check(pairtok_store_save(s, &list, &err), &err, "seed");
    pairtok_store_close(s);
    pairtok_record_list_free(&list);
}

/* Seed in a child process: setting up is not measured, and the memory it
 * takes (the generated list and the document built from it) must not count
 * in the peak RSS of the run, nor shape the heap the measured calls use. */
static void seed(const bench *b, uint64_t now)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        seed_records(b, now);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            die("waitpid: %s", strerror(errno));
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die("seeding the store failed");
    }
}

/* --after-seed's command, not part of seed_us. */
static void settle(const bench *b)
{
    if (b->after_seed == NULL) {
        return;
    }
    fflush(NULL);
    int rc = system(b->after_seed);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        die("--after-seed: '%s' failed", b->after_seed);
    }
}

/* toml_parse alone, on the file's bytes.  A sample runs the parser enough
 * times to cover about 1 MB, so small files are not lost in clock noise. */
/* The harvester of a parse that keeps no record: parsing alone, run the
 * way the store runs it (each record's memory reused for the next). */
static bool drop_record(toml_node *element, size_t index, void *ctx)
{
    (void)element;
    (void)index;
    (void)ctx;
    return false;
}

static double measure_parse(const bench *b)
{
    char *data;
    size_t len;
    read_file(b->store_path, &data, &len);
    size_t inner = len >= 1000000 ? 1 : 1000000 / (len ? len : 1) + 1;
    double *samples = xcalloc(b->k, sizeof *samples);
    for (size_t rep = 0; rep < b->k; rep++) {
        double t0 = now_us();
        for (size_t j = 0; j < inner; j++) {
            toml_doc *doc;
            toml_error terr;
            if (toml_parse_harvest(data, len, "pair_token", strlen("pair_token"), drop_record, NULL,
                                   &doc, &terr) != 0) {
                die("%s:%u:%u: %s", b->store_path, terr.line, terr.col, terr.message);
            }
            toml_free(doc);
        }
        samples[rep] = (now_us() - t0) / (double)inner;
    }
    double m = median(samples, b->k);
    free(samples);
    unmap_buffer(data, len);
    return m;
}

/* Operation samples.  Each times one call and nothing else. */
typedef struct op_ctx {
    pairtok_store *store;
    pairtok_record_list *list;
    char (*tokens)[PAIRTOK_TOKEN_LEN + 1];
} op_ctx;

typedef double (*sample_fn)(const bench *b, size_t rep, op_ctx *ctx);

/* A fresh handle, so no parsed document is cached: the load reads, parses
 * and validates the file.  Opening and closing are not timed. */
static double sample_load(const bench *b, size_t rep, op_ctx *ctx)
{
    (void)rep;
    pairtok_store *fresh = open_store(b);
    pairtok_error err;
    double t0 = now_us();
    pairtok_status st = pairtok_store_load(fresh, ctx->list, &err);
    double t = now_us() - t0;
    check(st, &err, "load");
    pairtok_store_close(fresh);
    if (ctx->list->count != b->n) {
        die("load: %zu records, expected %zu", ctx->list->count, b->n);
    }
    return t;
}

static double sample_save(const bench *b, size_t rep, op_ctx *ctx)
{
    (void)b;
    (void)rep;
    pairtok_error err;
    double t0 = now_us();
    pairtok_status st = pairtok_store_save(ctx->store, ctx->list, &err);
    double t = now_us() - t0;
    check(st, &err, "save");
    return t;
}

static double sample_issue(const bench *b, size_t rep, op_ctx *ctx)
{
    char principal[PAIRTOK_PRINCIPAL_MAX + 1], label[32];
    snprintf(principal, sizeof principal, "user%zu", (b->n + rep) % b->principals);
    snprintf(label, sizeof label, "bench %zu", rep);
    pairtok_error err;
    double t0 = now_us();
    pairtok_status st = pairtok_issue(ctx->store, principal, label, PAIRTOK_DEFAULT_EXPIRY_SECS,
                                      ctx->tokens[rep], NULL, &err);
    double t = now_us() - t0;
    check(st, &err, "issue");
    return t;
}

static double sample_redeem(const bench *b, size_t rep, op_ctx *ctx)
{
    (void)b;
    pairtok_error err;
    double t0 = now_us();
    pairtok_status st = pairtok_redeem(ctx->store, ctx->tokens[rep], NULL, NULL, NULL, &err);
    double t = now_us() - t0;
    check(st, &err, "redeem");
    return t;
}

/* K samples of `fn`, each paired with a floor sample taken right before or
 * right after it (alternately); the median of the K. */
static double measure(bench *b, const char *phase, sample_fn fn, op_ctx *ctx)
{
    double *t = xcalloc(b->k, sizeof *t);
    for (size_t rep = 0; rep < b->k; rep++) {
        if (rep % 2 == 1 && !b->database) {
            floor_once(b);
        }
        t[rep] = fn(b, rep, ctx);
        if (rep % 2 == 0 && !b->database) {
            floor_once(b);
        }
    }
    double m = median(t, b->k);
    free(t);
    progress(b, phase, m);
    return m;
}

/* Issue, then redeem, K times on one long-lived handle, as a host process
 * would hold it; every token issued is redeemed, so the store ends as it
 * was seeded. */
static void measure_issue_redeem(bench *b, results *res, op_ctx *ctx)
{
    ctx->tokens = xcalloc(b->k, sizeof *ctx->tokens);
    res->issue_us = measure(b, "issue", sample_issue, ctx);
    res->redeem_us = measure(b, "redeem", sample_redeem, ctx);
    sodium_memzero(ctx->tokens, b->k * sizeof *ctx->tokens);
    free(ctx->tokens);
    ctx->tokens = NULL;
}

/* The store holds the seed again: checked on a fresh handle once the
 * long-lived one is closed, so the check holds no more memory than a
 * measured load did. */
static void check_back_to_seed(const bench *b)
{
    pairtok_record_list list = {0};
    pairtok_error err;
    pairtok_store *check_store = open_store(b);
    check(pairtok_store_load(check_store, &list, &err), &err, "load (final)");
    pairtok_store_close(check_store);
    if (list.count != b->n) {
        die("final store has %zu records, expected %zu", list.count, b->n);
    }
    pairtok_record_list_free(&list);
}

static void run_file(bench *b, results *res)
{
    uint64_t now = pairtok_now_epoch();
    unlink(b->store_path);
    double t0 = now_us();
    seed(b, now);
    res->seed_us = now_us() - t0;
    settle(b);
    struct stat st;
    if (stat(b->store_path, &st) != 0) {
        die("%s: %s", b->store_path, strerror(errno));
    }
    res->file_bytes = (long long)st.st_size;
    progress(b, "seed", 0.0);
    res->parse_us = measure_parse(b);
    progress(b, "parse", res->parse_us);

    pairtok_error err;
    pairtok_record_list list = {0};
    op_ctx ctx = {NULL, &list, NULL};
    res->load_us = measure(b, "load", sample_load, &ctx);

    /* One untimed save first: a host's handle has long since read the file
     * when it serves requests. */
    ctx.store = open_store(b);
    check(pairtok_store_save(ctx.store, &list, &err), &err, "save (warm-up)");
    res->save_us = measure(b, "save", sample_save, &ctx);
    pairtok_record_list_free(&list);
    measure_issue_redeem(b, res, &ctx);
    pairtok_store_close(ctx.store);
    check_back_to_seed(b);
    unlink(b->floor_path);
    res->floor_us = median(b->floors, b->nfloors);
    res->peak_rss_kb = peak_rss_kb();
}

/* Connect a handle without reading the whole store: redeem a token that
 * was never issued. */
static void warm_up(pairtok_store *s)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    if (pairtok_generate_token(token) != 0) {
        die("the CSPRNG failed");
    }
    pairtok_error err;
    pairtok_status st = pairtok_redeem(s, token, NULL, NULL, NULL, &err);
    if (st != PAIRTOK_EDENIED) {
        die("warm-up: expected a refused redeem, got: %s (%s)", err.message, pairtok_strerror(st));
    }
}

/* A database: no floor and no parse; the seed is one save in one
 * transaction, timed once; load and save only while they stay small. */
static void run_database(bench *b, results *res)
{
    double t0 = now_us();
    seed(b, pairtok_now_epoch());
    res->seed_us = now_us() - t0;
    settle(b);
    progress(b, "seed", res->seed_us);
    pairtok_record_list list = {0};
    op_ctx ctx = {open_store(b), &list, NULL};
    if (b->n <= 10000) {
        pairtok_error err;
        check(pairtok_store_load(ctx.store, &list, &err), &err, "load (warm-up)");
        res->load_us = measure(b, "load", sample_load, &ctx);
        res->save_us = measure(b, "save", sample_save, &ctx);
    } else {
        warm_up(ctx.store);
    }
    pairtok_record_list_free(&list);
    measure_issue_redeem(b, res, &ctx);
    pairtok_store_close(ctx.store);
    if (b->n <= 10000) {
        check_back_to_seed(b);
    }
    res->peak_rss_kb = peak_rss_kb();
}

/* One issue + redeem pair on `s`, or the client dies. */
static void client_pair(pairtok_store *s, size_t id, const char *principal)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_error err;
    if (pairtok_issue(s, principal, NULL, PAIRTOK_DEFAULT_EXPIRY_SECS, token, NULL, &err) !=
            PAIRTOK_OK ||
        pairtok_redeem(s, token, NULL, NULL, NULL, &err) != PAIRTOK_OK) {
        fprintf(stderr, "pairtok-bench: client %zu: %s\n", id, err.message);
        _exit(1);
    }
    sodium_memzero(token, sizeof token);
}

/* Each client's pairs go to CLIENT_PRINCIPALS principals of its own, in
 * turn: about a thousand among 16 clients, as pgbench's pair script
 * spreads its rows over 997.  A pairing service sees many principals, each
 * pairing now and then; one principal per client instead would pile every
 * redeemed row of a client onto one key of the per-principal index, which
 * each issue's count then walks until vacuum clears it. */
#define CLIENT_PRINCIPALS 64u

/* One client of --clients: its own handle and principals; a warm-up pair
 * (connecting, preparing), then it says it is ready (closes `ready_fd`),
 * waits for the start (EOF on `start_fd`) and runs K pairs. */
static void client(const bench *b, size_t id, int ready_fd, int start_fd)
{
    pairtok_store *s = open_store(b);
    char principal[PAIRTOK_PRINCIPAL_MAX + 1];
    snprintf(principal, sizeof principal, "client%zu", id);
    client_pair(s, id, principal);
    close(ready_fd);
    char byte;
    if (read(start_fd, &byte, 1) != 0) {
        _exit(3);
    }
    for (size_t i = 0; i < b->k; i++) {
        snprintf(principal, sizeof principal, "client%zu_%zu", id, i % CLIENT_PRINCIPALS);
        client_pair(s, id, principal);
    }
    pairtok_store_close(s);
    _exit(0);
}

/* C clients at once: issues and redeems completed per second.  The clock
 * starts when the last client is ready (every warm-up done) and stops when
 * the last one finishes. */
static void run_clients(bench *b, results *res)
{
    int ready[2], start[2];
    if (pipe(ready) != 0 || pipe(start) != 0) {
        die("pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t *pids = xcalloc(b->clients, sizeof *pids);
    for (size_t c = 0; c < b->clients; c++) {
        if ((pids[c] = fork()) < 0) {
            die("fork: %s", strerror(errno));
        }
        if (pids[c] == 0) {
            close(ready[0]);
            close(start[1]);
            client(b, c, ready[1], start[0]);
        }
    }
    close(ready[1]);
    close(start[0]);
    char byte;
    while (read(ready[0], &byte, 1) > 0) {
    }
    double t0 = now_us();
    close(start[1]);
    int failed = 0;
    for (size_t c = 0; c < b->clients; c++) {
        int status;
        while (waitpid(pids[c], &status, 0) < 0 && errno == EINTR) {
        }
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double seconds = (now_us() - t0) / 1e6;
    free(pids);
    close(ready[0]);
    if (failed) {
        die("a client failed");
    }
    res->ops_per_s = (double)(2 * b->k * b->clients) / seconds;
    progress(b, "clients", seconds * 1e6);
}

static void run(bench *b, results *res)
{
    if (b->database) {
        run_database(b, res);
    } else {
        run_file(b, res);
    }
    if (b->clients > 0) {
        run_clients(b, res);
    }
}

/* ---------------------------------------------------------------------- */
/* Output.                                                                */
/* ---------------------------------------------------------------------- */

static double ratio(double a, double b)
{
    return b > 0.0 ? a / b : 0.0;
}

static double mb_s(long long bytes, double us)
{
    return us > 0.0 ? (double)bytes / us : 0.0; /* bytes per microsecond = MB/s */
}

static void print_json(const bench *b, const results *r)
{
    if (b->clients > 0) {
        printf("{\"impl\":\"pairtok\",\"store\":\"%s\",\"n\":%zu,\"k\":%zu,\"clients\":%zu,"
               "\"issue_us\":%.1f,\"redeem_us\":%.1f,\"seed_us\":%.1f,\"ops_per_s\":%.1f}\n",
               b->database ? "postgresql" : "file", b->n, b->k, b->clients, r->issue_us,
               r->redeem_us, r->seed_us, r->ops_per_s);
        return;
    }
    if (b->database) {
        printf("{\"impl\":\"pairtok\",\"store\":\"postgresql\",\"n\":%zu,\"k\":%zu,"
               "\"seed_us\":%.1f,\"load_us\":%.1f,\"save_us\":%.1f,\"issue_us\":%.1f,"
               "\"redeem_us\":%.1f,\"peak_rss_kb\":%ld}\n",
               b->n, b->k, r->seed_us, r->load_us, r->save_us, r->issue_us, r->redeem_us,
               r->peak_rss_kb);
        return;
    }
    printf("{\"impl\":\"pairtok\",\"n\":%zu,\"k\":%zu,\"file_bytes\":%lld,\"load_us\":%.1f,"
           "\"save_us\":%.1f,\"issue_us\":%.1f,\"redeem_us\":%.1f,\"floor_us\":%.1f,"
           "\"issue_vs_floor\":%.3f,\"redeem_vs_floor\":%.3f,\"parse_mb_s\":%.1f,"
           "\"peak_rss_kb\":%ld}\n",
           b->n, b->k, r->file_bytes, r->load_us, r->save_us, r->issue_us, r->redeem_us,
           r->floor_us, ratio(r->issue_us, r->floor_us), ratio(r->redeem_us, r->floor_us),
           mb_s(r->file_bytes, r->parse_us), r->peak_rss_kb);
}

static void print_table(const bench *b, const results *r)
{
    printf("pairtok-bench: %zu records, %lld bytes, medians of %zu samples\n\n", b->n,
           r->file_bytes, b->k);
    printf("  %-8s %12s %10s\n", "op", "median us", "vs floor");
    const struct {
        const char *name;
        double us;
    } rows[] = {{"floor", r->floor_us}, {"load", r->load_us},     {"save", r->save_us},
                {"issue", r->issue_us}, {"redeem", r->redeem_us}, {"parse", r->parse_us}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        printf("  %-8s %12.1f %9.2fx\n", rows[i].name, rows[i].us, ratio(rows[i].us, r->floor_us));
    }
    if (b->clients > 0) {
        printf("\n  %zu clients       %.0f issues and redeems per second\n", b->clients,
               r->ops_per_s);
    }
    printf("\n  parse throughput  %.1f MB/s\n", mb_s(r->file_bytes, r->parse_us));
    printf("  peak RSS          %ld KiB (%.2fx the file)\n", r->peak_rss_kb,
           ratio((double)r->peak_rss_kb * 1024.0, (double)r->file_bytes));
}

int main(int argc, char **argv)
{
    bench b = {0};
    parse_args(&b, argc, argv);
    if (sodium_init() < 0) {
        die("libsodium failed to initialise");
    }
    /* DIR is created (0700) by the seeding save, like any store's. */
    b.floors = xcalloc(4 * b.k, sizeof *b.floors);
    results r = {0};
    run(&b, &r);
    if (b.json) {
        print_json(&b, &r);
    } else {
        print_table(&b, &r);
    }
    free(b.floors);
    return 0;
}
