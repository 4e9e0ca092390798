/* SPDX-License-Identifier: ISC */
/*
 * test_concurrency.c - many processes (and handles) on one store.
 *
 * mixed:  P = 2, 4, 8, 16 processes x K operations each, every process with
 *         its own handle, mixing issue, redeem (plain and two-phase, with
 *         binds that sometimes refuse), revoke by id, revoke by principal,
 *         prune and list on one store.  Every process logs what it did and
 *         what it got to its own file.  At the end: every issued token was
 *         redeemed at most once and is redeemed, revoked, expired-and-gone
 *         or still present (and nothing else); no token both redeemed and
 *         revoked; a redeem only succeeded for a live token; the file loads
 *         and pairtok_check_at reports 0 problems.
 * race:   16 processes released together redeem one token; exactly one
 *         wins, 200 times (half of them two-phase); and 8 processes with
 *         default options, not held back, 5 times.
 * handles: two handles in one process serialise (the second gets EBUSY
 *         while the first holds the lock in its bind callback), see each
 *         other's writes through their caches, and threads with their own
 *         handles lose no update.
 */
#include <errno.h>
#include <pthread.h>
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

/* The store is <root>/pair-tokens.toml. */
typedef tu_site fixture;

static int setup(void **state)
{
    fixture *f = tu_site_new("conc", NULL);
    f->opts.max_per_principal = 100000;
    f->opts.max_total = 100000;
    f->opts.lock_timeout_ms = 60000; /* never the point here */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    tu_site_delete(*state);
    return 0;
}

/* xorshift64*: a per-process, reproducible stream. */
static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Du;
}

/* ---------------------------------------------------------------------- */
/* Mixed operations.                                                      */
/* ---------------------------------------------------------------------- */

#define POOL_MAX 512

typedef struct shared_pool {
    size_t n;
    char tok[POOL_MAX][PAIRTOK_TOKEN_LEN + 1];
} shared_pool;

static FILE *logf_;

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(logf_, fmt, ap);
    va_end(ap);
    fputc('\n', logf_);
}

static int bind_maybe(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    uint64_t *rng = ctx;
    return next_rand(rng) % 4 == 0 ? 1 : 0; /* a quarter refuse */
}

static void unexpected(const char *op, pairtok_status st, const pairtok_error *err)
{
    logline("E %s %d %s", op, st, err->message);
    fflush(logf_);
    _exit(1);
}

/* One worker: K operations; "now" is the op index, so every process's
 * clock runs over the same range. */
