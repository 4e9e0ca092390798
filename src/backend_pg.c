/* SPDX-License-Identifier: ISC */
/*
 * backend_pg.c - the PostgreSQL backend: the handle, the verbs of
 * backend.h, and how the caps are kept under concurrency.  Transactions
 * are in pg_txn.c, the connection in pg_conn.c, the SQL in pg_sql.c.
 *
 * Opening.  backend_pg_open() checks the URI and connects nothing; the
 * first begin (or check, or init) connects (pg_conn.c), so opening a store
 * stays free of I/O as it is for a file, and an unreachable server is
 * reported by the first call that needs it (PAIRTOK_EIO, with libpq's
 * reason and the URI with its password masked).
 *
 * Issue.  backend_ops.issue sends, with one Sync and so in one round trip
 * that also commits: the principal's pg_advisory_xact_lock and the total
 * cap's lock, in a statement of their own (pg_txn.c), then PG_ISSUE
 * (pg_sql.c), which counts and inserts only if the caps allow, and now
 * and then a pruning that runs only if the token was added.  READ
 * COMMITTED takes a statement's snapshot when the statement starts, so
 * the count sees every token of the principal committed by the issues
 * that held the lock before, and the count and insert of two issues for
 * one principal never interleave.  A refused issue has changed nothing;
 * a second transaction under the same locks then finds which cap refused
 * it, for the message (refusals are rare: the common issue pays for one
 * round trip).
 *
 * The total cap.  Counting the live tokens on every issue would read up
 * to max_total rows (a million, in the benchmark).  Instead an issue reads
 * a bound B >= live tokens (a sequence less a base, pg_sql.c: what adds
 * tokens raises it in the same statement, nothing lowers it but a
 * recount) while holding the cap lock SHARED, in a statement that starts
 * after the lock is granted.  It passes when B + C <= max_total, C being
 * the most transactions the server runs at once (max_connections +
 * max_prepared_transactions).  Why that holds: take the issue that read B
 * last; every token committed since its statement started comes from a
 * transaction that was already running then - fewer than C besides it -
 * and so does every issue still running; so committed plus running issues
 * are at most B + C <= max_total, at any time.  Near the cap that margin
 * would refuse issues the cap allows, so a handle that finds B + C above
 * the cap switches to taking the cap lock EXCLUSIVELY: those issues run
 * one at a time, count the live tokens exactly first (PG_RECOUNT, through
 * the expiry index, at most max_total of them), which sets the bound to
 * that count, and pass with no margin; the handle goes back to the shared
 * lock once the count leaves room for C more.  An issue that finds itself
 * near the cap while holding the lock shared cannot upgrade it (two such
 * issues would deadlock): it changes nothing and returns BACKEND_RETRY,
 * and store.c runs it again, now exclusively.  Save applies no caps and
 * takes no cap lock; tokens added by hand (SQL) are not in the bound until
 * `pairtok init` recounts (check reports it).
 *
 * The verbs count, remove and insert, inside a transaction begun with a
 * principal, take the same locks first and count exactly: correct, and
 * slower; store.c uses issue.
 *
 * Redeem.  take is one `DELETE ... RETURNING` with the redeemable
 * condition in its WHERE clause, reserve one guarded `UPDATE ... WHERE
 * reserved_by IS NULL ... RETURNING`, settle one statement guarded by the
 * reservation id: of any number of racing clients at most one finds the
 * token.  A reservation is never taken over: a client that dies after
 * reserving leaves the token unredeemable until it expires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pg.h"

static pg_backend *pg_of(backend *b)
{
    return (pg_backend *)b;
}

/* ---------------------------------------------------------------------- */
/* Parameters and results.                                                */
/* ---------------------------------------------------------------------- */

typedef char number_buf[24];

static const char *number_param(uint64_t v, number_buf buf)
{
    snprintf(buf, sizeof(number_buf), "%llu", (unsigned long long)v);
    return buf;
}

/* A time: NULL (the server's now()) for BACKEND_NOW. */
static const char *time_param(uint64_t now, number_buf buf)
{
    return now == BACKEND_NOW ? NULL : number_param(now, buf);
}

