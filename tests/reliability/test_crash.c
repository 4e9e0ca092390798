/* SPDX-License-Identifier: ISC */
/*
 * test_crash.c - crash consistency.
 *
 * A forked child runs a fixed sequence of operations on the store - issue,
 * redeem, issue, two-phase redeem (bind succeeds), two-phase redeem (bind
 * refuses), revoke, prune - through a pt_sys table that _exit()s the
 * child just before its N-th system call.  The parent sweeps N = 1, 2, ...
 * until the child gets through the whole sequence, on one store that
 * carries over from kill to kill (so stale temp files, reservations and
 * orphans of earlier kills are part of what later children see).
 *
 * The child reports on a pipe, outside the syscall table: "S<k>" before it
 * starts operation k, "I <token>" only after issue returned PAIRTOK_OK,
 * "R <token>" after a redeem returned PAIRTOK_OK, "B <token>" from inside
 * the bind callback, "A <token>" after a refused bind returned
 * PAIRTOK_EABORTED, "V <token>" after a revoke returned PAIRTOK_OK.
 *
 * After every kill the parent checks: the store loads; pairtok_check_at
 * finds nothing but stale temp files and reservations; every token reported
 * issued is present and redeemable exactly once; every token reported
 * redeemed, bound or revoked is not redeemable; a token whose operation had
 * not started is untouched; a token whose refused bind reported back is
 * redeemable again; and no token is ever redeemed twice.
 *
 * Death inside a bind callback, outside any syscall kill (in the child's
 * sequence, and on a store of one token): the token stays reserved -
 * refused to every later redeem, reported by check, removed by prune once
 * it has expired.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define KILLED 77
#define DIED_IN_BIND 78
#define NOPS 7

typedef struct fixture {
    tu_site site; /* the store is <root>/etc/pair-tokens.toml */
    unsigned long kills, completions, redeemed_by_parent;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tu_site_init(&f->site, "crash", "etc");
    f->site.opts.max_per_principal = 100000;
    f->site.opts.max_total = 100000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->kills + f->completions > 0) {
        print_message("# %lu kills, %lu complete runs, %lu tokens redeemed by the checker\n",
                      f->kills, f->completions, f->redeemed_by_parent);
    }
    tu_site_free(&f->site);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The child.                                                             */
/* ---------------------------------------------------------------------- */

static int report_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1) {
        _exit(3);
    }
    line[n] = '\n';
    if (write(report_fd, line, (size_t)n + 1) != n + 1) {
        _exit(3);
    }
}

typedef struct pool {
    char tok[4][PAIRTOK_TOKEN_LEN + 1]; /* P1 redeem, P2 bind, P3 refused bind, P4 revoke */
} pool;

static bool die_in_bind;

/* The child's binds say on the pipe that they ran (a count in the child
 * would die with it); ctx is the token. */
static int bind_and_report(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    say("B %s", (const char *)ctx);
    if (die_in_bind) {
        _exit(DIED_IN_BIND);
    }
    return 0;
}

static int refuse_and_report(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    say("b %s", (const char *)ctx);
    return 1;
}

static void expect(int op, pairtok_status st, pairtok_status want, const pairtok_error *err)
{
    if (st != want) {
        say("X op %d: status %d, want %d: %s", op, st, want, err->message);
        _exit(1);
    }
}

