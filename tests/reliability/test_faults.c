/* SPDX-License-Identifier: ISC */
/*
 * test_faults.c - syscall fault injection.
 *
 * For every operation (issue, redeem with and without a bind callback,
 * revoke, prune, save, load, list) and every errno in {EIO, ENOSPC, EACCES,
 * EDQUOT}: make the N-th system call of the operation fail, for N = 1, 2,
 * ... until the operation no longer reaches an N-th call.  After each
 * failure:
 *   - the status is PAIRTOK_EIO (PAIRTOK_EABORTED once a failing bind was
 *     called), sys_errno is the injected errno, and the message names the
 *     failing call ("open", "write", "fsync", "rename", ...) and the path;
 *   - the store is byte for byte the old version, the new version, or (for
 *     two-phase redeem) the reserved version - and which one is exactly what
 *     the API promises for where the failure hit;
 *   - no temp file is left, the lock is free (a second handle with a 1 ms
 *     lock timeout gets it), no descriptor leaked;
 *   - a retry on the same handle (whose cache may be stale) succeeds.
 * Each loop runs on a cold handle (nothing cached) and on a warm one (the
 * handle's parsed-document cache is valid), since their call sequences
 * differ.  EINTR on read/write/flock and short reads/writes must be retried:
 * the operation succeeds and writes exactly the fault-free result.
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

#include "testutil.h"

#define MAX_CALLS 400

/* ---------------------------------------------------------------------- */
/* Scenarios.                                                             */
/* ---------------------------------------------------------------------- */

/* What is specific to this suite: no record asked for, the bind refuses
 * with -1, and alice is revoked. */
static const tu_op_ctx ctx0 = {.refusal = -1, .revokee = "alice"};

typedef struct scenario {
    const char *name;
    tu_op_fn run;
    bool new_dir;               /* old version: no directory, no file */
    bool two_phase;             /* has a reserved intermediate version */
    bool random_hash;           /* new version holds a freshly issued hash */
    pairtok_status ok;          /* status of a fault-free run */
    pairtok_status again;       /* status of a rerun on the new version */
    pairtok_status on_reserved; /* status of a rerun on the reserved version */
} scenario;

