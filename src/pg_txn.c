/* SPDX-License-Identifier: ISC */
/*
 * pg_txn.c - transactions of the PostgreSQL backend: begin, commit, end,
 * and how a verb's statement joins the transaction.
 *
 * begin() makes sure of the connection and of the schema (creating the
 * tables when the mode allows it) and sends nothing: the transaction
 * starts with its first statement, in that statement's round trip.
 *
 * A write transaction is the protocol's implicit transaction: the
 * statements sent before the next Sync, which commits them (or rolls them
 * all back if one failed).  No BEGIN or COMMIT statement is needed: a
 * verb's statements go out with a flush request, which brings their
 * results and leaves the transaction open, and commit() sends the Sync.
 * The session's isolation is READ COMMITTED (set when connecting): each
 * statement takes its snapshot when it starts, which the caps rely on.
 * end() sends ROLLBACK and a Sync if anything is open, and does not wait:
 * the answer is read before the next statement's.
 *
 * A read transaction is an explicit REPEATABLE READ, READ ONLY one, so
 * that all its reads see one snapshot.
 *
 * A transaction begun with a principal (an issue) sends with its first
 * statement the principal's advisory lock and the total cap's lock, in a
 * statement of their own so that what follows takes its snapshot after
 * they are granted.
 *
 * issue (backend_pg.c), and take, reserve and settle when they are the
 * first statement of a transaction (pg_txn_single), go out with the Sync
 * at once: each is atomic by itself and store.c commits right away, so an
 * issue or a redeem costs one round trip.  Such a verb is durable when it
 * returns; commit() then has nothing left to do.
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"

/* The connection and the tables, before a transaction's first statement.
 * The connection may have been lost since begin or the last commit (a
 * two-phase redeem's bind ran in between): nothing of this transaction
 * was sent yet, so connecting again loses nothing. */
static pairtok_status txn_ready(pg_backend *pg, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    if (tx->state != PG_TX_PENDING) {
        return pg_fail(pg, err, PAIRTOK_EIO,
                       tx->state == PG_TX_FAILED ? "an earlier statement of this transaction failed"
                                                 : "internal error: a verb outside begin/end");
    }
    pairtok_status st = pg_connect(pg, err);
    if (st == PAIRTOK_OK && pg->schema != PG_SCHEMA_VERSION) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "the pairtok tables are missing: run `pairtok init`");
    }
    if (st != PAIRTOK_OK) {
        tx->state = PG_TX_FAILED;
    }
    return st;
}

static pairtok_status queue_locks(pg_backend *pg, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    const char *params[] = {tx->principal};
    pg_stmt lock = tx->cap_exclusive ? PG_LOCK_EXCLUSIVE : PG_LOCK_SHARED;
    return pg_queue(pg, lock, params, 1, PG_ITEM("issue: locking", NULL), err);
}

pairtok_status pg_txn_start(pg_backend *pg, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    if (tx->state == PG_TX_OPEN) {
        return PAIRTOK_OK;
    }
    pairtok_status st = txn_ready(pg, err);
    if (st == PAIRTOK_OK && tx->mode == BACKEND_READ) {
        st = pg_queue_sql(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, 0,
                          PG_ITEM("begin", NULL), err);
    }
    if (st == PAIRTOK_OK && tx->lock_principal) {
        st = queue_locks(pg, err);
    }
    tx->state = st == PAIRTOK_OK ? PG_TX_OPEN : PG_TX_FAILED;
    return st;
}

pairtok_status pg_txn_flush(pg_backend *pg, pairtok_error *err)
{
    pairtok_status st = pg_flush_keep(pg, err);
    if (st != PAIRTOK_OK) {
        pg->tx.state = PG_TX_FAILED;
    }
    return st;
}

void pg_txn_committed(pg_backend *pg, pairtok_status st)
{
    pg->tx.state = st == PAIRTOK_OK ? PG_TX_PENDING : PG_TX_FAILED;
}

pairtok_status pg_txn_run(pg_backend *pg, pg_stmt stmt, const char *const *params, int n,
                          const char *what, PGresult **res, pairtok_error *err)
{
    pairtok_status st = pg_txn_start(pg, err);
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, stmt, params, n, PG_ITEM(what, res), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_txn_flush(pg, err);
    }
    if (st != PAIRTOK_OK) {
        PQclear(*res);
        *res = NULL;
    }
    return st;
}

pairtok_status pg_txn_single(pg_backend *pg, pg_stmt stmt, const char *const *params, int n,
                             const char *what, PGresult **res, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    if (tx->state != PG_TX_PENDING || tx->lock_principal || tx->mode == BACKEND_READ) {
        return pg_txn_run(pg, stmt, params, n, what, res, err);
    }
    pairtok_status st = txn_ready(pg, err);
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, stmt, params, n, PG_ITEM(what, res), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush_commit(pg, err);
    }
    pg_txn_committed(pg, st);
    if (st != PAIRTOK_OK) {
        PQclear(*res);
        *res = NULL;
    }
    return st;
}

pairtok_status pg_txn_begin(pg_backend *pg, backend_mode mode, const char *lock_principal,
                            bool *exists, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    *exists = false;
    tx->state = PG_TX_IDLE;
    if (lock_principal != NULL && strlen(lock_principal) > PAIRTOK_PRINCIPAL_MAX) {
        return pg_fail(pg, err, PAIRTOK_EINVAL, "principal: longer than %d characters",
                       PAIRTOK_PRINCIPAL_MAX);
    }
    pairtok_status st = pg_connect(pg, err);
    if (st == PAIRTOK_OK) {
        st = pg_schema_ensure(pg, mode == BACKEND_WRITE_CREATE, exists, err);
    }
    if (st != PAIRTOK_OK) {
        return st;
    }
    tx->state = PG_TX_PENDING;
    tx->mode = mode;
    tx->lock_principal = lock_principal != NULL;
    snprintf(tx->principal, sizeof tx->principal, "%s", lock_principal ? lock_principal : "");
    tx->cap_exclusive = pg->near_cap;
    return PAIRTOK_OK;
}

pairtok_status pg_txn_commit(pg_backend *pg, pairtok_error *err)
{
    pg_txn *tx = &pg->tx;
    if (tx->state == PG_TX_PENDING) {
        return PAIRTOK_OK; /* nothing open: nothing to make durable */
    }
    if (tx->state != PG_TX_OPEN) {
        return txn_ready(pg, err); /* the reason it cannot commit */
    }
    pairtok_status st = PAIRTOK_OK;
    if (tx->mode == BACKEND_READ) {
        st = pg_queue_sql(pg, "COMMIT", NULL, 0, PG_ITEM("commit", NULL), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush_commit(pg, err);
    }
    pg_txn_committed(pg, st);
    return st;
}

void pg_txn_end(pg_backend *pg)
{
    pg_txn *tx = &pg->tx;
    if ((tx->state == PG_TX_OPEN || tx->state == PG_TX_FAILED) && pg->conn != NULL &&
        pg_queue_sql(pg, "ROLLBACK", NULL, 0, PG_ITEM("rollback", NULL), NULL) == PAIRTOK_OK) {
        pg_flush_later(pg);
    }
    tx->state = PG_TX_IDLE;
}