static void child(const fixture *f, const pool *p, unsigned long n, bool warm, uint64_t now)
{
    pairtok_store *s;
    pairtok_error err;
    if (pairtok_store_open(f->site.path, &f->site.opts, &s, &err) != PAIRTOK_OK) {
        _exit(2);
    }
    pt_set_sys(s, &tu_sys);
    tu_fault_arm(TU_PASS, 0, 0);
    if (warm) {
        pairtok_record_list list = {0};
        expect(0, pairtok_list_at(s, NULL, &list, now, &err), PAIRTOK_OK, &err);
        pairtok_record_list_free(&list);
    }
    tu_fault_arm(TU_EXIT, n, 0);
    tu_fault.exit_code = KILLED;

    char token[PAIRTOK_TOKEN_LEN + 1];
    size_t removed;
    say("S1");
    expect(1, pairtok_issue_at(s, "child", NULL, 300, token, NULL, now, &err), PAIRTOK_OK, &err);
    say("I %s", token);
    say("S2");
    expect(2, pairtok_redeem_at(s, p->tok[0], NULL, NULL, NULL, now, &err), PAIRTOK_OK, &err);
    say("R %s", p->tok[0]);
    say("S3");
    expect(3, pairtok_issue_at(s, "child", "second", 300, token, NULL, now, &err), PAIRTOK_OK,
           &err);
    say("I %s", token);
    say("S4");
    expect(4, pairtok_redeem_at(s, p->tok[1], bind_and_report, (void *)p->tok[1], NULL, now, &err),
           PAIRTOK_OK, &err);
    say("R %s", p->tok[1]);
    say("S5");
    expect(5,
           pairtok_redeem_at(s, p->tok[2], refuse_and_report, (void *)p->tok[2], NULL, now, &err),
           PAIRTOK_EABORTED, &err);
    say("A %s", p->tok[2]);
    say("S6");
    char id[PAIRTOK_HASH_LEN + 1];
    pairtok_hash_token(p->tok[3], id);
    expect(6, pairtok_revoke_id(s, id, &removed, &err), PAIRTOK_OK, &err);
    say("V %s", p->tok[3]);
    say("S7");
    expect(7, pairtok_prune_at(s, &removed, now, &err), PAIRTOK_OK, &err);
    say("D %lu", tu_fault.calls);
    _exit(0);
}

/* ---------------------------------------------------------------------- */
/* The parent's checks.                                                   */
/* ---------------------------------------------------------------------- */

typedef struct report {
    bool started[NOPS + 2];
    bool done;
    char issued[2][PAIRTOK_TOKEN_LEN + 1];
    size_t n_issued;
    bool redeemed[2]; /* P1, P2 */
    bool bound;       /* B for P2 */
    bool refused;     /* b for P3 */
    bool aborted;     /* A for P3 */
    bool revoked;     /* V for P4 */
} report;

static void parse_report(const char *text, const pool *p, report *r)
{
    memset(r, 0, sizeof *r);
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        const char *arg = line + 2;
        switch (line[0]) {
        case 'S':
            r->started[line[1] - '0'] = true;
            break;
        case 'I':
            assert_true(r->n_issued < 2);
            memcpy(r->issued[r->n_issued++], arg, PAIRTOK_TOKEN_LEN);
            break;
        case 'R':
            if (strncmp(arg, p->tok[0], PAIRTOK_TOKEN_LEN) == 0) {
                r->redeemed[0] = true;
            } else if (strncmp(arg, p->tok[1], PAIRTOK_TOKEN_LEN) == 0) {
                r->redeemed[1] = true;
            } else {
                fail_msg("unknown R line: %.*s", (int)(end - line), line);
            }
            break;
        case 'B':
            r->bound = true;
            break;
        case 'b':
            r->refused = true;
            break;
        case 'A':
            r->aborted = true;
            break;
        case 'V':
            r->revoked = true;
            break;
        case 'D':
            r->done = true;
            break;
        default:
            fail_msg("child: %.*s", (int)(end - line), line);
        }
        line = end + 1;
    }
}

static void collect_problem(const pairtok_error *problem, void *ctx)
{
    (void)ctx;
    if (strstr(problem->message, "stale temp") == NULL &&
        strstr(problem->message, "reserved by a redeem") == NULL) {
        fail_msg("check after a kill: %s", problem->message);
    }
}

static bool present(const pairtok_record_list *list, const char *token)
{
    char hash[PAIRTOK_HASH_LEN + 1];
    pairtok_hash_token(token, hash);
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].token_hash, hash) == 0) {
            return true;
        }
    }
    return false;
}

