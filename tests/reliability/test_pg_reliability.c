/* SPDX-License-Identifier: ISC */
/*
 * test_pg_reliability.c - single use and the caps on a PostgreSQL store,
 * when clients race, die, and the server goes away.  Public API only:
 * pairtok_store_open() with a postgresql:// URI, then the operations.
 *
 * race:    12 processes released together redeem one token; exactly one
 *          wins, every round (half of the rounds two-phase).
 * cap:     40 processes released together issue for one principal; at
 *          most 16 (the default cap) succeed, every refusal is
 *          PAIRTOK_ELIMIT, and exactly the winners' tokens are stored.
 * kill:    a client is SIGKILLed at a random point of its redeem (while
 *          connecting, in the statement, inside bind, after); the token is
 *          never redeemed twice, and one the client had bound is refused.
 * bind:    a two-phase redeem whose client dies inside bind leaves the
 *          token reserved: refused from then on, reported by check (and by
 *          the CLI's check, exit 3), kept by a prune before it expires,
 *          removed by the first prune after.
 * outage:  the server is stopped with an immediate shutdown in the middle
 *          of one handle's stream of redeems: no token is used twice, the
 *          outage is PAIRTOK_EIO with a message that names the store and
 *          says what happened (and exit 3 from the CLI), a refusal after an
 *          error only follows one whose message said the outcome is
 *          unknown, and the same handle redeems again after the restart.
 *
 * Run under tests/pg/with-pg (a throwaway server, fsync off: these are
 * correctness tests); run alone, the program runs itself under it.  Every
 * test works in a schema of its own (search_path in the URI).  Clients are
 * forked children, each with its own handle, so its own connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "testutil.h"

#define PG_CTL "tests/pg/pg-ctl"

/* How a forked client ends: exit statuses the parent tells apart. */
enum {
    CHILD_WON = 0,     /* the operation succeeded */
    CHILD_REFUSED = 1, /* EDENIED (redeem) or ELIMIT (issue) */
    CHILD_OTHER = 2,   /* any other status: printed on stderr */
    CHILD_SETUP = 3,   /* could not open or connect */
    CHILD_WRONG = 4    /* succeeded with a wrong record */
};

/* ---------------------------------------------------------------------- */
/* The schema of each test: made and dropped by the superuser.            */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    tu_location loc;
    const char *uri;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_location_init_db(&f->loc);
    f->uri = f->loc.location;
    pairtok_store *s = tu_open_with(f->uri, NULL);
    pairtok_error err;
    if (pairtok_store_init(s, &err) != PAIRTOK_OK) {
        tu_fail("init: %s", err.message);
    }
    pairtok_store_close(s);
    *state = f;
    return 0;
}

static bool server_down;

static int run_pg_ctl(const char *verb)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s %s", PG_CTL, verb);
    fflush(NULL);
    int status = system(cmd);
    server_down = strcmp(verb, "crash") == 0 || strcmp(verb, "stop") == 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (server_down && run_pg_ctl("start") != 0) {
        tu_die("cannot start the server again");
    }
    tu_location_free(&f->loc);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Clients, and what the parent checks.                                   */
/* ---------------------------------------------------------------------- */

static void assert_ok(pairtok_status st, const pairtok_error *err)
{
    if (st != PAIRTOK_OK) {
        fail_msg("status %d: %s", (int)st, err->message);
    }
}

static void assert_status(pairtok_status st, pairtok_status want, const pairtok_error *err)
{
    if (st != want) {
        fail_msg("status %d, want %d: %s", (int)st, (int)want, st ? err->message : "");
    }
}

/* In a forked child: its own handle, connected (a list connects) unless
 * `cold`.  No cmocka assertion may run there. */
static pairtok_store *child_open(const fixture *f, bool cold)
{
    pairtok_store *s = NULL;
    pairtok_error err;
    if (pairtok_store_open(f->uri, NULL, &s, &err) != PAIRTOK_OK) {
        _exit(CHILD_SETUP);
    }
    pairtok_record_list list = {0};
    if (!cold && pairtok_list(s, "nobody", &list, &err) != PAIRTOK_OK) {
        fprintf(stderr, "child: connect: %s\n", err.message);
        _exit(CHILD_SETUP);
    }
    pairtok_record_list_free(&list);
    return s;
}