static void hash_hex(const unsigned char hash[BACKEND_HASH_BYTES], char hex[PAIRTOK_HASH_LEN + 1])
{
    sodium_bin2hex(hex, PAIRTOK_HASH_LEN + 1, hash, BACKEND_HASH_BYTES);
}

/* bytea in text form: \x and hex digits. */
static void rid_param(const unsigned char rid[BACKEND_RID_BYTES],
                      char out[2 * BACKEND_RID_BYTES + 3])
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * BACKEND_RID_BYTES + 1, rid, BACKEND_RID_BYTES);
}

/* ---------------------------------------------------------------------- */
/* Transactions (pg_txn.c).                                               */
/* ---------------------------------------------------------------------- */

static pairtok_status pg_begin(backend *b, backend_mode mode, const char *lock_principal,
                               uint64_t *now, bool *exists, pairtok_error *err)
{
    (void)now; /* BACKEND_NOW or the caller's: each statement takes it as a parameter */
    return pg_txn_begin(pg_of(b), mode, lock_principal, exists, err);
}

static pairtok_status pg_commit(backend *b, pairtok_error *err)
{
    return pg_txn_commit(pg_of(b), err);
}

static void pg_end(backend *b)
{
    pg_txn_end(pg_of(b));
}

/* ---------------------------------------------------------------------- */
/* Selections: count, read, remove.                                       */
/* ---------------------------------------------------------------------- */

/* A selection's parameters: the key (none for SEL_ALL), then the bound of
 * live_only. */
typedef struct sel_params {
    const char *values[4];
    int count;
    number_buf key_time, live_time;
    char key[PAIRTOK_HASH_LEN + 1];
} sel_params;

static pg_stmt sel_params_fill(const backend_sel *sel, pg_stmt first, sel_params *p)
{
    p->count = 0;
    switch (sel->kind) {
    case SEL_ALL:
        break;
    case SEL_PRINCIPAL:
        p->values[p->count++] = sel->principal;
        break;
    case SEL_ID_PREFIX: {
        size_t len = sel->prefix_len < PAIRTOK_HASH_LEN ? sel->prefix_len : PAIRTOK_HASH_LEN;
        memcpy(p->key, sel->prefix, len);
        p->key[len] = '\0';
        p->values[p->count++] = p->key;
        break;
    }
    case SEL_EXPIRED:
        p->values[p->count++] = time_param(sel->now, p->key_time);
        break;
    case SEL_HASH:
        hash_hex(sel->hash, p->key);
        p->values[p->count++] = p->key;
        break;
    }
    p->values[p->count++] = sel->live_only ? time_param(sel->now, p->live_time) : "-Infinity";
    /* The statements of each verb are in the order of backend_sel_kind. */
    return (pg_stmt)((int)first + (int)sel->kind);
}

static pairtok_status pg_count(backend *b, const backend_sel *sel, size_t limit, size_t *n,
                               pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    sel_params p;
    number_buf limit_buf;
    pg_stmt stmt = sel_params_fill(sel, PG_COUNT_ALL, &p);
    p.values[p.count++] = number_param(limit, limit_buf);
    PGresult *res = NULL;
    uint64_t found = 0;
    pairtok_status st = pg_txn_run(pg, stmt, p.values, p.count, "count", &res, err);
    if (st == PAIRTOK_OK && !pg_get_u64(res, 0, 0, &found)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "count: unexpected answer");
    }
    PQclear(res);
    *n = (size_t)found;
    return st;
}

static pairtok_status pg_read(backend *b, const backend_sel *sel, pairtok_record_list *out,
                              pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    sel_params p;
    pg_stmt stmt = sel_params_fill(sel, PG_READ_ALL, &p);
    PGresult *res = NULL;
    pairtok_status st = pg_txn_run(pg, stmt, p.values, p.count, "read", &res, err);
    if (st == PAIRTOK_OK) {
        st = pg_list_append(pg, out, res, err);
    }
    PQclear(res);
    return st;
}