typedef enum { MUST_REDEEM, MUST_REFUSE, EITHER } expectation;

/* Redeem `token` as the checker; it must go as expected, and a second
 * redeem must always be refused. */
static void redeem_check(fixture *f, pairtok_store *s, const char *token, expectation want,
                         uint64_t now, const char *what)
{
    pairtok_error err;
    pairtok_status st = pairtok_redeem_at(s, token, NULL, NULL, NULL, now, &err);
    if (st != PAIRTOK_OK && st != PAIRTOK_EDENIED) {
        fail_msg("%s: checker's redeem: %d %s", what, st, err.message);
    }
    if ((want == MUST_REDEEM && st != PAIRTOK_OK) ||
        (want == MUST_REFUSE && st != PAIRTOK_EDENIED)) {
        fail_msg("%s: redeem gave %s", what, st == PAIRTOK_OK ? "OK: redeemable twice" : "DENIED");
    }
    if (st == PAIRTOK_OK) {
        f->redeemed_by_parent++;
        st = pairtok_redeem_at(s, token, NULL, NULL, NULL, now, &err);
        if (st != PAIRTOK_EDENIED) {
            fail_msg("%s: redeemed twice (%d)", what, st);
        }
    }
}

static void check_after(fixture *f, const pool *p, const report *r, uint64_t now)
{
    pairtok_store *s = tu_open(&f->site);
    pairtok_error err;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_store_load(s, &list, &err);
    if (st != PAIRTOK_OK) {
        fail_msg("the store does not load after a kill: %s", err.message);
    }
    size_t problems;
    assert_int_equal(pairtok_check_at(s, collect_problem, NULL, &problems, now, &err), PAIRTOK_OK);

    for (size_t i = 0; i < r->n_issued; i++) {
        if (!present(&list, r->issued[i])) {
            fail_msg("token reported issued is not in the store");
        }
        redeem_check(f, s, r->issued[i], MUST_REDEEM, now, "reported-issued token");
    }
    pairtok_record_list_free(&list);

    /* P1: plain redeem. */
    redeem_check(f, s, p->tok[0],
                 r->redeemed[0]  ? MUST_REFUSE
                 : r->started[2] ? EITHER
                                 : MUST_REDEEM,
                 now, "P1");
    /* P2: two-phase; once bind has run the token is never redeemable. */
    redeem_check(f, s, p->tok[1],
                 (r->bound || r->redeemed[1]) ? MUST_REFUSE
                 : r->started[4]              ? EITHER
                                              : MUST_REDEEM,
                 now, "P2 (bind ran)");
    /* P3: refused bind; after EABORTED it is redeemable again. */
    redeem_check(f, s, p->tok[2],
                 r->aborted      ? MUST_REDEEM
                 : r->started[5] ? EITHER
                                 : MUST_REDEEM,
                 now, "P3 (bind refused)");
    /* P4: revoked. */
    redeem_check(f, s, p->tok[3],
                 r->revoked      ? MUST_REFUSE
                 : r->started[6] ? EITHER
                                 : MUST_REDEEM,
                 now, "P4 (revoked)");
    pairtok_store_close(s);
}

/* One child killed before call n (or not at all).  Returns true if it ran
 * to the end. */
static bool one_kill(fixture *f, unsigned long n, bool warm, uint64_t now)
{
    /* The parent's pool for this child, issued with the real calls. */
    pool p;
    pairtok_store *s = tu_open(&f->site);
    pairtok_error err;
    for (size_t i = 0; i < 4; i++) {
        if (pairtok_issue_at(s, "pool", NULL, 300, p.tok[i], NULL, now, &err) != PAIRTOK_OK) {
            fail_msg("pool issue: %s", err.message);
        }
    }
    pairtok_store_close(s);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        report_fd = fds[1];
        child(f, &p, n, warm, now);
        _exit(4);
    }
    close(fds[1]);
    char text[4096];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], text + len, sizeof text - 1 - len)) > 0) {
        len += (size_t)got;
    }
    close(fds[0]);
    text[len] = '\0';
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    if (code != 0 && code != KILLED && code != DIED_IN_BIND) {
        fail_msg("child exited %d after call %lu:\n%s", code, n, text);
    }
    report r;
    parse_report(text, &p, &r);
    if ((code == 0) != r.done) {
        fail_msg("child exit %d but report %s", code, text);
    }
    if (code == DIED_IN_BIND && !r.bound) {
        fail_msg("child died in bind without saying so");
    }
    code == 0 ? f->completions++ : f->kills++;
    check_after(f, &p, &r, now);
    return code == 0;
}