/* The child's exit status for a redeem's or an issue's result. */
static int child_status(pairtok_status st, pairtok_status refused, const pairtok_error *err)
{
    if (st == PAIRTOK_OK) {
        return CHILD_WON;
    }
    if (st == refused) {
        return CHILD_REFUSED;
    }
    fprintf(stderr, "child: status %d: %s\n", (int)st, err->message);
    return CHILD_OTHER;
}

/* Reap `n` children; count[status] for each exit status up to CHILD_WRONG. */
static void reap(const pid_t *pids, int n, int count[CHILD_WRONG + 1])
{
    memset(count, 0, sizeof(int) * (CHILD_WRONG + 1));
    for (int i = 0; i < n; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) > CHILD_WRONG) {
            fail_msg("child %d ended with wait status %#x", i, (unsigned)status);
        }
        count[WEXITSTATUS(status)]++;
    }
}

static void issue(pairtok_store *s, const char *principal, uint32_t ttl,
                  char tok[PAIRTOK_TOKEN_LEN + 1], pairtok_record *rec)
{
    pairtok_error err;
    assert_ok(pairtok_issue(s, principal, NULL, ttl, tok, rec, &err), &err);
}

static size_t live_count(pairtok_store *s, const char *principal)
{
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_ok(pairtok_list(s, principal, &list, &err), &err);
    size_t n = list.count;
    pairtok_record_list_free(&list);
    return n;
}

/* What pairtok_check reported: how many problems, and their text. */
typedef struct problems {
    size_t n;
    char all[16384];
} problems;

static void collect(const pairtok_error *problem, void *ctx)
{
    problems *p = ctx;
    p->n++;
    size_t used = strlen(p->all);
    snprintf(p->all + used, sizeof p->all - used, "%s\n", problem->message);
}

static size_t check(pairtok_store *s, problems *p)
{
    memset(p, 0, sizeof *p);
    size_t count = 0;
    pairtok_error err;
    assert_ok(pairtok_check(s, collect, p, &count, &err), &err);
    assert_int_equal(count, p->n);
    return count;
}

static size_t occurrences(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *at = strstr(text, what); at != NULL; at = strstr(at + 1, what)) {
        n++;
    }
    return n;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------------- */
/* race: 12 clients, one token, one winner.                               */
/* ---------------------------------------------------------------------- */

/* The bind of the racers' two-phase redeems: the record must be the
 * token's. */
static int bind_racer(const pairtok_record *rec, void *ctx)
{
    (void)ctx;
    return strcmp(rec->principal, "race") == 0 ? 0 : 1;
}

enum { RACERS = 12 };

/* A racer's orders: the token, then '1' for a one-phase redeem or '2'
 * for a two-phase one. */
typedef char race_order[PAIRTOK_TOKEN_LEN + 1];

/* A racer keeps its handle (its connection) for every round: it waits
 * for the next token, redeems it and answers one byte, the exit status it
 * would have ('0' + CHILD_*), until the parent closes its pipe. */
static void racer(const fixture *f, int orders, int answers)
{
    pairtok_store *s = child_open(f, false);
    race_order order;
    while (read(orders, order, sizeof order) == (ssize_t)sizeof order) {
        char tok[PAIRTOK_TOKEN_LEN + 1];
        memcpy(tok, order, PAIRTOK_TOKEN_LEN);
        tok[PAIRTOK_TOKEN_LEN] = '\0';
        pairtok_record rec;
        pairtok_error err;
        pairtok_status st = pairtok_redeem(
            s, tok, order[PAIRTOK_TOKEN_LEN] == '2' ? bind_racer : NULL, NULL, &rec, &err);
        int code = child_status(st, PAIRTOK_EDENIED, &err);
        if (st == PAIRTOK_OK && strcmp(rec.principal, "race") != 0) {
            code = CHILD_WRONG;
        }
        pairtok_record_clear(&rec);
        char answer = (char)('0' + code);
        if (write(answers, &answer, 1) != 1) {
            _exit(CHILD_SETUP);
        }
    }
    pairtok_store_close(s);
    _exit(CHILD_WON);
}

typedef struct race {
    pid_t pids[RACERS];
    int orders[RACERS]; /* the parent's ends */
    int answers;
} race;