static size_t rows_affected(const PGresult *res)
{
    return (size_t)strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

static pairtok_status pg_remove(backend *b, const backend_sel *sel, size_t *removed,
                                pairtok_record_list *gone, pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    sel_params p;
    pg_stmt stmt = sel_params_fill(sel, PG_REMOVE_ALL, &p);
    PGresult *res = NULL;
    pairtok_status st = pg_txn_run(pg, stmt, p.values, p.count, "remove", &res, err);
    *removed = st == PAIRTOK_OK ? rows_affected(res) : 0;
    if (st == PAIRTOK_OK && gone != NULL && PQntuples(res) > 0) {
        st = pg_list_append(pg, gone, res, err);
    }
    PQclear(res);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Insert and redeem.                                                     */
/* ---------------------------------------------------------------------- */

/* The transaction's now() in whole seconds. */
static pairtok_status txn_now(pg_backend *pg, uint64_t *now, pairtok_error *err)
{
    PGresult *res = NULL;
    pairtok_status st = pg_txn_run(pg, PG_NOW, NULL, 0, "reading the time", &res, err);
    if (st == PAIRTOK_OK && !pg_get_u64(res, 0, 0, now)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "reading the time: unexpected answer");
    }
    PQclear(res);
    return st;
}

/* Queued, not sent: its result is read with the commit's, and a failure
 * is reported by commit (nothing is durable before it anyway). */
static pairtok_status pg_insert(backend *b, pairtok_record *rec, uint32_t ttl, pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    pairtok_status st = pg_txn_start(pg, err);
    if (st == PAIRTOK_OK && rec->issued_at_epoch == BACKEND_NOW) {
        uint64_t now = 0;
        st = txn_now(pg, &now, err);
        rec->issued_at_epoch = now;
        rec->expires_at_epoch = now + ttl;
    }
    if (st != PAIRTOK_OK) {
        return st;
    }
    number_buf issued, expires;
    const char *params[] = {rec->token_hash, rec->principal, rec->label,
                            number_param(rec->issued_at_epoch, issued),
                            number_param(rec->expires_at_epoch, expires)};
    pg_item item = PG_ITEM("issue", NULL);
    item.insert = true;
    st = pg_queue(pg, PG_INSERT, params, 5, item, err);
    if (st != PAIRTOK_OK) {
        pg->tx.state = PG_TX_FAILED;
    }
    return st;
}

/* ---------------------------------------------------------------------- */
/* Issue in one round trip (see the top of this file).                    */
/* ---------------------------------------------------------------------- */

/* One issue in PRUNE_EVERY of a handle prunes a batch: that still removes
 * expired tokens faster than issues can add them, and keeps the other
 * issues from paying for the pruning. */
#define PRUNE_EVERY 8

/* The locks, the exact count when near the cap, PG_ISSUE and, in one
 * issue of PRUNE_EVERY, its pruning; committed.  *res has a row when the
 * token was added. */
static pairtok_status send_issue(pg_backend *pg, const backend_issue *op, PGresult **recount,
                                 PGresult **res, PGresult **pruned, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    number_buf now, ttl, mine_cap, total_cap, margin;
    const pairtok_record *rec = op->rec;
    const char *params[] = {rec->token_hash,
                            rec->principal,
                            rec->label,
                            time_param(op->now, now),
                            number_param(op->ttl, ttl),
                            number_param(op->max_per_principal, mine_cap),
                            number_param(op->max_total, total_cap),
                            number_param(tx->cap_exclusive ? 0 : pg->backends, margin)};
    pg_item item = PG_ITEM("issue", res);
    item.insert = true;
    pairtok_status st = pg_txn_start(pg, err);
    if (st == PAIRTOK_OK && tx->cap_exclusive) {
        const char *recount_params[] = {params[3], params[6]};
        st = pg_queue(pg, PG_RECOUNT, recount_params, 2, PG_ITEM("issue: counting", recount), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, PG_ISSUE, params, 8, item, err);
    }
    if (st == PAIRTOK_OK && pg->issues++ % PRUNE_EVERY == 0) {
        const char *prune_params[] = {params[0], params[3]};
        st = pg_queue(pg, PG_ISSUE_PRUNE, prune_params, 2, PG_ITEM("issue: pruning", pruned), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush_commit(pg, err);
    }
    pg_txn_committed(pg, st);
    return st;
}

/* Why the issue was refused, asked under the same locks: the principal's
 * cap (op->principal_live), the total cap counted exactly (`live`, from
 * the exclusive path: op->total_live), or neither any more (a redeem got
 * in between, or the handle is near the cap with the lock shared):
 * BACKEND_RETRY, and store.c runs it again. */
static pairtok_status issue_refused(pg_backend *pg, backend_issue *op, uint64_t live,
                                    pairtok_error *err)
{
    number_buf now, mine_cap;
    const char *params[] = {op->rec->principal, time_param(op->now, now),
                            number_param(op->max_per_principal, mine_cap)};
    PGresult *res = NULL;
    uint64_t mine = 0, bound = 0;
    pairtok_status st = pg_txn_start(pg, err);
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, PG_ISSUE_CAPS, params, 3, PG_ITEM("issue: counting", &res), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    pg_txn_committed(pg, st);
    if (st == PAIRTOK_OK && !(pg_get_u64(res, 0, 0, &mine) && pg_get_u64(res, 0, 1, &bound))) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "issue: counting: unexpected answer");
    }
    PQclear(res);
    if (st != PAIRTOK_OK) {
        return st;
    }
    op->principal_live = (size_t)mine;
    if (mine >= op->max_per_principal) {
        return PAIRTOK_OK;
    }
    if (pg->tx.cap_exclusive && live >= op->max_total) {
        op->total_live = op->max_total;
        return PAIRTOK_OK;
    }
    if (!pg->tx.cap_exclusive && bound + pg->backends > op->max_total) {
        pg->near_cap = true;
    }
    return pg_fail(pg, err, BACKEND_RETRY,
                   "issue: refused with up to %llu tokens stored, near the total cap of %zu: to "
                   "run again",
                   (unsigned long long)bound, op->max_total);
}