static void worker(const fixture *f, const shared_pool *pool, unsigned id, unsigned k,
                   const char *log_path)
{
    logf_ = fopen(log_path, "w");
    if (logf_ == NULL) {
        _exit(2);
    }
    pairtok_store *s = tu_open(f);
    uint64_t rng = 0x9E3779B97F4A7C15u * (id + 1);
    char principal[16];
    snprintf(principal, sizeof principal, "w%u", id);
    char mine[64][PAIRTOK_TOKEN_LEN + 1];
    size_t n_mine = 0;
    pairtok_error err;
    for (unsigned i = 0; i < k; i++) {
        uint64_t now = TU_T0 + i;
        unsigned op = (unsigned)(next_rand(&rng) % 100);
        if (op < 30 && n_mine < 64) {
            char tok[PAIRTOK_TOKEN_LEN + 1];
            uint32_t ttl = next_rand(&rng) % 2 ? 5 : 600;
            pairtok_status st = pairtok_issue_at(s, principal, "w", ttl, tok, NULL, now, &err);
            if (st != PAIRTOK_OK) {
                unexpected("issue", st, &err);
            }
            memcpy(mine[n_mine++], tok, sizeof tok);
            logline("I %s %llu %llu", tok, (unsigned long long)now,
                    (unsigned long long)(now + ttl));
        } else if (op < 65) {
            /* Redeem: from the shared pool (races) or one of our own. */
            const char *tok = (op % 2 == 0 || n_mine == 0) ? pool->tok[next_rand(&rng) % pool->n]
                                                           : mine[next_rand(&rng) % n_mine];
            bool two_phase = next_rand(&rng) % 2;
            pairtok_status st =
                pairtok_redeem_at(s, tok, two_phase ? bind_maybe : NULL, &rng, NULL, now, &err);
            if (st != PAIRTOK_OK && st != PAIRTOK_EDENIED && st != PAIRTOK_EABORTED) {
                unexpected("redeem", st, &err);
            }
            if (st == PAIRTOK_EABORTED && strstr(err.message, "still redeemable") == NULL) {
                unexpected("redeem-abort", st, &err);
            }
            logline("R %s %llu %s", tok, (unsigned long long)now,
                    st == PAIRTOK_OK        ? "ok"
                    : st == PAIRTOK_EDENIED ? "denied"
                                            : "aborted");
        } else if (op < 77) {
            const char *tok = pool->tok[next_rand(&rng) % pool->n];
            char hash[PAIRTOK_HASH_LEN + 1];
            pairtok_hash_token(tok, hash);
            hash[16] = '\0';
            size_t removed;
            pairtok_status st = pairtok_revoke_id(s, hash, &removed, &err);
            if (st != PAIRTOK_OK && st != PAIRTOK_ENOTFOUND) {
                unexpected("revoke", st, &err);
            }
            logline("V %s %s", tok, st == PAIRTOK_OK ? "ok" : "notfound");
        } else if (op < 80) {
            size_t removed;
            pairtok_status st = pairtok_revoke_principal(s, principal, &removed, &err);
            if (st != PAIRTOK_OK) {
                unexpected("revoke-principal", st, &err);
            }
            logline("Q %zu", removed);
            n_mine = 0; /* all gone */
        } else if (op < 90) {
            size_t removed;
            pairtok_status st = pairtok_prune_at(s, &removed, now, &err);
            if (st != PAIRTOK_OK) {
                unexpected("prune", st, &err);
            }
            logline("P %zu", removed);
        } else {
            pairtok_record_list list = {0};
            pairtok_status st = pairtok_list_at(s, NULL, &list, now, &err);
            if (st != PAIRTOK_OK) {
                unexpected("list", st, &err);
            }
            for (size_t j = 0; j < list.count; j++) {
                if (list.items[j].expires_at_epoch <= now) {
                    logline("E list shows an expired token");
                    _exit(1);
                }
            }
            logline("L %zu", list.count);
            pairtok_record_list_free(&list);
        }
    }
    pairtok_store_close(s);
    fclose(logf_);
    _exit(0);
}

/* Everything known about one token at the end. */
typedef struct tok_state {
    char tok[PAIRTOK_TOKEN_LEN + 1];
    char hash[PAIRTOK_HASH_LEN + 1];
    uint64_t expires;
    int owner;          /* worker that issued it, -1 for the pool */
    unsigned issue_seq; /* line of the owner's log that issued it */
    unsigned redeemed, revoked;
    bool principal_revoked; /* owner revoked its principal after issuing */
} tok_state;

typedef struct model {
    tok_state *t;
    size_t n, cap;
} model;

static tok_state *find(model *m, const char *tok)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strncmp(m->t[i].tok, tok, PAIRTOK_TOKEN_LEN) == 0) {
            return &m->t[i];
        }
    }
    return NULL;
}

static tok_state *add(model *m, const char *tok, uint64_t expires, int owner, unsigned seq)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->t = realloc(m->t, m->cap * sizeof *m->t);
        assert_non_null(m->t);
    }
    tok_state *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->tok, tok, PAIRTOK_TOKEN_LEN);
    pairtok_hash_token(t->tok, t->hash);
    t->expires = expires;
    t->owner = owner;
    t->issue_seq = seq;
    return t;
}