static void race_start(const fixture *f, race *r)
{
    int answers[2];
    assert_int_equal(pipe(answers), 0);
    fflush(NULL);
    for (int i = 0; i < RACERS; i++) {
        int orders[2];
        assert_int_equal(pipe(orders), 0);
        r->pids[i] = fork();
        assert_true(r->pids[i] >= 0);
        if (r->pids[i] == 0) {
            close(orders[1]);
            close(answers[0]);
            for (int j = 0; j < i; j++) {
                close(r->orders[j]);
            }
            racer(f, orders[0], answers[1]);
        }
        close(orders[0]);
        r->orders[i] = orders[1];
    }
    close(answers[1]);
    r->answers = answers[0];
}

/* One round: every racer gets the token at once (each is waiting in
 * read); exactly one may win. */
static void race_round(pairtok_store *s, race *r, unsigned round)
{
    race_order order;
    issue(s, "race", 300, order, NULL);
    order[PAIRTOK_TOKEN_LEN] = round % 2 ? '2' : '1';
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(write(r->orders[i], order, sizeof order), sizeof order);
    }
    int count[CHILD_WRONG + 1] = {0};
    for (int i = 0; i < RACERS; i++) {
        char answer;
        assert_int_equal(read(r->answers, &answer, 1), 1);
        assert_true(answer >= '0' && answer <= '0' + CHILD_WRONG);
        count[answer - '0']++;
    }
    if (count[CHILD_WON] != 1 || count[CHILD_REFUSED] != RACERS - 1) {
        fail_msg("round %u (%s): %d winners, %d refused, %d other, %d wrong", round,
                 round % 2 ? "two-phase" : "one phase", count[CHILD_WON], count[CHILD_REFUSED],
                 count[CHILD_OTHER], count[CHILD_WRONG]);
    }
    sodium_memzero(order, sizeof order);
}

static void race_stop(race *r)
{
    for (int i = 0; i < RACERS; i++) {
        close(r->orders[i]);
    }
    int count[CHILD_WRONG + 1];
    reap(r->pids, RACERS, count);
    assert_int_equal(count[CHILD_WON], RACERS);
    close(r->answers);
}

static void racing_redeemers_have_exactly_one_winner(void **state)
{
    fixture *f = *state;
    unsigned rounds = tu_scale(500, 120);
    pairtok_store *s = tu_open_with(f->uri, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    race r;
    race_start(f, &r);
    for (unsigned round = 0; round < rounds; round++) {
        race_round(s, &r, round);
    }
    race_stop(&r);
    assert_int_equal(live_count(s, NULL), 0);
    problems p;
    assert_int_equal(check(s, &p), 0);
    pairtok_store_close(s);
    print_message("# race: %u rounds x %d racers (half two-phase): %u winners, %u refused, "
                  "%.1f s\n",
                  rounds, RACERS, rounds, rounds * (RACERS - 1), seconds_since(&t0));
}

/* ---------------------------------------------------------------------- */
/* cap: 40 issuers, one principal, a cap of 16.                           */
/* ---------------------------------------------------------------------- */

/* An issuer writes the hash of the token it got to `out`, one line of
 * 65 bytes: one write, atomic on a pipe. */
static void issuer(const fixture *f, tu_start_line *line, int out, const char *principal)
{
    pairtok_store *s = child_open(f, false);
    tu_start_line_wait(line, CHILD_SETUP);
    char tok[PAIRTOK_TOKEN_LEN + 1];
    pairtok_error err;
    pairtok_status st = pairtok_issue(s, principal, NULL, 300, tok, NULL, &err);
    if (st == PAIRTOK_OK) {
        char line_out[PAIRTOK_HASH_LEN + 1];
        pairtok_hash_token(tok, line_out);
        line_out[PAIRTOK_HASH_LEN] = '\n';
        if (write(out, line_out, sizeof line_out) != (ssize_t)sizeof line_out) {
            _exit(CHILD_SETUP);
        }
    } else if (st == PAIRTOK_ELIMIT && strstr(err.message, "per-principal cap") == NULL) {
        fprintf(stderr, "issuer: the refusal does not name the cap: %s\n", err.message);
        _exit(CHILD_WRONG);
    }
    _exit(child_status(st, PAIRTOK_ELIMIT, &err));
}

/* The hashes the winners reported, one per line, into `hashes`. */
static size_t read_hashes(int in, char hashes[][PAIRTOK_HASH_LEN + 1], size_t max)
{
    char buf[4096];
    size_t len = 0;
    ssize_t got;
    while ((got = read(in, buf + len, sizeof buf - len)) > 0) {
        len += (size_t)got;
    }
    assert_int_equal(len % (PAIRTOK_HASH_LEN + 1), 0);
    size_t n = len / (PAIRTOK_HASH_LEN + 1);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        memcpy(hashes[i], buf + i * (PAIRTOK_HASH_LEN + 1), PAIRTOK_HASH_LEN);
        hashes[i][PAIRTOK_HASH_LEN] = '\0';
    }
    return n;
}

