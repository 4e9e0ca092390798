/* SPDX-License-Identifier: ISC */
/*
 * pg_check.c - check and init on PostgreSQL.
 *
 * check reads, in one REPEATABLE READ snapshot, the rows that cannot be
 * redeemed as they are (left reserved, issued in the future, principal
 * `anonymous`, a label with control characters, a lifetime outside the
 * cap: the CHECK constraints make the last impossible unless someone
 * dropped them), and whether the total cap's bound (pg_sql.c) is still at
 * least the number of live tokens: pairtok raises it in the statement
 * that adds tokens, so only tokens added by hand can leave it short, and
 * then the cap could let more in.  init sets it right.
 * A database without the tables is a store that was never written:
 * healthy, like a missing file.
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"

/* Columns of PG_CHECK_ROWS after the record's. */
enum { COL_RESERVED = 5, COL_RESERVED_AT, COL_FUTURE, COL_ANONYMOUS, COL_CONTROL, COL_LIFETIME };

static bool flag(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static void report_row(const pg_backend *pg, backend_reporter *r, const PGresult *res, int row,
                       const pairtok_record *rec, uint64_t now)
{
    char id[PAIRTOK_ID_DISPLAY_LEN + 1];
    memcpy(id, rec->token_hash, PAIRTOK_ID_DISPLAY_LEN);
    id[PAIRTOK_ID_DISPLAY_LEN] = '\0';
    const char *where = pg->base.display;
    if (flag(res, row, COL_RESERVED)) {
        backend_report(r, PAIRTOK_EPARSE,
                       "%.300s: token %s: reserved by a redeem that did not finish; it can never "
                       "be redeemed and goes at the first prune after it expires",
                       where, id);
    }
    if (flag(res, row, COL_FUTURE)) {
        uint64_t ahead =
            now != BACKEND_NOW && rec->issued_at_epoch > now ? rec->issued_at_epoch - now : 0;
        backend_report(r, PAIRTOK_EPARSE,
                       "%.300s: token %s: issued at %llu, %llus in the future (more than the %ds "
                       "of clock skew allowed): it cannot be redeemed",
                       where, id, (unsigned long long)rec->issued_at_epoch,
                       (unsigned long long)ahead, PAIRTOK_CLOCK_SKEW_SECS);
    }
    if (flag(res, row, COL_ANONYMOUS)) {
        backend_report(r, PAIRTOK_EPARSE,
                       "%.300s: token %s: principal 'anonymous' cannot be paired; the token can "
                       "never be redeemed",
                       where, id);
    }
    if (flag(res, row, COL_CONTROL)) {
        backend_report(r, PAIRTOK_EPARSE, "%.300s: token %s: label contains control characters",
                       where, id);
    }
    if (flag(res, row, COL_LIFETIME)) {
        backend_report(r, PAIRTOK_EPARSE,
                       "%.300s: token %s: expires before it was issued or lives longer than the "
                       "%ds cap; it can never be redeemed",
                       where, id, PAIRTOK_MAX_EXPIRY_SECS);
    }
}

static pairtok_status report_rows(pg_backend *pg, const PGresult *res, uint64_t now,
                                  backend_reporter *r, pairtok_error *err)
{
    for (int row = 0; row < PQntuples(res); row++) {
        pairtok_record rec;
        pairtok_status st = pg_record_from_row(pg, res, row, &rec, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        report_row(pg, r, res, row, &rec, now);
        pairtok_record_clear(&rec);
    }
    return PAIRTOK_OK;
}

static pairtok_status report_bound(pg_backend *pg, const PGresult *res, backend_reporter *r,
                                   pairtok_error *err)
{
    uint64_t live = 0, bound = 0;
    if (!pg_get_u64(res, 0, 0, &live) || !pg_get_u64(res, 0, 1, &bound)) {
        return pg_fail(pg, err, PAIRTOK_EIO, "check: unexpected answer");
    }
    if (bound < live) {
        backend_report(r, PAIRTOK_EPARSE,
                       "%.300s: the total cap's bound (pairtok_added less pairtok_bound_base) "
                       "is %llu, fewer than the %llu live tokens (tokens were added without "
                       "pairtok): the cap could let more in; run `pairtok init` to recount",
                       pg->base.display, (unsigned long long)bound, (unsigned long long)live);
    }
    return PAIRTOK_OK;
}

static pairtok_status check_tables(pg_backend *pg, uint64_t now, backend_reporter *r,
                                   pairtok_error *err)
{
    char now_text[24];
    snprintf(now_text, sizeof now_text, "%llu", (unsigned long long)now);
    const char *params[] = {now == BACKEND_NOW ? NULL : now_text, NULL};
    PGresult *count = NULL, *rows = NULL;
    pg_item item = PG_ITEM("check", NULL);
    pairtok_status st =
        pg_queue_sql(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, 0, item, err);
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, PG_CHECK_COUNT, params, 2, PG_ITEM("check", &count), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_queue(pg, PG_CHECK_ROWS, params, 1, PG_ITEM("check", &rows), err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_queue_sql(pg, "ROLLBACK", NULL, 0, item, err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    if (st == PAIRTOK_OK) {
        st = report_bound(pg, count, r, err);
    }
    if (st == PAIRTOK_OK) {
        st = report_rows(pg, rows, now, r, err);
    }
    PQclear(count);
    PQclear(rows);
    if (pg->conn != NULL && pg->failed_index != SIZE_MAX) {
        pg_queue_sql(pg, "ROLLBACK", NULL, 0, item, NULL);
        pg_flush_later(pg);
    }
    return st;
}

pairtok_status pg_check(backend *b, uint64_t now, backend_reporter *r, pairtok_error *err)
{
    pg_backend *pg = (pg_backend *)b;
    pairtok_status st = pg_connect(pg, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (pg->schema > PG_SCHEMA_VERSION) {
        backend_report(r, PAIRTOK_ESCHEMA,
                       "%.300s: the pairtok schema is version %d; this pairtok knows versions "
                       "up to %d: use a newer pairtok",
                       pg->base.display, pg->schema, PG_SCHEMA_VERSION);
        return PAIRTOK_OK;
    }
    if (pg->schema == 0) {
        return PAIRTOK_OK;
    }
    if (pg->schema < PG_SCHEMA_VERSION) {
        backend_report(r, PAIRTOK_ESCHEMA,
                       "%.300s: the pairtok schema is version %d, older than this pairtok's %d: "
                       "upgrade it with `pairtok init`",
                       pg->base.display, pg->schema, PG_SCHEMA_VERSION);
    }
    return check_tables(pg, now, r, err);
}

/* ---------------------------------------------------------------------- */
/* init                                                                   */
/* ---------------------------------------------------------------------- */

/* Bring the total cap's bound back to the number of live tokens: after
 * tokens were added by hand it may be short, and it only ever grows
 * otherwise. */
static pairtok_status recount(pg_backend *pg, pairtok_error *err)
{
    const char *params[] = {NULL, NULL};
    PGresult *res = NULL;
    pairtok_status st = pg_queue(pg, PG_RECOUNT, params, 2, PG_ITEM("init: recounting", &res), err);
    if (st == PAIRTOK_OK) {
        st = pg_flush_commit(pg, err);
    }
    PQclear(res);
    return st;
}

pairtok_status pg_init(backend *b, pairtok_error *err)
{
    pg_backend *pg = (pg_backend *)b;
    bool exists = false;
    pairtok_status st = pg_connect(pg, err);
    if (st == PAIRTOK_OK) {
        st = pg_schema_ensure(pg, true, &exists, err);
    }
    if (st == PAIRTOK_OK) {
        st = recount(pg, err);
    }
    return st;
}