static const scenario scenarios[] = {
    {"issue", tu_op_issue, false, false, true, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
    {"issue-new-dir", tu_op_issue, true, false, true, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
    {"redeem", tu_op_redeem, false, false, false, PAIRTOK_OK, PAIRTOK_EDENIED, PAIRTOK_EDENIED},
    {"redeem-bind", tu_op_redeem_bind, false, true, false, PAIRTOK_OK, PAIRTOK_EDENIED,
     PAIRTOK_EDENIED},
    {"redeem-bind-abort", tu_op_redeem_abort, false, true, false, PAIRTOK_EABORTED,
     PAIRTOK_EABORTED, PAIRTOK_EDENIED},
    {"revoke-id", tu_op_revoke_id, false, false, false, PAIRTOK_OK, PAIRTOK_ENOTFOUND,
     PAIRTOK_ENOTFOUND},
    {"revoke-principal", tu_op_revoke_principal, false, false, false, PAIRTOK_OK, PAIRTOK_OK,
     PAIRTOK_OK},
    {"prune", tu_op_prune, false, false, false, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
    {"save", tu_op_save, false, false, false, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
    {"load", tu_op_load, false, false, false, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
    {"list", tu_op_list, false, false, false, PAIRTOK_OK, PAIRTOK_OK, PAIRTOK_OK},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

/* ---------------------------------------------------------------------- */
/* Fixture: a directory, the old version, and the reference versions.     */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    const scenario *sc;
    tu_site site;
    tu_blob old, fresh, reserved; /* reserved: two-phase only */
    /* statistics */
    unsigned long iterations, failures, tolerated;
} fixture;

/* Lay down the old version: the directory (unless the scenario starts
 * without one) and the store file. */
static void reset(fixture *f)
{
    tu_empty_dir(f->site.root);
    if (!f->sc->new_dir) {
        if (mkdir(f->site.dir, 0700) != 0) {
            fail_msg("mkdir %s: %s", f->site.dir, strerror(errno));
        }
        tu_restore_file(f->site.path, &f->old, 0600);
    }
}

/* The file, with freshly issued hashes masked when the scenario has one. */
static tu_blob current(const fixture *f)
{
    return tu_read_file_masked(f->site.path, f->sc->random_hash);
}

/* *state comes in as the test's scenario (its initial_state). */
static int setup(void **state)
{
    const scenario *sc = *state;
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->sc = sc;
    /* issue-new-dir starts without the directory and its parents. */
    tu_site_init(&f->site, "faults", sc->new_dir ? "w/a/b" : "w");
    if (!sc->new_dir) {
        f->old = tu_base_blob();
    }
    /* Reference run, without faults. */
    reset(f);
    pairtok_store *s = tu_open(&f->site);
    tu_op_ctx c = ctx0;
    c.bind.capture_path = f->site.path;
    pairtok_error err;
    pairtok_status st = sc->run(s, &c, &err);
    if (st != sc->ok) {
        fail_msg("%s: reference run: %d %s", sc->name, st, err.message);
    }
    pairtok_store_close(s);
    f->fresh = current(f);
    if (sc->two_phase) {
        assert_int_equal(c.bind.calls, 1);
        f->reserved = c.bind.captured;
        assert_true(f->reserved.exists);
        assert_non_null(strstr(f->reserved.data, "reserved_at_epoch"));
        assert_false(tu_blob_eq(&f->reserved, &f->old));
        assert_false(tu_blob_eq(&f->reserved, &f->fresh));
    } else {
        tu_blob_free(&c.bind.captured);
    }
    assert_true(f->fresh.exists);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    print_message("# %s: %lu iterations, %lu injected failures, %lu tolerated\n", f->sc->name,
                  f->iterations, f->failures, f->tolerated);
    tu_site_free(&f->site);
    tu_blob_free(&f->old);
    tu_blob_free(&f->fresh);
    tu_blob_free(&f->reserved);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The checks.                                                            */
/* ---------------------------------------------------------------------- */

enum version { V_OLD, V_NEW, V_RESERVED, V_OTHER };

static bool is_version(const fixture *f, const tu_blob *want)
{
    tu_blob now = current(f);
    bool same = tu_blob_eq(&now, want);
    tu_blob_free(&now);
    return same;
}

static enum version classify(const fixture *f)
{
    tu_blob now = current(f);
    enum version v = V_OTHER;
    if (tu_blob_eq(&now, &f->old)) {
        v = V_OLD;
    } else if (tu_blob_eq(&now, &f->fresh)) {
        v = V_NEW;
    } else if (f->sc->two_phase && tu_blob_eq(&now, &f->reserved)) {
        v = V_RESERVED;
    }
    if (v == V_OTHER) {
        fail_msg("%s: the store is neither the old nor the new version:\n%s", f->sc->name,
                 now.exists ? now.data : "(missing)");
    }
    tu_blob_free(&now);
    return v;
}

/* Everything that must hold after any run, failed or not. */
static void check_clean(const fixture *f, const char *what)
{
    size_t temps = tu_count_temps(f->site.dir, "pair-tokens.toml");
    if (temps != 0) {
        fail_msg("%s: %s: %zu temp file(s) left", f->sc->name, what, temps);
    }
    if (!tu_lock_is_free(f->site.lock)) {
        fail_msg("%s: %s: the lock is still held", f->sc->name, what);
    }
    /* Another handle locks at once (prune of nothing takes the lock). */
    pairtok_options quick = f->site.opts;
    quick.lock_timeout_ms = 1;
    pairtok_store *other = tu_open_with(f->site.path, &quick);
    size_t removed;
    pairtok_error err;
    pairtok_status st = pairtok_prune_at(other, &removed, 0, &err);
    if (st != PAIRTOK_OK || removed != 0) {
        fail_msg("%s: %s: second handle: %d %s", f->sc->name, what, st, err.message);
    }
    pairtok_store_close(other);
}

static bool names_call(const char *message, tu_call call)
{
    char words[64];
    snprintf(words, sizeof words, "%s", tu_call_keyword(call));
    for (char *w = strtok(words, "|"); w != NULL; w = strtok(NULL, "|")) {
        if (strstr(message, w) != NULL) {
            return true;
        }
    }
    return false;
}

/* A reported failure: status, errno, and a message that names the call
 * and the path. */
static void check_error(const fixture *f, pairtok_status st, const pairtok_error *err,
                        const tu_op_ctx *c, unsigned long n)
{
    tu_call call = tu_fault.fired_call;
    pairtok_status want = tu_op_failed_status(f->sc->ok, c, PAIRTOK_EIO);
    if (st != want || err->code != st || err->sys_errno != tu_fault.errnum) {
        fail_msg("%s: %s #%lu failing (%s): status %d errno %d, want %d errno %d: %s", f->sc->name,
                 tu_call_name(call), n, strerror(tu_fault.errnum), st, err->sys_errno, want,
                 tu_fault.errnum, err->message);
    }
    if (!names_call(err->message, call) || strstr(err->message, f->site.root) == NULL) {
        fail_msg("%s: %s failing: message does not name '%s' and the path: %s", f->sc->name,
                 tu_call_name(call), tu_call_keyword(call), err->message);
    }
    if (strstr(err->message, strerror(tu_fault.errnum)) == NULL) {
        fail_msg("%s: message lacks strerror: %s", f->sc->name, err->message);
    }
}

/* Which versions a failed run may leave, given where it failed.  Before
 * the rename: the old one.  A failure of the directory fsync after the
 * rename: the one just written.  For two-phase redeem: once bind has been
 * called, never the old one (the reservation was durable first). */
static void check_failed_version(const fixture *f, enum version v, const tu_op_ctx *c)
{
    bool after_rename =
        tu_fault.fired_call == TU_FSYNC && tu_fault.fired_on_dir && tu_fault.rename_pending;
    const char *names[] = {"old", "new", "reserved", "other"};
    bool ok;
    if (!f->sc->two_phase) {
        ok = v == V_OLD || (v == V_NEW && after_rename);
    } else if (c->bind.calls == 0) {
        ok = v == V_OLD || (v == V_RESERVED && after_rename);
    } else if (f->sc->ok == PAIRTOK_OK) {
        /* bound, then deleting failed: stays reserved (or deleted) */
        ok = v == V_RESERVED || (v == V_NEW && after_rename);
    } else {
        /* bind refused, then releasing failed: stays reserved */
        ok = v == V_RESERVED || (v == V_NEW && after_rename);
    }
    if (!ok) {
        fail_msg("%s: failing %s (bind called %d times) left the %s version", f->sc->name,
                 tu_call_name(tu_fault.fired_call), c->bind.calls, names[v]);
    }
}

/* One injected failure at call n, then the checks and a retry. */
static bool one_run(fixture *f, tu_fault_mode mode, unsigned long n, int errnum, bool warm)
{
    reset(f);
    size_t fds = tu_open_fds();
    pairtok_store *s = tu_open(&f->site);
    pt_set_sys(s, &tu_sys);
    pairtok_error err;
    if (warm && !f->sc->new_dir) {
        pairtok_record_list list = {0};
        tu_fault_arm(TU_PASS, 0, 0);
        assert_int_equal(pairtok_list_at(s, NULL, &list, TU_T0, &err), PAIRTOK_OK);
        pairtok_record_list_free(&list);
    }
    tu_op_ctx c = ctx0;
    tu_fault_arm(mode, n, errnum);
    pairtok_status st = f->sc->run(s, &c, &err);
    tu_faults seen = tu_fault;
    tu_fault_arm(TU_PASS, 0, 0);
    f->iterations++;

    enum version v = classify(f);
    bool succeeded = tu_op_succeeded(st, f->sc->ok, &err);
    if (!seen.fired || mode == TU_EINTR || succeeded) {
        /* No fault, a retried one, or one the library may ignore. */
        if (!succeeded) {
            fail_msg("%s: %s on %s #%lu: status %d: %s", f->sc->name,
                     mode == TU_EINTR ? "EINTR" : "fault", tu_call_name(seen.fired_call), n, st,
                     err.message);
        }
        if (!is_version(f, &f->fresh)) {
            fail_msg("%s: succeeded but the store is not the new version", f->sc->name);
        }
        if (f->sc->two_phase && c.bind.calls != 1) {
            fail_msg("%s: bind called %d times", f->sc->name, c.bind.calls);
        }
        if (seen.violation != NULL || seen.rename_pending) {
            fail_msg("%s: not durable: %s", f->sc->name,
                     seen.violation ? seen.violation : "no directory fsync after the rename");
        }
        /* Only failures that cost nothing but a cache or a descriptor may
         * be ignored: never a failed write, fsync, rename, chmod or lock. */
        if (seen.fired && mode == TU_FAIL && seen.fired_call != TU_CLOSE &&
            seen.fired_call != TU_OPENAT && seen.fired_call != TU_FSTAT &&
            seen.fired_call != TU_UNLINKAT) {
            fail_msg("%s: a failing %s (#%lu) was ignored", f->sc->name,
                     tu_call_name(seen.fired_call), n);
        }
        f->tolerated += seen.fired;
    } else {
        tu_fault = seen; /* for the messages */
        check_error(f, st, &err, &c, n);
        check_failed_version(f, v, &c);
        tu_fault_arm(TU_PASS, 0, 0);
        f->failures++;
    }
    check_clean(f, seen.fired ? tu_call_name(seen.fired_call) : "no fault");

    /* Retry on the same handle, faults off. */
    tu_op_ctx again = ctx0;
    pairtok_status want = v == V_OLD        ? f->sc->ok
                          : v == V_RESERVED ? f->sc->on_reserved
                                            : f->sc->again;
    st = f->sc->run(s, &again, &err);
    if (st != want) {
        fail_msg("%s: retry after failing %s #%lu (store was %d): status %d, want %d: %s",
                 f->sc->name, tu_call_name(seen.fired_call), n, v, st, want, err.message);
    }
    if (v == V_OLD) {
        if (!is_version(f, &f->fresh)) {
            fail_msg("%s: retry did not produce the new version", f->sc->name);
        }
    }
    check_clean(f, "retry");
    pairtok_store_close(s);
    size_t fds_after = tu_open_fds();
    if (fds_after != fds) {
        fail_msg("%s: failing %s #%lu leaked %zd descriptor(s)", f->sc->name,
                 tu_call_name(seen.fired_call), n, (ssize_t)fds_after - (ssize_t)fds);
    }
    return seen.fired;
}

static void sweep(fixture *f, tu_fault_mode mode, int errnum, bool warm)
{
    unsigned long n = 1;
    while (one_run(f, mode, n, errnum, warm)) {
        if (++n > MAX_CALLS) {
            fail_msg("%s: more than %d system calls", f->sc->name, MAX_CALLS);
        }
    }
    if (mode == TU_FAIL && n < 4) {
        fail_msg("%s: only %lu calls counted", f->sc->name, n - 1);
    }
}

static void test_errnos(void **state)
{
    fixture *f = *state;
    static const int errnos[] = {EIO, ENOSPC, EACCES, EDQUOT};
    size_t n = tu_is_asan() ? 2 : sizeof errnos / sizeof errnos[0];
    for (size_t i = 0; i < n; i++) {
        sweep(f, TU_FAIL, errnos[i], false);
    }
    sweep(f, TU_FAIL, EIO, true);
}

static void test_eintr_and_short_io(void **state)
{
    fixture *f = *state;
    sweep(f, TU_EINTR, EINTR, false);
    sweep(f, TU_EINTR, EINTR, true);
    tu_fault.short_io = true;
    one_run(f, TU_PASS, 0, 0, false);
    one_run(f, TU_PASS, 0, 0, true);
    tu_fault.short_io = false;
}

_Static_assert(NSCEN == 11, "one TESTS() per scenario");

#define TESTS(i, name)                                                                             \
    {name ": EIO/ENOSPC/EACCES/EDQUOT at every call", test_errnos, setup, teardown,                \
     (void *)&scenarios[i]},                                                                       \
    {                                                                                              \
        name ": EINTR and short reads/writes are retried", test_eintr_and_short_io, setup,         \
            teardown, (void *)&scenarios[i]                                                        \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        TESTS(0, "issue"),
        TESTS(1, "issue-new-dir"),
        TESTS(2, "redeem"),
        TESTS(3, "redeem-bind"),
        TESTS(4, "redeem-bind-abort"),
        TESTS(5, "revoke-id"),
        TESTS(6, "revoke-principal"),
        TESTS(7, "prune"),
        TESTS(8, "save"),
        TESTS(9, "load"),
        TESTS(10, "list"),
    };
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