static bool listed(const pairtok_record_list *list, const char *hash)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].token_hash, hash) == 0) {
            return true;
        }
    }
    return false;
}

/* One round for `principal`: returns how many issues succeeded. */
static int cap_round(const fixture *f, pairtok_store *s, const char *principal)
{
    enum { ISSUERS = 40 };
    int out[2];
    assert_int_equal(pipe(out), 0);
    tu_start_line line;
    tu_start_line_open(&line);
    pid_t pids[ISSUERS];
    fflush(NULL);
    for (int i = 0; i < ISSUERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(out[0]);
            issuer(f, &line, out[1], principal);
        }
    }
    close(out[1]);
    tu_start_line_release(&line, ISSUERS);
    int count[CHILD_WRONG + 1];
    reap(pids, ISSUERS, count);
    char hashes[ISSUERS][PAIRTOK_HASH_LEN + 1];
    size_t reported = read_hashes(out[0], hashes, ISSUERS);
    close(out[0]);
    if (count[CHILD_WON] > (int)PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL ||
        count[CHILD_WON] + count[CHILD_REFUSED] != ISSUERS) {
        fail_msg("%s: %d issued, %d refused by the cap, %d other, %d setup, %d wrong", principal,
                 count[CHILD_WON], count[CHILD_REFUSED], count[CHILD_OTHER], count[CHILD_SETUP],
                 count[CHILD_WRONG]);
    }
    /* Exactly the winners' tokens are stored: no more, no fewer. */
    assert_int_equal(reported, count[CHILD_WON]);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_ok(pairtok_list(s, principal, &list, &err), &err);
    assert_int_equal(list.count, reported);
    for (size_t i = 0; i < reported; i++) {
        assert_true(listed(&list, hashes[i]));
    }
    pairtok_record_list_free(&list);
    return count[CHILD_WON];
}