static void run_mixed(fixture *f, unsigned procs, unsigned k)
{
    tu_empty_dir(f->root);
    /* The shared pool: issued before the workers start, so all know it. */
    static shared_pool pool;
    pool.n = procs * 4 < POOL_MAX ? procs * 4 : POOL_MAX;
    model m = {0};
    pairtok_store *s = tu_open(f);
    pairtok_error err;
    for (size_t i = 0; i < pool.n; i++) {
        uint32_t ttl = i % 3 == 0 ? k / 2 + 1 : 3600; /* a third expire midway */
        assert_int_equal(pairtok_issue_at(s, "pool", NULL, ttl, pool.tok[i], NULL, TU_T0, &err),
                         PAIRTOK_OK);
        add(&m, pool.tok[i], TU_T0 + ttl, -1, 0);
    }
    pairtok_store_close(s);

    pid_t pids[16];
    char logs[16][PAIRTOK_PATH_MAX];
    fflush(NULL);
    for (unsigned w = 0; w < procs; w++) {
        snprintf(logs[w], sizeof logs[w], "%s/w%u.log", f->root, w);
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            worker(f, &pool, w, k, logs[w]);
        }
    }
    for (unsigned w = 0; w < procs; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            tu_blob b = tu_read_file(logs[w]);
            fail_msg("worker %u failed (status %#x):\n%s", w, status, b.exists ? b.data : "");
        }
    }

    /* Replay the logs into the model. */
    unsigned redeems_ok = 0, denied = 0, aborted = 0, issued = 0, revokes = 0;
    for (unsigned w = 0; w < procs; w++) {
        tu_blob b = tu_read_file(logs[w]);
        assert_true(b.exists);
        unsigned seq = 0;
        for (char *line = strtok(b.data, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            seq++;
            char tok[64], what[16];
            unsigned long long a, c;
            size_t n;
            if (sscanf(line, "I %40s %llu %llu", tok, &a, &c) == 3) {
                add(&m, tok, c, (int)w, seq);
                issued++;
            } else if (sscanf(line, "R %40s %llu %15s", tok, &a, what) == 3) {
                tok_state *t = find(&m, tok);
                assert_non_null(t);
                if (strcmp(what, "ok") == 0) {
                    t->redeemed++;
                    redeems_ok++;
                    if (a >= t->expires) {
                        fail_msg("token redeemed at %llu, expired at %llu", a,
                                 (unsigned long long)t->expires);
                    }
                } else {
                    strcmp(what, "denied") == 0 ? denied++ : aborted++;
                }
            } else if (sscanf(line, "V %40s %15s", tok, what) == 2) {
                tok_state *t = find(&m, tok);
                assert_non_null(t);
                t->revoked += strcmp(what, "ok") == 0;
                revokes += strcmp(what, "ok") == 0;
            } else if (sscanf(line, "Q %zu", &n) == 1) {
                for (size_t i = 0; i < m.n; i++) {
                    if (m.t[i].owner == (int)w && m.t[i].issue_seq < seq) {
                        m.t[i].principal_revoked = true;
                    }
                }
            } else if (line[0] != 'P' && line[0] != 'L') {
                fail_msg("worker %u: %s", w, line);
            }
        }
        tu_blob_free(&b);
    }

    /* The final store. */
    s = tu_open(f);
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    size_t problems;
    assert_int_equal(pairtok_check_at(s, NULL, NULL, &problems, TU_T0 + k, &err), PAIRTOK_OK);
    if (problems != 0) {
        fail_msg("check found %zu problem(s)", problems);
    }
    uint64_t last_now = TU_T0 + k - 1;
    for (size_t i = 0; i < m.n; i++) {
        tok_state *t = &m.t[i];
        bool in_store = false;
        for (size_t j = 0; j < list.count && !in_store; j++) {
            in_store = strcmp(list.items[j].token_hash, t->hash) == 0;
        }
        if (t->redeemed > 1) {
            fail_msg("token redeemed %u times", t->redeemed);
        }
        if (t->revoked > 1 || (t->redeemed && t->revoked)) {
            fail_msg("token redeemed %u and revoked %u times", t->redeemed, t->revoked);
        }
        bool gone = t->redeemed || t->revoked || t->principal_revoked;
        if (in_store && gone) {
            fail_msg("token redeemed/revoked but still in the store");
        }
        if (!in_store && !gone && t->expires > last_now) {
            fail_msg("token vanished: not redeemed, revoked or expired");
        }
    }
    /* Nothing in the store that nobody issued. */
    for (size_t j = 0; j < list.count; j++) {
        bool known = false;
        for (size_t i = 0; i < m.n && !known; i++) {
            known = strcmp(list.items[j].token_hash, m.t[i].hash) == 0;
        }
        if (!known) {
            fail_msg("unknown record in the store");
        }
    }
    print_message("# P=%u K=%u: %u issued, %u redeemed, %u denied, %u aborted binds, %u revoked, "
                  "%zu left\n",
                  procs, k, issued, redeems_ok, denied, aborted, revokes, list.count);
    pairtok_record_list_free(&list);
    pairtok_store_close(s);
    free(m.t);
}

static void test_mixed(void **state)
{
    unsigned k = tu_scale(40, 20);
    for (unsigned procs = 2; procs <= 16; procs *= 2) {
        run_mixed(*state, procs, k);
    }
}