static pairtok_status pg_issue(backend *b, backend_issue *op, pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    PGresult *recount = NULL, *res = NULL, *pruned = NULL;
    uint64_t live = 0, at = 0;
    op->added = false;
    op->pruned = 0;
    pairtok_status st = send_issue(pg, op, &recount, &res, &pruned, err);
    bool added = st == PAIRTOK_OK && PQntuples(res) > 0;
    if (st == PAIRTOK_OK && added && !pg_get_u64(res, 0, 0, &at)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "issue: unexpected answer");
    }
    if (st == PAIRTOK_OK && recount != NULL && !pg_get_u64(recount, 0, 0, &live)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "issue: counting: unexpected answer");
    }
    size_t removed = st == PAIRTOK_OK && pruned != NULL ? rows_affected(pruned) : 0;
    PQclear(recount);
    PQclear(res);
    PQclear(pruned);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (pg->tx.cap_exclusive) {
        pg->near_cap = live + pg->backends > op->max_total;
    }
    if (!added) {
        return issue_refused(pg, op, live, err);
    }
    op->added = true;
    op->pruned = removed;
    op->rec->issued_at_epoch = at;
    op->rec->expires_at_epoch = at + op->ttl;
    return PAIRTOK_OK;
}

/* take and reserve: run the statement, copy the row it returns. */
static pairtok_status redeem_row(pg_backend *pg, pg_stmt stmt, const char *const *params, int n,
                                 pairtok_record *out, bool *found, pairtok_error *err)
{
    PGresult *res = NULL;
    *found = false;
    memset(out, 0, sizeof *out);
    pairtok_status st = pg_txn_single(pg, stmt, params, n, "redeem", &res, err);
    if (st == PAIRTOK_OK && PQntuples(res) > 0) {
        st = pg_record_from_row(pg, res, 0, out, err);
        *found = st == PAIRTOK_OK;
    }
    PQclear(res);
    return st;
}