static void racing_issuers_respect_the_per_principal_cap(void **state)
{
    fixture *f = *state;
    unsigned rounds = tu_scale(5, 2);
    pairtok_store *s = tu_open_with(f->uri, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int issued = 0;
    for (unsigned round = 0; round < rounds; round++) {
        char principal[32];
        snprintf(principal, sizeof principal, "cap%u", round);
        int won = cap_round(f, s, principal);
        /* A refusal means the cap was reached: then it is full. */
        assert_int_equal(won, PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL);
        issued += won;
    }
    assert_int_equal(live_count(s, NULL), issued);
    pairtok_store_close(s);
    print_message("# cap: %u rounds x 40 issuers, cap %u: %d issued and stored, %u refused, "
                  "%.1f s\n",
                  rounds, PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL, issued, rounds * 40 - (unsigned)issued,
                  seconds_since(&t0));
}

/* ---------------------------------------------------------------------- */
/* kill: clients SIGKILLed at random points of a redeem.                  */
/* ---------------------------------------------------------------------- */

/* The victim says on a pipe how far it got: 'B' inside bind (the device
 * is bound: from here the token must never be redeemed again), 'R' once
 * redeem returned PAIRTOK_OK.  A byte it had no time to write is simply
 * missing; the checks only rely on the bytes that arrived. */
static int report_fd = -1;

static void report(char what)
{
    if (write(report_fd, &what, 1) != 1) {
        _exit(CHILD_SETUP);
    }
}

/* ctx: how long the bind takes, in microseconds, so that kills land
 * inside it too. */
static int bind_report(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    report('B');
    sleep_us(*(const long *)ctx);
    return 0;
}

static void victim(const fixture *f, const char *tok, bool cold, bool two_phase, long bind_us)
{
    pairtok_store *s = child_open(f, cold);
    pairtok_error err;
    pairtok_status st =
        pairtok_redeem(s, tok, two_phase ? bind_report : NULL, &bind_us, NULL, &err);
    if (st == PAIRTOK_OK) {
        report('R');
    }
    _exit(child_status(st, PAIRTOK_EDENIED, &err));
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* How long a client typically takes to open, connect and redeem, in
 * microseconds (the median of five): the window the kills are spread
 * over. */
static long redeem_span_us(const fixture *f, pairtok_store *s)
{
    long took[5];
    for (int i = 0; i < 5; i++) {
        char tok[PAIRTOK_TOKEN_LEN + 1];
        issue(s, "kill", 300, tok, NULL);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pairtok_store *mine = tu_open_with(f->uri, NULL);
        pairtok_error err;
        assert_ok(pairtok_redeem(mine, tok, NULL, NULL, NULL, &err), &err);
        pairtok_store_close(mine);
        took[i] = (long)(seconds_since(&t0) * 1e6);
    }
    qsort(took, 5, sizeof took[0], compare_long);
    return took[2];
}

typedef struct kill_stats {
    unsigned rounds, completed, killed_in_bind, killed_after_redeem, parent_won, stuck_possible;
} kill_stats;

/* What the victim wrote before it died: *bound, *redeemed. */
static void read_report(int in, bool *bound, bool *redeemed)
{
    char buf[8];
    ssize_t got;
    *bound = *redeemed = false;
    while ((got = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            *bound = *bound || buf[i] == 'B';
            *redeemed = *redeemed || buf[i] == 'R';
        }
    }
}

static void kill_round(const fixture *f, pairtok_store *s, long span_us, kill_stats *ks)
{
    unsigned round = ks->rounds++;
    bool two_phase = round % 2 == 1, cold = round % 3 == 0;
    long bind_us = two_phase ? (long)randombytes_uniform((uint32_t)span_us + 1) : 0;
    char tok[PAIRTOK_TOKEN_LEN + 1];
    issue(s, "kill", 300, tok, NULL);
    int rep[2];
    assert_int_equal(pipe(rep), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(rep[0]);
        report_fd = rep[1];
        victim(f, tok, cold, two_phase, bind_us);
    }
    close(rep[1]);
    sleep_us((long)randombytes_uniform((uint32_t)(2 * span_us + bind_us) + 1));
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status)) {
        assert_int_equal(WEXITSTATUS(status), CHILD_WON); /* finished before the kill */
        ks->completed++;
    }
    bool bound, redeemed;
    read_report(rep[0], &bound, &redeemed);
    close(rep[0]);
    ks->killed_in_bind += bound && !redeemed;
    ks->killed_after_redeem += redeemed && !WIFEXITED(status);
    pairtok_error err;
    pairtok_status st = pairtok_redeem(s, tok, NULL, NULL, NULL, &err);
    if (bound || redeemed) {
        /* The victim used the token: never again. */
        assert_status(st, PAIRTOK_EDENIED, &err);
    } else if (st == PAIRTOK_OK) {
        ks->parent_won++;
        assert_status(pairtok_redeem(s, tok, NULL, NULL, NULL, &err), PAIRTOK_EDENIED, &err);
    } else {
        /* Spent by a statement whose answer the victim never read. */
        assert_status(st, PAIRTOK_EDENIED, &err);
    }
    ks->stuck_possible += two_phase && st == PAIRTOK_EDENIED && !redeemed;
    sodium_memzero(tok, sizeof tok);
}

static void clients_killed_mid_redeem_never_use_a_token_twice(void **state)
{
    fixture *f = *state;
    pairtok_options many = {.max_per_principal = 1000};
    pairtok_store *s = tu_open_with(f->uri, &many);
    long span_us = redeem_span_us(f, s);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill_stats ks = {0};
    unsigned rounds = tu_scale(200, 60);
    for (unsigned i = 0; i < rounds; i++) {
        kill_round(f, s, span_us, &ks);
    }
    /* Only reservations can be left: never more than the rounds that
     * could leave one, and check names each. */
    problems p;
    size_t stuck = check(s, &p);
    assert_true(stuck <= ks.stuck_possible);
    assert_int_equal(occurrences(p.all, "reserved by a redeem that did not finish"), stuck);
    /* Every token but the reserved ones is gone; prune takes those once
     * they expire (here: a `now` past the lifetime cap). */
    assert_int_equal(live_count(s, NULL), stuck);
    size_t removed = 0;
    pairtok_error err;
    assert_ok(
        pairtok_prune_at(s, &removed, pairtok_now_epoch() + PAIRTOK_MAX_EXPIRY_SECS + 1, &err),
        &err);
    assert_int_equal(removed, stuck);
    assert_int_equal(check(s, &p), 0);
    pairtok_store_close(s);
    print_message("# kill: %u clients killed within %ld us of their start: %u finished first, "
                  "%u died inside bind, %u after a redeem, %u tokens still redeemable by the "
                  "next client, %zu left reserved; %.1f s\n",
                  ks.rounds, 2 * span_us, ks.completed, ks.killed_in_bind, ks.killed_after_redeem,
                  ks.parent_won, stuck, seconds_since(&t0));
}

