/*
 * test_alloc.c - allocation-failure injection.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,
 * --wrap=strdup: every allocation made by libpairtok (and by this test)
 * goes through the __wrap_* functions below, which make the N-th one fail
 * and keep the set of live blocks.  For every operation and N = 1, 2, ...
 * until the operation makes fewer than N allocations: the status is
 * PAIRTOK_ENOMEM with "out of memory" in the message, the store is byte for
 * byte unchanged (two-phase redeem: reserved once bind ran - the documented
 * safe state), no temp file is left, the lock is free, a retry succeeds,
 * and - after the handle is closed - every block allocated since it was
 * opened has been freed (LeakSanitizer checks the same in the ASan build).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rel.h"

/* ---------------------------------------------------------------------- */
/* The wrappers.                                                          */
/* ---------------------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);

static struct {
    unsigned long fail_at; /* 0: never */
    unsigned long count;   /* allocations since armed */
    bool fired;
} alloc;

/* Live blocks: open addressing on the pointer, tombstones on removal. */
#define SLOTS (1u << 18)
#define TOMB ((void *)1)
static void *live[SLOTS];
static size_t live_count;

static size_t slot_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15u;
    return (size_t)(x >> 7) & (SLOTS - 1);
}

static void track(void *p)
{
    if (p == NULL) {
        return;
    }
    size_t i = slot_of(p);
    while (live[i] != NULL && live[i] != TOMB) {
        i = (i + 1) & (SLOTS - 1);
    }
    live[i] = p;
    live_count++;
    if (live_count > SLOTS / 2) {
        rt_die("too many live blocks");
    }
}

static void untrack(void *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = slot_of(p); live[i] != NULL; i = (i + 1) & (SLOTS - 1)) {
        if (live[i] == p) {
            live[i] = TOMB;
            live_count--;
            return;
        }
    }
    /* Not ours (allocated inside libc): nothing to track. */
}

static bool should_fail(void)
{
    if (alloc.fail_at == 0) {
        return false;
    }
    if (++alloc.count == alloc.fail_at) {
        alloc.fired = true;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t size)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(size);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(n, size);
    track(p);
    return p;
}

void *__wrap_realloc(void *p, size_t size)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __real_realloc(p, size);
    if (q != NULL || size == 0) {
        untrack(p);
        track(q);
    }
    return q;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = __real_strdup(s);
    track(p);
    return p;
}

static void arm(unsigned long n)
{
    alloc.fail_at = n;
    alloc.count = 0;
    alloc.fired = false;
}

/* ---------------------------------------------------------------------- */
/* Scenarios.                                                             */
/* ---------------------------------------------------------------------- */

typedef struct run_ctx {
    int bind_calls;
} run_ctx;

typedef pairtok_status (*run_fn)(pairtok_store *s, run_ctx *c, pairtok_error *err);

typedef struct scenario {
    const char *name;
    run_fn run;
    bool random_hash;   /* new version holds a freshly issued hash */
    bool two_phase;     /* reserved while bind runs */
    pairtok_status ok;  /* status of a fault-free run */
} scenario;

static int bind_ok(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    ((run_ctx *)ctx)->bind_calls++;
    return 0;
}

static int bind_refuse(const pairtok_record *rec, void *ctx)
{
    bind_ok(rec, ctx);
    return 1;
}

static pairtok_status run_issue(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_record rec;
    pairtok_status st = pairtok_issue_at(s, "alice", "new phone", 300, token, &rec, RT_T0, err);
    if (st == PAIRTOK_OK) {
        if (rec.label == NULL || strcmp(rec.label, "new phone") != 0) {
            fail_msg("issue: record_out label");
        }
    } else if (token[0] != '\0' || rec.label != NULL) {
        fail_msg("failed issue left output");
    }
    pairtok_record_clear(&rec);
    return st;
}

static pairtok_status run_redeem(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record rec;
    pairtok_status st = pairtok_redeem_at(s, rt_tokens[0], NULL, NULL, &rec, RT_T0, err);
    if (st == PAIRTOK_OK && (rec.label == NULL || strcmp(rec.principal, "alice") != 0)) {
        fail_msg("redeem: record_out");
    }
    pairtok_record_clear(&rec);
    return st;
}

static pairtok_status run_redeem_bind(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    return pairtok_redeem_at(s, rt_tokens[0], bind_ok, c, NULL, RT_T0, err);
}

static pairtok_status run_redeem_abort(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    return pairtok_redeem_at(s, rt_tokens[0], bind_refuse, c, NULL, RT_T0, err);
}

static pairtok_status run_revoke_id(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t removed;
    char id[13];
    memcpy(id, rt_hash_of(1), 12);
    id[12] = '\0';
    return pairtok_revoke_id(s, id, &removed, err);
}

static pairtok_status run_revoke_principal(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t removed;
    return pairtok_revoke_principal(s, "bob", &removed, err);
}

static pairtok_status run_prune(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t removed;
    return pairtok_prune_at(s, &removed, RT_T0, err);
}

