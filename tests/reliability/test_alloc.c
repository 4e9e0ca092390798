/* SPDX-License-Identifier: ISC */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* ---------------------------------------------------------------------- */
/* The wrappers.                                                          */
/* ---------------------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
char *__real_strdup(const char *s);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

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
        tu_die("too many live blocks");
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

/* Is this the allocation to fail?  Then errno is ENOMEM. */
static bool should_fail(void)
{
    if (alloc.fail_at == 0) {
        return false;
    }
    if (++alloc.count == alloc.fail_at) {
        alloc.fired = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

static void *tracked(void *p)
{
    track(p);
    return p;
}

void *__wrap_malloc(size_t size)
{
    return should_fail() ? NULL : tracked(__real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : tracked(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t size)
{
    if (should_fail()) {
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
    return should_fail() ? NULL : tracked(__real_strdup(s));
}

/* The store's text and the TOML arena's big chunks come from mmap(): they
 * can fail like any allocation.  (Not tracked: a mapping is given back in
 * pieces, and the library's munmap calls are few and checked by review.) */
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return should_fail() ? MAP_FAILED : __real_mmap(addr, len, prot, flags, fd, off);
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

/* What is specific to this suite: issue and redeem ask for the record,
 * the bind refuses with 1, and bob is revoked. */
static const tu_op_ctx ctx0 = {.want_record = true, .refusal = 1, .revokee = "bob"};

typedef struct scenario {
    const char *name;
    tu_op_fn run;
    bool random_hash;  /* new version holds a freshly issued hash */
    bool two_phase;    /* reserved while bind runs */
    pairtok_status ok; /* status of a fault-free run */
} scenario;

static const scenario scenarios[] = {
    {"issue", tu_op_issue, true, false, PAIRTOK_OK},
    {"redeem", tu_op_redeem, false, false, PAIRTOK_OK},
    {"redeem-bind", tu_op_redeem_bind, false, true, PAIRTOK_OK},
    {"redeem-bind-abort", tu_op_redeem_abort, false, true, PAIRTOK_EABORTED},
    {"revoke-id", tu_op_revoke_id, false, false, PAIRTOK_OK},
    {"revoke-principal", tu_op_revoke_principal, false, false, PAIRTOK_OK},
    {"prune", tu_op_prune, false, false, PAIRTOK_OK},
    {"save", tu_op_save, false, false, PAIRTOK_OK},
    {"load", tu_op_load, false, false, PAIRTOK_OK},
    {"list", tu_op_list, false, false, PAIRTOK_OK},
    {"check", tu_op_check, false, false, PAIRTOK_OK},
};

/* ---------------------------------------------------------------------- */
/* The loop.                                                              */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    const scenario *sc; /* NULL for store_open */
    tu_site site;
    tu_blob old;
} fixture;

/* *state comes in as the test's scenario (its initial_state). */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->sc = *state;
    tu_site_init(&f->site, "alloc", NULL);
    f->old = tu_base_blob();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_site_free(&f->site);
    tu_blob_free(&f->old);
    free(f);
    return 0;
}

static tu_blob current(const fixture *f, const scenario *sc)
{
    return tu_read_file_masked(f->site.path, sc->random_hash);
}

static void reset(const fixture *f)
{
    tu_empty_dir(f->site.root);
    tu_restore_file(f->site.path, &f->old, 0600);
}

/* The new version: a fault-free run on a fresh copy; and, for two-phase
 * redeem, the reserved one (what a failing bind leaves when releasing
 * fails is the reserved version, too). */
static tu_blob reference(const fixture *f, const scenario *sc)
{
    reset(f);
    pairtok_store *s = tu_open(&f->site);
    pairtok_error err;
    tu_op_ctx c = ctx0;
    pairtok_status st = sc->run(s, &c, &err);
    if (st != sc->ok) {
        fail_msg("%s: reference: %d %s", sc->name, st, err.message);
    }
    pairtok_store_close(s);
    return current(f, sc);
}

static bool one_run(fixture *f, const scenario *sc, const tu_blob *fresh, unsigned long n,
                    bool warm, unsigned long *failures)
{
    reset(f);
    size_t blocks = live_count;
    pairtok_store *s = tu_open(&f->site);
    pairtok_error err;
    if (warm) {
        pairtok_record_list list = {0};
        assert_int_equal(pairtok_list_at(s, NULL, &list, TU_T0, &err), PAIRTOK_OK);
        pairtok_record_list_free(&list);
    }
    tu_op_ctx c = ctx0;
    arm(n);
    pairtok_status st = sc->run(s, &c, &err);
    bool fired = alloc.fired;
    arm(0);

    tu_blob now = current(f, sc);
    bool succeeded = tu_op_succeeded(st, sc->ok, &err);
    bool failed = fired && !succeeded;
    if (!failed) {
        if (!succeeded || !tu_blob_eq(&now, fresh)) {
            fail_msg("%s: allocation %lu%s: status %d (%s), or not the new version", sc->name, n,
                     fired ? " failed but was tolerated" : "", st, err.message);
        }
    } else {
        (*failures)++;
        pairtok_status want = tu_op_failed_status(sc->ok, &c, PAIRTOK_ENOMEM);
        if (st != want || err.code != want || strstr(err.message, "out of memory") == NULL) {
            fail_msg("%s: allocation %lu failed: status %d, want %d: %s", sc->name, n, st, want,
                     err.message);
        }
        bool unchanged = tu_blob_eq(&now, &f->old);
        bool reserved = now.exists && strstr(now.data, "reserved_at_epoch") != NULL;
        if (!(unchanged || (sc->two_phase && c.bind.calls > 0 && reserved))) {
            fail_msg("%s: allocation %lu failed and the store changed:\n%s", sc->name, n, now.data);
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
    tu_blob_free(&now);
    if (tu_count_temps(f->site.root, "pair-tokens.toml") != 0 || !tu_lock_is_free(f->site.lock)) {
        fail_msg("%s: allocation %lu: temp file left or lock held", sc->name, n);
    }
    if (failed) {
        /* Retry on the same handle. */
        tu_op_ctx again = ctx0;
        st = sc->run(s, &again, &err);
        now = current(f, sc);
        if (st != sc->ok || !tu_blob_eq(&now, fresh)) {
            fail_msg("%s: retry after allocation %lu failed: %d %s", sc->name, n, st, err.message);
        }
        tu_blob_free(&now);
    }
    pairtok_store_close(s);
    if (live_count != blocks) {
        fail_msg("%s: allocation %lu failing%s leaked %zd block(s)", sc->name, n,
                 warm ? " (warm handle)" : "", (ssize_t)live_count - (ssize_t)blocks);
    }
    return fired;
}

static void test_scenario(void **state)
{
    fixture *f = *state;
    const scenario *sc = f->sc;
    tu_blob fresh = reference(f, sc);
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
    if (failures == 0 && sc->run != tu_op_check) {
        fail_msg("%s: no allocation to fail", sc->name);
    }
    tu_blob_free(&fresh);
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
        pairtok_status st = pairtok_store_open(f->site.path, NULL, &s, &err);
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

#define NSCEN (sizeof scenarios / sizeof scenarios[0])
_Static_assert(NSCEN == 11, "one T() per scenario");

#define T(i, name)                                                                                 \
    {                                                                                              \
        name ": every allocation fails once", test_scenario, setup, teardown,                      \
            (void *)&scenarios[i]                                                                  \
    }

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
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