/* ---------------------------------------------------------------------- */
/* The CLI, on the test's store.                                          */
/* ---------------------------------------------------------------------- */

typedef struct cli_result {
    int status;     /* exit status, -1 if it did not exit */
    char out[8192]; /* stdout and stderr together */
} cli_result;

/* Run `<build>/pairtok --no-syslog --store <uri> <args...>` (NULL-ended). */
static void run_cli(const fixture *f, cli_result *r, ...)
{
    const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build";
    char exe[PAIRTOK_PATH_MAX];
    snprintf(exe, sizeof exe, "%s/pairtok", build);
    const char *argv[16] = {exe, "--no-syslog", "--store", f->uri};
    int argc = 4;
    va_list args;
    va_start(args, r);
    for (const char *a; argc < 15 && (a = va_arg(args, const char *)) != NULL;) {
        argv[argc++] = a;
    }
    va_end(args);
    argv[argc] = NULL;
    int out[2];
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        close(out[0]);
        close(out[1]);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(out[0], r->out + len, sizeof r->out - 1 - len)) > 0) {
        len += (size_t)got;
    }
    r->out[len] = '\0';
    close(out[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("'%s' lacks '%s'", text, want);
    }
}

/* ---------------------------------------------------------------------- */
/* bind: the client dies inside bind.                                     */
/* ---------------------------------------------------------------------- */

static int bind_die(const pairtok_record *rec, void *ctx)
{
    (void)rec, (void)ctx;
    raise(SIGKILL);
    return 0;
}

static int bind_called(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    (*(int *)ctx)++;
    return 0;
}

static void die_in_bind(const fixture *f, const char *tok)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pairtok_store *s = child_open(f, true);
        pairtok_error err;
        pairtok_status st = pairtok_redeem(s, tok, bind_die, NULL, NULL, &err);
        _exit(child_status(st, PAIRTOK_EDENIED, &err));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fail_msg("the client did not die in bind: wait status %#x", (unsigned)status);
    }
}

/* Refused, one phase and two (whose bind never runs). */
static void assert_refused(pairtok_store *s, const char *tok)
{
    pairtok_error err;
    int calls = 0;
    assert_status(pairtok_redeem(s, tok, NULL, NULL, NULL, &err), PAIRTOK_EDENIED, &err);
    assert_status(pairtok_redeem(s, tok, bind_called, &calls, NULL, &err), PAIRTOK_EDENIED, &err);
    assert_int_equal(calls, 0);
}

static void assert_reported(const problems *p, const char *tok)
{
    char hash[PAIRTOK_HASH_LEN + 1], want[64];
    pairtok_hash_token(tok, hash);
    snprintf(want, sizeof want, "token %.12s: reserved by a redeem that did not finish", hash);
    assert_contains(p->all, want);
}

static void client_dying_in_bind_leaves_a_reservation_prune_removes(void **state)
{
    fixture *f = *state;
    enum { TTL = 2, MAX_DEAD = 8 };
    size_t dead = tu_scale(MAX_DEAD, 3);
    pairtok_store *s = tu_open_with(f->uri, NULL);
    char toks[MAX_DEAD][PAIRTOK_TOKEN_LEN + 1], keep[PAIRTOK_TOKEN_LEN + 1];
    pairtok_record rec;
    uint64_t expires = 0;
    for (size_t i = 0; i < dead; i++) {
        issue(s, "bind", TTL, toks[i], &rec);
        expires = rec.expires_at_epoch > expires ? rec.expires_at_epoch : expires;
        pairtok_record_clear(&rec);
        die_in_bind(f, toks[i]);
    }
    issue(s, "keep", 600, keep, NULL);
    problems p;
    assert_int_equal(check(s, &p), dead);
    for (size_t i = 0; i < dead; i++) {
        assert_refused(s, toks[i]);
        assert_reported(&p, toks[i]);
    }
    cli_result cli;
    run_cli(f, &cli, "check", NULL);
    assert_int_equal(cli.status, 3);
    assert_contains(cli.out, "reserved by a redeem that did not finish");
    /* Before expiry prune keeps them, and they stay refused. */
    size_t removed = 99;
    pairtok_error err;
    assert_ok(pairtok_prune(s, &removed, &err), &err);
    assert_int_equal(removed, 0);
    assert_int_equal(check(s, &p), dead);
    /* The server's clock is this machine's: wait until they expired. */
    while (pairtok_now_epoch() <= expires) {
        sleep_us(100000);
    }
    for (size_t i = 0; i < dead; i++) {
        assert_refused(s, toks[i]);
    }
    assert_ok(pairtok_prune(s, &removed, &err), &err);
    assert_int_equal(removed, dead);
    assert_int_equal(check(s, &p), 0);
    for (size_t i = 0; i < dead; i++) {
        assert_refused(s, toks[i]);
    }
    /* Prune took only those: the live token is still redeemable. */
    assert_ok(pairtok_redeem(s, keep, NULL, NULL, NULL, &err), &err);
    assert_int_equal(live_count(s, NULL), 0);
    pairtok_store_close(s);
    print_message("# bind: %zu clients died inside bind: every token refused, reported, kept "
                  "by prune before expiry and removed after\n",
                  dead);
}