static pairtok_status run_save(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    char label[] = "bob's tablet";
    pairtok_record items[2] = {
        {.expires_at_epoch = RT_T0 + 3000, .issued_at_epoch = RT_T0 - 100, .label = label},
        {.expires_at_epoch = RT_T0 + 60, .issued_at_epoch = RT_T0},
    };
    strcpy(items[0].token_hash, rt_hash_of(1));
    strcpy(items[0].principal, "bob");
    strcpy(items[1].token_hash, rt_hash_of(3));
    strcpy(items[1].principal, "dave");
    pairtok_record_list list = {items, 2, 2};
    return pairtok_store_save(s, &list, err);
}

static pairtok_status run_load(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_store_load(s, &list, err);
    if ((st == PAIRTOK_OK) != (list.count == 3)) {
        fail_msg("load: status %d with %zu records", st, list.count);
    }
    pairtok_record_list_free(&list);
    return st;
}

static pairtok_status run_list(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_list_at(s, NULL, &list, RT_T0, err);
    if ((st == PAIRTOK_OK) != (list.count == 2)) {
        fail_msg("list: status %d with %zu records", st, list.count);
    }
    pairtok_record_list_free(&list);
    return st;
}

static pairtok_status run_check(pairtok_store *s, run_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t problems;
    pairtok_status st = pairtok_check_at(s, NULL, NULL, &problems, RT_T0, err);
    if (st == PAIRTOK_OK && problems != 0) {
        fail_msg("check: %zu problems", problems);
    }
    return st;
}

static const scenario scenarios[] = {
    {"issue", run_issue, true, false, PAIRTOK_OK},
    {"redeem", run_redeem, false, false, PAIRTOK_OK},
    {"redeem-bind", run_redeem_bind, false, true, PAIRTOK_OK},
    {"redeem-bind-abort", run_redeem_abort, false, true, PAIRTOK_EABORTED},
    {"revoke-id", run_revoke_id, false, false, PAIRTOK_OK},
    {"revoke-principal", run_revoke_principal, false, false, PAIRTOK_OK},
    {"prune", run_prune, false, false, PAIRTOK_OK},
    {"save", run_save, false, false, PAIRTOK_OK},
    {"load", run_load, false, false, PAIRTOK_OK},
    {"list", run_list, false, false, PAIRTOK_OK},
    {"check", run_check, false, false, PAIRTOK_OK},
};

/* ---------------------------------------------------------------------- */
/* The loop.                                                              */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    char *root;
    char path[PAIRTOK_PATH_MAX];
    char lock[PAIRTOK_PATH_MAX + 8];
    rt_blob old;
    const char *known[RT_NTOK];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->root = rt_mkdtemp("alloc");
    snprintf(f->path, sizeof f->path, "%s/pair-tokens.toml", f->root);
    snprintf(f->lock, sizeof f->lock, "%s.lock", f->path);
    f->old.exists = true;
    f->old.data = rt_base_store();
    f->old.len = strlen(f->old.data);
    for (size_t i = 0; i < RT_NTOK; i++) {
        f->known[i] = rt_hash_of(i);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rt_rm_tree(f->root);
    free(f->root);
    rt_blob_free(&f->old);
    free(f);
    return 0;
}

static rt_blob current(const fixture *f, const scenario *sc)
{
    rt_blob b = rt_read(f->path);
    if (b.exists && sc->random_hash) {
        rt_mask_unknown_hashes(b.data, b.len, f->known, RT_NTOK);
    }
    return b;
}

static void reset(const fixture *f)
{
    rt_empty_dir(f->root);
    rt_restore(f->path, &f->old, 0600);
}

/* The new version: a fault-free run on a fresh copy; and, for two-phase
 * redeem, the reserved one (what a failing bind leaves when releasing
 * fails is the reserved version, too). */
static rt_blob reference(const fixture *f, const scenario *sc)
{
    reset(f);
    pairtok_store *s;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(f->path, NULL, &s, &err), PAIRTOK_OK);
    run_ctx c = {0};
    pairtok_status st = sc->run(s, &c, &err);
    if (st != sc->ok) {
        fail_msg("%s: reference: %d %s", sc->name, st, err.message);
    }
    pairtok_store_close(s);
    return current(f, sc);
}