static pairtok_status pg_take(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                              uint64_t now, pairtok_record *out, bool *found, pairtok_error *err)
{
    char hex[PAIRTOK_HASH_LEN + 1];
    number_buf now_buf;
    hash_hex(hash, hex);
    const char *params[] = {hex, time_param(now, now_buf)};
    return redeem_row(pg_of(b), PG_TAKE, params, 2, out, found, err);
}

static pairtok_status pg_reserve(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                                 const unsigned char rid[BACKEND_RID_BYTES], uint64_t now,
                                 pairtok_record *out, bool *found, pairtok_error *err)
{
    char hex[PAIRTOK_HASH_LEN + 1], rid_text[2 * BACKEND_RID_BYTES + 3];
    number_buf now_buf;
    hash_hex(hash, hex);
    rid_param(rid, rid_text);
    const char *params[] = {hex, time_param(now, now_buf), rid_text};
    return redeem_row(pg_of(b), PG_RESERVE, params, 3, out, found, err);
}

static pairtok_status pg_settle(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                                const unsigned char rid[BACKEND_RID_BYTES], bool consume,
                                bool *found, pairtok_error *err)
{
    pg_backend *pg = pg_of(b);
    char hex[PAIRTOK_HASH_LEN + 1], rid_text[2 * BACKEND_RID_BYTES + 3];
    hash_hex(hash, hex);
    rid_param(rid, rid_text);
    const char *params[] = {hex, rid_text};
    PGresult *res = NULL;
    pairtok_status st =
        pg_txn_single(pg, consume ? PG_CONSUME : PG_RELEASE, params, 2,
                      consume ? "redeem: consuming" : "redeem: releasing", &res, err);
    *found = st == PAIRTOK_OK && rows_affected(res) > 0;
    PQclear(res);
    return st;
}

/* ---------------------------------------------------------------------- */
/* The handle.                                                            */
/* ---------------------------------------------------------------------- */

static void pg_close(backend *b)
{
    pg_backend *pg = pg_of(b);
    if (pg == NULL) {
        return;
    }
    pg_disconnect(pg);
    if (pg->uri != NULL) {
        sodium_memzero(pg->uri, strlen(pg->uri));
        free(pg->uri);
    }
    free(pg);
}

static const backend_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .end = pg_end,
    .count = pg_count,
    .read = pg_read,
    .insert = pg_insert,
    .remove = pg_remove,
    .issue = pg_issue,
    .take = pg_take,
    .reserve = pg_reserve,
    .settle = pg_settle,
    .save = pg_save,
    .check = pg_check,
    .init = pg_init,
};

static void apply_defaults(pairtok_options *o)
{
    if (o->lock_timeout_ms == 0) {
        o->lock_timeout_ms = PAIRTOK_DEFAULT_LOCK_TIMEOUT_MS;
    }
    if (o->max_per_principal == 0) {
        o->max_per_principal = PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL;
    }
    if (o->max_total == 0) {
        o->max_total = PAIRTOK_DEFAULT_MAX_TOTAL;
    }
}

pairtok_status backend_pg_open(const char *location, const pairtok_options *opts, backend **out,
                               pairtok_error *err)
{
    *out = NULL;
    pg_backend *pg = calloc(1, sizeof *pg);
    if (pg == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, errno, "out of memory");
    }
    pairtok_status st = pg_uri_check(location, pg->base.display, sizeof pg->base.display, err);
    if (st == PAIRTOK_OK && (pg->uri = strdup(location)) == NULL) {
        st = pt_fail(err, PAIRTOK_ENOMEM, errno, "out of memory");
    }
    if (st != PAIRTOK_OK) {
        free(pg);
        return st;
    }
    pg->base.ops = &pg_ops;
    if (opts != NULL) {
        pg->opts = *opts;
    }
    apply_defaults(&pg->opts);
    pg->schema = -1;
    pg->failed_index = SIZE_MAX;
    *out = &pg->base;
    return PAIRTOK_OK;
}