/* ---------------------------------------------------------------------- */
/* 16 processes, one token.                                               */
/* ---------------------------------------------------------------------- */

static void test_race_one_token(void **state)
{
    fixture *f = *state;
    tu_empty_dir(f->root);
    unsigned rounds = tu_scale(200, 40);
    enum { RACERS = 16 };
    for (unsigned round = 0; round < rounds; round++) {
        pairtok_store *s = tu_open(f);
        pairtok_error err;
        char tok[PAIRTOK_TOKEN_LEN + 1];
        assert_int_equal(pairtok_issue_at(s, "race", NULL, 300, tok, NULL, TU_T0, &err),
                         PAIRTOK_OK);
        pairtok_store_close(s);
        int gate[2];
        assert_int_equal(pipe(gate), 0);
        pid_t pids[RACERS];
        fflush(NULL);
        for (int i = 0; i < RACERS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(gate[1]);
                pairtok_store *mine = tu_open(f);
                char c;
                if (read(gate[0], &c, 1) != 0) { /* released when the parent closes it */
                    _exit(9);
                }
                pairtok_status st = pairtok_redeem_at(mine, tok, round % 2 ? tu_bind : NULL, NULL,
                                                      NULL, TU_T0 + 1, &err);
                if (st != PAIRTOK_OK && st != PAIRTOK_EDENIED) {
                    fprintf(stderr, "racer: status %d: %s\n", st, err.message);
                }
                _exit(st == PAIRTOK_OK ? 0 : st == PAIRTOK_EDENIED ? 1 : 2);
            }
        }
        close(gate[0]);
        close(gate[1]); /* go */
        int winners = 0, losers = 0;
        for (int i = 0; i < RACERS; i++) {
            int status;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            if (code == 0) {
                winners++;
            } else if (code == 1) {
                losers++;
            } else {
                fail_msg("round %u: racer exit %d", round, code);
            }
        }
        if (winners != 1 || losers != RACERS - 1) {
            fail_msg("round %u: %d winners, %d refused", round, winners, losers);
        }
    }
    pairtok_store *s = tu_open(f);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 0);
    pairtok_store_close(s);
    print_message("# %u rounds of %d racers: one winner each\n", rounds, RACERS);
}

/* Eight processes, each opening its own handle with the default options,
 * redeem one token as they come (no gate): exactly one wins, 5 times. */
static void test_forked_children_race_and_exactly_one_wins(void **state)
{
    fixture *f = *state;
    pairtok_store *s = tu_open_with(f->path, NULL);
    for (int round = 0; round < 5; round++) {
        char token[PAIRTOK_TOKEN_LEN + 1];
        pairtok_error err;
        assert_int_equal(pairtok_issue_at(s, "alice", NULL, 300, token, NULL, TU_T0, &err),
                         PAIRTOK_OK);
        enum { CHILDREN = 8 };
        pid_t pids[CHILDREN];
        for (int i = 0; i < CHILDREN; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                pairtok_store *mine;
                if (pairtok_store_open(f->path, NULL, &mine, &err) != PAIRTOK_OK) {
                    _exit(99);
                }
                pairtok_status st = pairtok_redeem_at(mine, token, NULL, NULL, NULL, TU_T0, &err);
                _exit(st == PAIRTOK_OK ? 0 : st == PAIRTOK_EDENIED ? 1 : 2);
            }
        }
        int wins = 0, losses = 0;
        for (int i = 0; i < CHILDREN; i++) {
            int status;
            waitpid(pids[i], &status, 0);
            wins += WEXITSTATUS(status) == 0;
            losses += WEXITSTATUS(status) == 1;
        }
        assert_int_equal(wins, 1);
        assert_int_equal(losses, CHILDREN - 1);
    }
    pairtok_store_close(s);
}

/* ---------------------------------------------------------------------- */
/* Two handles, one process.                                              */
/* ---------------------------------------------------------------------- */

typedef struct inner {
    const fixture *f;
    pairtok_status second;
    tu_blob during;
} inner;

/* In A's bind callback (A holds the lock), B tries to write. */
static int bind_try_other(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    inner *in = ctx;
    pairtok_options quick = in->f->opts;
    quick.lock_timeout_ms = 30;
    pairtok_store *b;
    pairtok_error err;
    if (pairtok_store_open(in->f->path, &quick, &b, &err) != PAIRTOK_OK) {
        return 1;
    }
    tu_blob before = tu_read_file(in->f->path);
    char tok[PAIRTOK_TOKEN_LEN + 1];
    in->second = pairtok_issue_at(b, "other", NULL, 300, tok, NULL, TU_T0, &err);
    in->during = tu_read_file(in->f->path);
    if (!tu_blob_eq(&before, &in->during)) {
        in->second = PAIRTOK_OK; /* B wrote while A held the lock */
    }
    tu_blob_free(&before);
    pairtok_store_close(b);
    return 0;
}

