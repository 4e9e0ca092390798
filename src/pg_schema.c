/* SPDX-License-Identifier: ISC */
/*
 * pg_schema.c - the PostgreSQL backend's tables: creating them, upgrading
 * them, and refusing a schema this library does not know.
 *
 * pairtok_schema_version holds one row per version applied.  A version's
 * statements and its row are applied in one transaction under an advisory
 * lock, so two first users never both create the tables: the second waits
 * for the lock and then sees the first one's version.  A database whose
 * version is newer than PG_SCHEMA_VERSION is refused with PAIRTOK_ESCHEMA
 * and not touched.
 *
 * Version 1:
 *   pairtok_token    one row per outstanding token; CHECK constraints keep
 *                    the hash, principal and times in the shape the API
 *                    can return (the lifetime within the 1-hour cap);
 *                    `anonymous` and labels with control characters are
 *                    allowed (a hand-written row), never redeemed, and
 *                    reported by check.
 *   pairtok_added    a sequence that every token added moves on: its last
 *   pairtok_bound_base   value less the base's one row is an upper bound on
 *                    the number of live tokens, on which the total cap is
 *                    judged without counting the table (pg_sql.c,
 *                    backend_pg.c).
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static const char version_table[] = "CREATE TABLE pairtok_schema_version (version int PRIMARY KEY, "
                                    "applied_at timestamptz NOT NULL DEFAULT now())";

/* SQL reads better laid out by hand. */
/* clang-format off */

/* Two CHECK constraints, not one per rule, and only what a row the API
 * returns needs: constraints cost every insert tens of microseconds.
 * (Labels and reservations are written by pairtok alone.) */
#define SHAPE                                                                 \
    "octet_length(token_hash) = 64 AND token_hash ~ '^[0-9a-f]+$'"            \
    " AND octet_length(principal) <= " STR(PAIRTOK_PRINCIPAL_MAX)             \
    " AND principal ~ '^[A-Za-z0-9_-]+$'"
/* Whole times the API can return, the lifetime within the 1-hour cap. */
#define LIFETIME                                                              \
    "issued_at >= timestamptz '1970-01-01 00:00:00+00'"                       \
    " AND isfinite(expires_at) AND expires_at >= issued_at"                   \
    " AND expires_at <= issued_at + interval '" STR(PAIRTOK_MAX_EXPIRY_SECS) " seconds'"

static const char *const version_1[] = {
    "CREATE TABLE pairtok_token ("
    " token_hash text COLLATE \"C\" PRIMARY KEY,"
    " principal text COLLATE \"C\" NOT NULL,"
    " label text,"
    " issued_at timestamptz NOT NULL,"
    " expires_at timestamptz NOT NULL,"
    " reserved_by bytea,"
    " reserved_at timestamptz,"
    " CONSTRAINT pairtok_token_shape CHECK (" SHAPE "),"
    " CONSTRAINT pairtok_token_lifetime CHECK (" LIFETIME "))",
    /* The per-principal cap counts a principal's live rows. */
    "CREATE INDEX pairtok_token_principal_expires ON pairtok_token (principal, expires_at)",
    /* Pruning, and the exact count near the total cap. */
    "CREATE INDEX pairtok_token_expires ON pairtok_token (expires_at)",
    /* The total cap's bound: pairtok_added's last value less the base. */
    "CREATE SEQUENCE pairtok_added MINVALUE 0 START 0",
    "SELECT nextval('pairtok_added')", /* last_value 0, and the next one 1 */
    "CREATE TABLE pairtok_bound_base (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    " n bigint NOT NULL)",
    "INSERT INTO pairtok_bound_base (n) VALUES (0)",
    NULL};

/* clang-format on */

/* The statements of each version, index = version - 1. */
static const char *const *const versions[PG_SCHEMA_VERSION] = {version_1};

pairtok_status pg_schema_read(pg_backend *pg, pairtok_error *err)
{
    PGresult *res = NULL;
    uint64_t v = 0;
    pairtok_status st = pg_queue_sql(pg,
                                     "SELECT coalesce(max(version), 0) FROM "
                                     "pairtok_schema_version",
                                     NULL, 0, PG_ITEM("reading the schema version", &res), err);
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    if (st != PAIRTOK_OK && pg->conn != NULL && strcmp(pg->failed_sqlstate, "42P01") == 0) {
        pt_error_clear(err); /* no schema: not a failure */
        st = PAIRTOK_OK;
    } else if (st == PAIRTOK_OK && (!pg_get_u64(res, 0, 0, &v) || v > 1000000)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "reading the schema version: unexpected answer");
    }
    PQclear(res);
    if (st == PAIRTOK_OK) {
        pg->schema = (int)v;
    }
    return st;
}

static pairtok_status too_new(pg_backend *pg, int version, pairtok_error *err)
{
    return pg_fail(pg, err, PAIRTOK_ESCHEMA,
                   "the database's pairtok schema is version %d; this pairtok knows versions up "
                   "to %d: use a newer pairtok (nothing was changed)",
                   version, PG_SCHEMA_VERSION);
}