static bool one_run(fixture *f, const scenario *sc, const rt_blob *fresh, unsigned long n,
                    bool warm, unsigned long *failures)
{
    reset(f);
    size_t blocks = live_count;
    pairtok_store *s = NULL;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(f->path, NULL, &s, &err), PAIRTOK_OK);
    if (warm) {
        pairtok_record_list list = {0};
        assert_int_equal(pairtok_list_at(s, NULL, &list, RT_T0, &err), PAIRTOK_OK);
        pairtok_record_list_free(&list);
    }
    run_ctx c = {0};
    arm(n);
    pairtok_status st = sc->run(s, &c, &err);
    bool fired = alloc.fired;
    arm(0);

    rt_blob now = current(f, sc);
    /* A refused bind is EABORTED either way; the message tells whether
     * releasing the token worked. */
    bool succeeded = st == sc->ok && (st != PAIRTOK_EABORTED ||
                                      strstr(err.message, "still redeemable") != NULL);
    bool failed = fired && !succeeded;
    if (!failed) {
        if (!succeeded || !rt_blob_eq(&now, fresh)) {
            fail_msg("%s: allocation %lu%s: status %d (%s), or not the new version", sc->name, n,
                     fired ? " failed but was tolerated" : "", st, err.message);
        }
    } else {
        (*failures)++;
        pairtok_status want = sc->ok == PAIRTOK_EABORTED && c.bind_calls > 0 ? PAIRTOK_EABORTED
                                                                              : PAIRTOK_ENOMEM;
        if (st != want || err.code != want || strstr(err.message, "out of memory") == NULL) {
            fail_msg("%s: allocation %lu failed: status %d, want %d: %s", sc->name, n, st, want,
                     err.message);
        }
        bool unchanged = rt_blob_eq(&now, &f->old);
        bool reserved = now.exists && strstr(now.data, "reserved_at_epoch") != NULL;
        if (!(unchanged || (sc->two_phase && c.bind_calls > 0 && reserved))) {
            fail_msg("%s: allocation %lu failed and the store changed:\n%s", sc->name, n,
                     now.data);
        }
        if (!unchanged) {
            /* Reserved after bind ran: a retry is refused, as it must be. */
            pairtok_status again = sc->run(s, &c, &err);
            if (again != PAIRTOK_EDENIED) {
                fail_msg("%s: reserved token redeemable again: %d", sc->name, again);
            }
            reset(f);
        }
    }
    rt_blob_free(&now);
    if (rt_count_temps(f->root, "pair-tokens.toml") != 0 || !rt_lock_is_free(f->lock)) {
        fail_msg("%s: allocation %lu: temp file left or lock held", sc->name, n);
    }
    if (failed) {
        /* Retry on the same handle. */
        run_ctx again = {0};
        st = sc->run(s, &again, &err);
        now = current(f, sc);
        if (st != sc->ok || !rt_blob_eq(&now, fresh)) {
            fail_msg("%s: retry after allocation %lu failed: %d %s", sc->name, n, st,
                     err.message);
        }
        rt_blob_free(&now);
    }
    pairtok_store_close(s);
    if (live_count != blocks) {
        fail_msg("%s: allocation %lu failing%s leaked %zd block(s)", sc->name, n,
                 warm ? " (warm handle)" : "", (ssize_t)live_count - (ssize_t)blocks);
    }
    return fired;
}

static void test_scenario(void **state, const scenario *sc)
{
    fixture *f = *state;
    rt_blob fresh = reference(f, sc);
    unsigned long failures = 0, n;
    for (int warm = 0; warm < 2; warm++) {
        for (n = 1; one_run(f, sc, &fresh, n, warm, &failures); n++) {
            if (n > 100000) {
                fail_msg("%s: too many allocations", sc->name);
            }
        }
        print_message("# %s (%s handle): %lu allocations, every one failed once\n", sc->name,
                      warm ? "warm" : "cold", n - 1);
    }
    if (failures == 0 && sc->run != run_check) {
        fail_msg("%s: no allocation to fail", sc->name);
    }
    rt_blob_free(&fresh);
}

static void test_open(void **state)
{
    fixture *f = *state;
    unsigned long n;
    for (n = 1;; n++) {
        size_t blocks = live_count;
        pairtok_store *s = (pairtok_store *)&n;
        pairtok_error err;
        arm(n);
        pairtok_status st = pairtok_store_open(f->path, NULL, &s, &err);
        bool fired = alloc.fired;
        arm(0);
        if (!fired) {
            assert_int_equal(st, PAIRTOK_OK);
            pairtok_store_close(s);
            break;
        }
        assert_int_equal(st, PAIRTOK_ENOMEM);
        assert_null(s);
        assert_non_null(strstr(err.message, "out of memory"));
        assert_int_equal(live_count, blocks);
    }
    print_message("# store_open: %lu allocation(s)\n", n - 1);
}

#define SCEN(i)                                                                                    \
    static void test_##i(void **state)                                                             \
    {                                                                                              \
        test_scenario(state, &scenarios[i]);                                                       \
    }
SCEN(0)
SCEN(1)
SCEN(2)
SCEN(3)
SCEN(4)
SCEN(5)
SCEN(6)
SCEN(7)
SCEN(8)
SCEN(9)
SCEN(10)
_Static_assert(sizeof scenarios / sizeof scenarios[0] == 11, "one SCEN() per scenario");

#define T(i, name) {name ": every allocation fails once", test_##i, setup, teardown, NULL}

int main(void)
{
    const struct CMUnitTest tests[] = {
        {"store_open: every allocation fails once", test_open, setup, teardown, NULL},
        T(0, "issue"),
        T(1, "redeem"),
        T(2, "redeem-bind"),
        T(3, "redeem-bind-abort"),
        T(4, "revoke-id"),
        T(5, "revoke-principal"),
        T(6, "prune"),
        T(7, "save"),
        T(8, "load"),
        T(9, "list"),
        T(10, "check"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