/* ---------------------------------------------------------------------- */
/* outage: the server stops in the middle of a stream of redeems.         */
/* ---------------------------------------------------------------------- */

/* One redeem of the stream, as the streaming child reports it: one write
 * of less than PIPE_BUF, so atomic. */
typedef struct stream_rec {
    uint32_t idx;
    int32_t status;
    char message[512];
} stream_rec;

/* The stream: one handle redeems every token in order; after an error it
 * tries the same token again, a few times a second, until the server is
 * back (or a minute has passed). */
static void streamer(const fixture *f, char (*toks)[PAIRTOK_TOKEN_LEN + 1], uint32_t n, int out)
{
    pairtok_store *s = child_open(f, false);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t i = 0; i < n; i++) {
        pairtok_status st;
        do {
            stream_rec r = {.idx = i};
            pairtok_error err;
            st = pairtok_redeem(s, toks[i], NULL, NULL, NULL, &err);
            r.status = (int32_t)st;
            snprintf(r.message, sizeof r.message, "%.500s", st == PAIRTOK_OK ? "" : err.message);
            if (write(out, &r, sizeof r) != (ssize_t)sizeof r || seconds_since(&t0) > 60) {
                _exit(CHILD_OTHER);
            }
            /* Paced, so that the stream is still running when the
             * server goes away. */
            sleep_us(st == PAIRTOK_EIO ? 20000 : 5000);
        } while (st == PAIRTOK_EIO);
    }
    pairtok_store_close(s);
    _exit(CHILD_WON);
}

typedef struct stream_view {
    uint32_t n;
    bool *used;    /* redeemed by the stream */
    bool *unknown; /* the last error of this token left its outcome unknown */
    unsigned errors, unknown_outcomes, spent_unseen, ok_after_errors;
    uint32_t seen;       /* tokens the stream has finished */
    uint32_t last_error; /* index of the last token that met an error, +1 */
} stream_view;

/* Check one record against what came before it. */
static void stream_judge(stream_view *v, const stream_rec *r, const char *display)
{
    assert_true(r->idx < v->n);
    if (r->status == PAIRTOK_OK) {
        assert_false(v->used[r->idx]);
        v->used[r->idx] = true;
        v->ok_after_errors += v->last_error > 0;
        v->seen = r->idx + 1;
    } else if (r->status == PAIRTOK_EIO) {
        /* A clear error: the store, and what happened to the server. */
        assert_contains(r->message, display);
        if (strstr(r->message, "cannot connect") == NULL &&
            strstr(r->message, "connection") == NULL) {
            fail_msg("token %u: an unclear error: %s", r->idx, r->message);
        }
        v->unknown[r->idx] = strstr(r->message, "outcome is unknown") != NULL;
        v->unknown_outcomes += v->unknown[r->idx];
        v->errors++;
        v->last_error = r->idx + 1;
    } else if (r->status == PAIRTOK_EDENIED) {
        /* Spent by a redeem whose answer was lost: only after an error that said so. */
        if (!v->unknown[r->idx]) {
            fail_msg("token %u refused, but its last error said nothing was committed", r->idx);
        }
        v->spent_unseen++;
        v->seen = r->idx + 1;
    } else {
        fail_msg("token %u: status %d: %s", r->idx, (int)r->status, r->message);
    }
}