/* Append advice to a failure of creating the tables. */
static pairtok_status creation_failed(pg_backend *pg, pairtok_status st, pairtok_error *err)
{
    const char *advice = NULL;
    if (strcmp(pg->failed_sqlstate, "42501") == 0) {
        advice = "this role may not create the pairtok tables: run `pairtok init` as a role "
                 "that may, or grant this one CREATE on the schema";
    } else if (strcmp(pg->failed_sqlstate, "3F000") == 0) {
        advice = "the search_path names no schema that exists: create it, or fix the "
                 "search_path, then run `pairtok init`";
    }
    if (advice != NULL && err != NULL) {
        char cause[PAIRTOK_MESSAGE_MAX];
        snprintf(cause, sizeof cause, "%s", err->message);
        pt_fail(err, st, 0, "%.600s; %s", cause, advice);
    }
    return st;
}

/* Inside the locked transaction: the version there is now. */
static pairtok_status locked_version(pg_backend *pg, int *version, pairtok_error *err)
{
    PGresult *res = NULL;
    uint64_t has_table = 0;
    pairtok_status st =
        pg_queue_sql(pg, "SELECT (to_regclass('pairtok_schema_version') IS NOT NULL)::int", NULL, 0,
                     PG_ITEM("creating the pairtok tables", &res), err);
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    if (st == PAIRTOK_OK && !pg_get_u64(res, 0, 0, &has_table)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "creating the pairtok tables: unexpected answer");
    }
    PQclear(res);
    *version = 0;
    if (st == PAIRTOK_OK && has_table) {
        st = pg_schema_read(pg, err);
        *version = pg->schema;
    }
    return st;
}

static pairtok_status queue_upgrade(pg_backend *pg, int from, pairtok_error *err)
{
    pg_item item = PG_ITEM("creating the pairtok tables", NULL);
    pairtok_status st = PAIRTOK_OK;
    if (from == 0) {
        st = pg_queue_sql(pg, version_table, NULL, 0, item, err);
    }
    for (int v = from + 1; v <= PG_SCHEMA_VERSION && st == PAIRTOK_OK; v++) {
        for (const char *const *sql = versions[v - 1]; *sql != NULL && st == PAIRTOK_OK; sql++) {
            st = pg_queue_sql(pg, *sql, NULL, 0, item, err);
        }
        char number[16];
        snprintf(number, sizeof number, "%d", v);
        const char *params[] = {number};
        if (st == PAIRTOK_OK) {
            st = pg_queue_sql(pg, "INSERT INTO pairtok_schema_version (version) VALUES ($1::int)",
                              params, 1, item, err);
        }
    }
    return st;
}

/* Create or upgrade the tables in one transaction under the schema lock. */
static pairtok_status migrate(pg_backend *pg, pairtok_error *err)
{
    pg_item item = PG_ITEM("creating the pairtok tables", NULL);
    pairtok_status st =
        pg_queue_sql(pg, "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE", NULL, 0, item, err);
    if (st == PAIRTOK_OK) {
        st = pg_queue_sql(
            pg, "SELECT pg_advisory_xact_lock(" STR(PG_LOCK_CLASS) ", " STR(PG_LOCK_SCHEMA) ")",
            NULL, 0, item, err);
    }
    int version = 0;
    if (st == PAIRTOK_OK) {
        st = locked_version(pg, &version, err);
    }
    if (st == PAIRTOK_OK && version > PG_SCHEMA_VERSION) {
        st = too_new(pg, version, err);
    } else if (st == PAIRTOK_OK && version < PG_SCHEMA_VERSION) {
        st = queue_upgrade(pg, version, err);
    }
    if (st == PAIRTOK_OK) {
        item.commit = true;
        st = pg_queue_sql(pg, "COMMIT", NULL, 0, item, err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    if (st == PAIRTOK_OK) {
        pg->schema = PG_SCHEMA_VERSION;
        return st;
    }
    pg->schema = -1;
    if (pg->conn != NULL) {
        pg_queue_abandon(pg);
        pg_queue_sql(pg, "ROLLBACK", NULL, 0, PG_ITEM("rollback", NULL), NULL);
        pg_flush_later(pg);
    }
    return creation_failed(pg, st, err);
}

pairtok_status pg_schema_ensure(pg_backend *pg, bool create, bool *exists, pairtok_error *err)
{
    *exists = false;
    pairtok_status st = PAIRTOK_OK;
    if (pg->schema <= 0) {
        st = pg_schema_read(pg, err);
    }
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (pg->schema > PG_SCHEMA_VERSION) {
        return too_new(pg, pg->schema, err);
    }
    if (pg->schema < PG_SCHEMA_VERSION && create) {
        st = migrate(pg, err);
    } else if (pg->schema > 0 && pg->schema < PG_SCHEMA_VERSION) {
        return pg_fail(pg, err, PAIRTOK_ESCHEMA,
                       "the database's pairtok schema is version %d, older than this pairtok's "
                       "%d: upgrade it with `pairtok init`",
                       pg->schema, PG_SCHEMA_VERSION);
    }
    *exists = st == PAIRTOK_OK && pg->schema == PG_SCHEMA_VERSION;
    return st;
}