static void test_two_handles_serialise(void **state)
{
    fixture *f = *state;
    tu_empty_dir(f->root);
    pairtok_store *a = tu_open(f), *b = tu_open(f);
    pairtok_error err;
    char tok[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_issue_at(a, "alice", NULL, 300, tok, NULL, TU_T0, &err), PAIRTOK_OK);
    inner in = {f, PAIRTOK_OK, {0}};
    assert_int_equal(pairtok_redeem_at(a, tok, bind_try_other, &in, NULL, TU_T0, &err), PAIRTOK_OK);
    assert_int_equal(in.second, PAIRTOK_EBUSY);
    tu_blob_free(&in.during);

    /* Caches: each handle sees the other's writes. */
    for (int i = 0; i < 20; i++) {
        pairtok_store *w = i % 2 ? a : b, *r = i % 2 ? b : a;
        assert_int_equal(pairtok_issue_at(w, "alice", NULL, 300, tok, NULL, TU_T0, &err),
                         PAIRTOK_OK);
        pairtok_record_list list = {0};
        assert_int_equal(pairtok_list_at(r, NULL, &list, TU_T0, &err), PAIRTOK_OK);
        assert_int_equal(list.count, 1);
        pairtok_record_list_free(&list);
        assert_int_equal(pairtok_redeem_at(r, tok, NULL, NULL, NULL, TU_T0, &err), PAIRTOK_OK);
        assert_int_equal(pairtok_redeem_at(w, tok, NULL, NULL, NULL, TU_T0, &err), PAIRTOK_EDENIED);
    }
    pairtok_store_close(a);
    pairtok_store_close(b);
}

typedef struct thread_arg {
    const fixture *f;
    unsigned n;
    char tok[32][PAIRTOK_TOKEN_LEN + 1];
    pairtok_status st;
    unsigned redeemed;
    const struct thread_arg *all;
    unsigned threads;
} thread_arg;

static void *issue_thread(void *p)
{
    thread_arg *t = p;
    pairtok_store *s = tu_open(t->f);
    pairtok_error err;
    for (unsigned i = 0; i < t->n && t->st == PAIRTOK_OK; i++) {
        t->st = pairtok_issue_at(s, "thr", NULL, 300, t->tok[i], NULL, TU_T0, &err);
    }
    pairtok_store_close(s);
    return NULL;
}

static void *redeem_thread(void *p)
{
    thread_arg *t = p;
    pairtok_store *s = tu_open(t->f);
    pairtok_error err;
    /* Every thread tries every token: each must go exactly once overall. */
    for (unsigned j = 0; j < t->threads; j++) {
        for (unsigned i = 0; i < t->all[j].n; i++) {
            pairtok_status st =
                pairtok_redeem_at(s, t->all[j].tok[i], NULL, NULL, NULL, TU_T0, &err);
            if (st == PAIRTOK_OK) {
                t->redeemed++;
            } else if (st != PAIRTOK_EDENIED) {
                t->st = st;
            }
        }
    }
    pairtok_store_close(s);
    return NULL;
}

static void test_threads(void **state)
{
    fixture *f = *state;
    tu_empty_dir(f->root);
    enum { THREADS = 4 };
    static thread_arg args[THREADS];
    pthread_t th[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){
            .f = f, .n = tu_scale(25, 10), .st = PAIRTOK_OK, .all = args, .threads = THREADS};
        assert_int_equal(pthread_create(&th[i], NULL, issue_thread, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].st, PAIRTOK_OK);
    }
    pairtok_store *s = tu_open(f);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, THREADS * args[0].n); /* no lost update */
    pairtok_record_list_free(&list);
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, redeem_thread, &args[i]), 0);
    }
    unsigned total = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].st, PAIRTOK_OK);
        total += args[i].redeemed;
    }
    assert_int_equal(total, THREADS * args[0].n); /* each exactly once */
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 0);
    pairtok_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_one_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forked_children_race_and_exactly_one_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_serialise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