/* Read and judge records until `until` says stop (or the stream ends:
 * false). */
static bool stream_follow(int in, stream_view *v, const char *display,
                          bool (*until)(const stream_view *v, const stream_rec *r))
{
    stream_rec r;
    ssize_t got;
    while ((got = read(in, &r, sizeof r)) == (ssize_t)sizeof r) {
        stream_judge(v, &r, display);
        if (until != NULL && until(v, &r)) {
            return true;
        }
    }
    assert_int_equal(got, 0);
    return false;
}

static bool stream_started(const stream_view *v, const stream_rec *r)
{
    (void)r;
    return v->seen >= v->n / 6;
}

static bool stream_failed(const stream_view *v, const stream_rec *r)
{
    (void)v;
    return r->status == PAIRTOK_EIO;
}

/* While the server is down: the CLI fails with exit 3 and says why. */
static void cli_during_outage(const fixture *f, const char *tok)
{
    cli_result cli;
    run_cli(f, &cli, "redeem", tok, NULL);
    assert_int_equal(cli.status, 3);
    assert_contains(cli.out, "cannot connect");
}

static void server_crash_mid_stream_uses_no_token_twice(void **state)
{
    fixture *f = *state;
    uint32_t n = tu_scale(300, 200);
    pairtok_options many = {.max_per_principal = 1000};
    pairtok_store *s = tu_open_with(f->uri, &many);
    const char *display = pairtok_store_path(s);
    char(*toks)[PAIRTOK_TOKEN_LEN + 1] = calloc(n, sizeof *toks);
    char spare[PAIRTOK_TOKEN_LEN + 1];
    for (uint32_t i = 0; i < n; i++) {
        issue(s, "stream", 600, toks[i], NULL);
    }
    issue(s, "spare", 600, spare, NULL);
    stream_view v = {.n = n, .used = calloc(n, 1), .unknown = calloc(n, 1)};
    int out[2];
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(out[0]);
        streamer(f, toks, n, out[1]);
    }
    close(out[1]);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(stream_follow(out[0], &v, display, stream_started));
    assert_int_equal(run_pg_ctl("crash"), 0);
    uint32_t crashed_at = v.seen;
    assert_true(stream_follow(out[0], &v, display, stream_failed));
    cli_during_outage(f, spare);
    assert_int_equal(run_pg_ctl("start"), 0);
    double outage = seconds_since(&t0);
    stream_follow(out[0], &v, display, NULL);
    close(out[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_WON);
    /* The stream finished every token, with the one handle, after the
     * restart too. */
    assert_int_equal(v.seen, n);
    assert_true(v.ok_after_errors > 0);
    /* No token is redeemable again, whatever the stream saw. */
    pairtok_error err;
    for (uint32_t i = 0; i < n; i++) {
        assert_status(pairtok_redeem(s, toks[i], NULL, NULL, NULL, &err), PAIRTOK_EDENIED, &err);
    }
    assert_int_equal(live_count(s, "stream"), 0);
    /* And the CLI works again on the spare token, refused at last. */
    cli_result cli;
    run_cli(f, &cli, "redeem", spare, NULL);
    assert_int_equal(cli.status, 0);
    assert_contains(cli.out, "spare");
    run_cli(f, &cli, "redeem", spare, NULL);
    assert_int_equal(cli.status, 1);
    pairtok_store_close(s);
    print_message("# outage: %u redeems in one stream, server crashed after %u: %u errors "
                  "(%u of unknown outcome, %u of those spent), %u redeems after the restart on "
                  "the same handle, no token twice; %.1f s to the restart\n",
                  n, crashed_at, v.errors, v.unknown_outcomes, v.spent_unseen, v.ok_after_errors,
                  outage);
    free(v.used);
    free(v.unknown);
    free(toks);
}

/* ---------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
    (void)argc;
    tu_run_under_pg(argv);
    if (sodium_init() < 0) {
        return 1;
    }
    tu_fail_via(tu_cmocka_fail);
    const struct CMUnitTest tests[] = {
        T(racing_redeemers_have_exactly_one_winner),
        T(racing_issuers_respect_the_per_principal_cap),
        T(clients_killed_mid_redeem_never_use_a_token_twice),
        T(client_dying_in_bind_leaves_a_reservation_prune_removes),
        /* Last: it stops the server. */
        T(server_crash_mid_stream_uses_no_token_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