static void sweep(fixture *f, bool warm, uint64_t *now, unsigned stride)
{
    unsigned long n;
    for (n = 1; !one_kill(f, n, warm, *now); n += stride) {
        *now += 7; /* time moves on: orphans of earlier kills expire and go */
        if (n > 2000) {
            fail_msg("the sequence never completed");
        }
    }
    print_message("# %s handle: child killed before each of %lu system calls (stride %u)\n",
                  warm ? "warm" : "cold", n - 1, stride);
}

static void test_kill_at_every_call(void **state)
{
    fixture *f = *state;
    uint64_t now = TU_T0;
    unsigned stride = tu_scale(1, 3);
    sweep(f, false, &now, stride);
    sweep(f, true, &now, stride);
}

/* Death inside the bind callback, right after it reported: the token must
 * stay reserved - never redeemable again. */
static void test_die_in_bind(void **state)
{
    fixture *f = *state;
    die_in_bind = true;
    uint64_t now = TU_T0 + 100000;
    unsigned rounds = tu_scale(20, 5);
    for (unsigned i = 0; i < rounds; i++) {
        /* n = 0: no syscall kill; the child dies in bind of operation 4. */
        assert_false(one_kill(f, 0, i % 2 == 1, now));
        now += 11;
    }
    die_in_bind = false;
    /* Reserved records expire and then go at the first prune. */
    pairtok_store *s = tu_open(&f->site);
    pairtok_error err;
    size_t removed, problems;
    assert_int_equal(pairtok_prune_at(s, &removed, now + 4000, &err), PAIRTOK_OK);
    assert_true(removed >= rounds);
    assert_int_equal(pairtok_check_at(s, NULL, NULL, &problems, now + 4000, &err), PAIRTOK_OK);
    assert_int_equal(problems, 0);
    pairtok_store_close(s);
}

/* A redeem whose host bound the key and then died, outside any syscall
 * kill: the token stays reserved, refused to everyone, reported by check
 * as a stuck reservation and removed by prune once it has expired. */
static void test_exit_between_callback_and_deletion_leaves_token_unredeemable(void **state)
{
    fixture *f = *state;
    pairtok_store *s = tu_open_with(f->site.path, NULL);
    pairtok_error err;
    char token[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_issue_at(s, "alice", NULL, 300, token, NULL, TU_T0, &err), PAIRTOK_OK);
    tu_bind_ctx bound_then_died = {.die = true, .exit_code = 0};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pairtok_status st =
            pairtok_redeem_at(s, token, tu_bind, &bound_then_died, NULL, TU_T0, &err);
        _exit(10 + (int)st);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    pairtok_store *fresh;
    assert_int_equal(pairtok_store_open(f->site.path, NULL, &fresh, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_redeem_at(fresh, token, NULL, NULL, NULL, TU_T0 + 1, &err),
                     PAIRTOK_EDENIED);
    size_t problems, removed;
    assert_int_equal(pairtok_check_at(fresh, NULL, NULL, &problems, TU_T0, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1); /* reported as a stuck reservation */
    assert_int_equal(pairtok_prune_at(fresh, &removed, TU_T0 + 300, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    pairtok_store_close(fresh);
    pairtok_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_at_every_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_die_in_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_exit_between_callback_and_deletion_leaves_token_unredeemable, setup, teardown),
    };
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
