/* SPDX-License-Identifier: ISC */
/*
 * pg_sql.c - the text of every prepared statement of the PostgreSQL
 * backend.  Values only ever travel as parameters; the only things
 * spliced into the text are this library's own constants.
 *
 * Conventions:
 *   - Table names are unqualified: they resolve through the connection's
 *     search_path, so `?options=-csearch_path%3Dtenant1` selects a tenant.
 *   - A time parameter is float8 seconds since the epoch; NULL means the
 *     server's now() (the transaction's start), and '-Infinity' means "no
 *     bound" (how a selection without live_only says "every record").
 *   - Times come back as whole seconds (floor of the epoch), so C never
 *     parses a timestamp.
 *   - Records come back as the columns PG_COL_* of pg.h.
 *   - The hash is looked up through the primary key's index, not compared
 *     in constant time as the file backend does: what an index lookup's
 *     timing could tell is about the SHA-256 of a 192-bit random token,
 *     and learning a prefix of such a hash brings an attacker no closer to
 *     a token that has it.
 */
#include "pg.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define TOKENS "pairtok_token"
#define NOW_P(n) "coalesce(to_timestamp($" #n "::float8), now())"
#define EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"
#define RECORD_COLS "token_hash, principal, label, " EPOCH("issued_at") ", " EPOCH("expires_at")
#define SKEW "interval '" STR(PAIRTOK_CLOCK_SKEW_SECS) " seconds'"
#define LIFETIME "interval '" STR(PAIRTOK_MAX_EXPIRY_SECS) " seconds'"

/* backend.h's "redeemable at now": $1 the hash, $2 now. */
#define REDEEMABLE                                                                                 \
    "token_hash = $1 AND expires_at > " NOW_P(2) " AND issued_at <= " NOW_P(                       \
        2) " + " SKEW " AND expires_at >= issued_at AND expires_at <= issued_at + " LIFETIME       \
           " AND reserved_by IS NULL AND principal <> 'anonymous'"

/* Selections: every kind but SEL_ALL takes its key as $1; the bound of
 * live_only follows (for SEL_EXPIRED the key is the `now` it expires by),
 * then count's limit. */
#define W_ALL "expires_at > " NOW_P(1)
#define W_PRINCIPAL "principal = $1 AND expires_at > " NOW_P(2)
/* Every hash with the prefix sorts between it and prefix || 'g' (the
 * column's collation is "C" and hex digits sort below 'g'): an index
 * range scan. */
#define W_PREFIX                                                                                   \
    "token_hash >= $1::text AND token_hash < ($1::text || 'g') AND expires_at > " NOW_P(2)
#define W_EXPIRED "expires_at <= " NOW_P(1) " AND expires_at > " NOW_P(2)
#define W_HASH "token_hash = $1 AND expires_at > " NOW_P(2)

#define COUNT(where, limit)                                                                        \
    "SELECT count(*) FROM (SELECT 1 FROM " TOKENS " WHERE " where " LIMIT $" #limit ") AS s"
#define READ(where)                                                                                \
    "SELECT " RECORD_COLS " FROM " TOKENS " WHERE " where " ORDER BY issued_at, token_hash"
#define REMOVE(where) "DELETE FROM " TOKENS " WHERE " where
/* A revoke hands what it deleted to the audit events: the same statement,
 * so a token issued between a read and the delete cannot go unreported. */
#define REMOVE_RETURNING(where) REMOVE(where) " RETURNING " RECORD_COLS

/* SQL reads better laid out by hand. */
/* clang-format off */

/* The total cap's bound (backend_pg.c): at least the number of live
 * tokens.  It is pairtok_added's last value less pairtok_bound_base.n.
 * An issue moves the sequence on (nextval: no row to update, nothing held
 * until commit, not undone by a rollback - a bound only has to be high
 * enough); a save lowers the base by what it adds, in its transaction;
 * nothing that removes tokens lowers the bound, and PG_RECOUNT brings it
 * back down to the live count.  Below zero it has been tampered with:
 * then it reads as the largest bigint, which sends the issue to the
 * recount. */
#define BOUND                                                                \
    "(SELECT CASE WHEN b >= 0 THEN b ELSE 9223372036854775807 END FROM"     \
    " (SELECT (SELECT last_value FROM pairtok_added)"                        \
    " - (SELECT n FROM pairtok_bound_base) AS b) AS bound)"

/* An issue, sent after the statement that takes its locks
 * (backend_pg.c): $1 hash, $2 principal, $3 label, $4 now, $5 the
 * lifetime, $6 the per-principal cap, $7 the total cap, $8 the margin the
 * bound must leave below it (at least 1: the bound is below the cap).  The statement starts, and takes its
 * snapshot, once the locks are granted.  It adds the row only when both
 * caps allow, and only then moves the sequence on (CASE: the planner may
 * not evaluate nextval first).  A plain INSERT ... SELECT: the server
 * sets up a smaller plan for it than for the same thing in CTEs, on every
 * issue.  Answers the issue time, or no row when refused. */
#define ISSUE_COUNT                                                          \
    "(SELECT count(*) FROM (SELECT 1 FROM " TOKENS " WHERE principal = $2"   \
    " AND expires_at > " NOW_P(4) " LIMIT $6::int8) AS s)"
#define ISSUE                                                                \
    "INSERT INTO " TOKENS " (token_hash, principal, label, issued_at, expires_at)" \
    " SELECT $1::text, $2::text, $3::text, to_timestamp(at), to_timestamp(at + $5::int8)" \
    " FROM (SELECT coalesce(floor($4::float8)::bigint, " EPOCH("now()") ") AS at) AS t" \
    " WHERE CASE WHEN " ISSUE_COUNT " < $6::int8"                            \
    " AND " BOUND " <= $7::int8 - greatest($8::int8, 1)"                     \
    " THEN nextval('pairtok_added') > 0 ELSE false END"                      \
    " RETURNING " EPOCH("issued_at")
/* Why an issue was refused, in a transaction of its own that takes the
 * same locks first: the principal's live count up to $3, and the bound.
 * $1 principal, $2 now. */
#define ISSUE_CAPS "SELECT (" COUNT(W_PRINCIPAL, 3) "), " BOUND
/* After an issue's INSERT, in its transaction, by one issue in a few:
 * prune at most 64 expired records, so that an issue stays short however
 * many have piled up (prune removes the rest), with SKIP LOCKED so that
 * two issues never wait for each other's pruning; and only if the token
 * $1 was added, so that a refused issue changes nothing.  $2 now. */
#define ISSUE_PRUNE                                                          \
    "DELETE FROM " TOKENS " WHERE EXISTS (SELECT 1 FROM " TOKENS             \
    " WHERE token_hash = $1::text) AND token_hash IN (SELECT token_hash FROM " \
    TOKENS " WHERE expires_at <= " NOW_P(2) " ORDER BY expires_at LIMIT 64"  \
    " FOR UPDATE SKIP LOCKED)"

/* Save's rows: parallel arrays, one element per record. */
#define SAVE_ROWS                                                            \
    "unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[])" \
    " AS u(h, p, l, i, e)"
#define SAVE_FIELDS(t) "(" t ".principal, " t ".label, " t ".issued_at, " t ".expires_at)"

/* A label a terminal could be driven by: C0, DEL, C1 (no backslash
 * escapes, whatever standard_conforming_strings says). */
#define CONTROL "label ~ ('[' || chr(1) || '-' || chr(31) || chr(127) || '-' || chr(159) || ']')"
#define FUTURE "issued_at > " NOW_P(1) " + " SKEW
#define BAD_LIFETIME "(expires_at < issued_at OR expires_at > issued_at + " LIFETIME ")"

/* The principal's lock first, then the cap's, in every transaction that
 * takes both: no two issues can wait for each other in a cycle. */
#define LOCK_PRINCIPAL                                                       \
    "SELECT pg_advisory_xact_lock(" STR(PG_LOCK_PRINCIPAL_CLASS) ", hashtext($1)), "
#define CAP_KEY "(" STR(PG_LOCK_CLASS) ", " STR(PG_LOCK_CAP) ")"

static const char *const statements[PG_STMT_COUNT] = {
    [PG_LOCK_SHARED] = LOCK_PRINCIPAL "pg_advisory_xact_lock_shared" CAP_KEY,
    [PG_LOCK_EXCLUSIVE] = LOCK_PRINCIPAL "pg_advisory_xact_lock" CAP_KEY,
    [PG_ISSUE] = ISSUE,
    [PG_ISSUE_CAPS] = ISSUE_CAPS,
    [PG_ISSUE_PRUNE] = ISSUE_PRUNE,
    /* $1 now, $2 the total cap (NULL: count them all).  Below the cap the
     * count is exact, and the base moves by the difference between the
     * bound the statement saw and the count, so that what others add
     * meanwhile still counts. */
    [PG_RECOUNT] =
        "WITH live AS (" COUNT(W_ALL, 2) "),"
        " fixed AS (UPDATE pairtok_bound_base SET n = n + ((SELECT last_value FROM pairtok_added)"
        "  - (SELECT count FROM live) - (SELECT n FROM pairtok_bound_base))"
        "  WHERE $2::int8 IS NULL OR (SELECT count FROM live) < $2 RETURNING 1)"
        " SELECT live.count, (SELECT count(*) FROM fixed) FROM live",
    [PG_NOW] = "SELECT " EPOCH("now()"),
    [PG_COUNT_ALL] = COUNT(W_ALL, 2),
    [PG_COUNT_PRINCIPAL] = COUNT(W_PRINCIPAL, 3),
    [PG_COUNT_PREFIX] = COUNT(W_PREFIX, 3),
    [PG_COUNT_EXPIRED] = COUNT(W_EXPIRED, 3),
    [PG_COUNT_HASH] = COUNT(W_HASH, 3),
    [PG_READ_ALL] = READ(W_ALL),
    [PG_READ_PRINCIPAL] = READ(W_PRINCIPAL),
    [PG_READ_PREFIX] = READ(W_PREFIX),
    [PG_READ_EXPIRED] = READ(W_EXPIRED),
    [PG_READ_HASH] = READ(W_HASH),
    [PG_REMOVE_ALL] = REMOVE(W_ALL),
    [PG_REMOVE_PRINCIPAL] = REMOVE_RETURNING(W_PRINCIPAL),
    [PG_REMOVE_PREFIX] = REMOVE_RETURNING(W_PREFIX),
    [PG_REMOVE_EXPIRED] = REMOVE(W_EXPIRED),
    [PG_REMOVE_HASH] = REMOVE_RETURNING(W_HASH),
    [PG_INSERT] =
        "INSERT INTO " TOKENS " (token_hash, principal, label, issued_at, expires_at)"
        " SELECT $1::text, $2::text, $3::text, to_timestamp($4::float8),"
        " to_timestamp($5::float8) FROM (SELECT nextval('pairtok_added')) AS bound",
    /* Single use: one statement finds and deletes (or marks) the record,
     * so of any number of racing callers at most one gets a row back. */
    [PG_TAKE] = "DELETE FROM " TOKENS " WHERE " REDEEMABLE " RETURNING " RECORD_COLS,
    [PG_RESERVE] =
        "UPDATE " TOKENS " SET reserved_by = $3::bytea, reserved_at = " NOW_P(2)
        " WHERE " REDEEMABLE " RETURNING " RECORD_COLS,
    [PG_CONSUME] = "DELETE FROM " TOKENS " WHERE token_hash = $1 AND reserved_by = $2::bytea",
    [PG_RELEASE] =
        "UPDATE " TOKENS " SET reserved_by = NULL, reserved_at = NULL"
        " WHERE token_hash = $1 AND reserved_by = $2::bytea",
    [PG_SAVE_DELETE] = "DELETE FROM " TOKENS " WHERE token_hash = ANY ($1::text[])",
    [PG_SAVE_UPDATE] =
        "UPDATE " TOKENS " AS t SET principal = u.p, label = u.l,"
        " issued_at = to_timestamp(u.i), expires_at = to_timestamp(u.e)"
        " FROM " SAVE_ROWS " WHERE t.token_hash = u.h AND " SAVE_FIELDS("t")
        " IS DISTINCT FROM (u.p, u.l, to_timestamp(u.i), to_timestamp(u.e))",
    /* Rows it changes count as added too: the bound only has to be high
     * enough.  In hash order: the primary key's pages are then visited in
     * order, not at random. */
    [PG_SAVE_UPSERT] =
        "WITH added AS (INSERT INTO " TOKENS
        " AS t (token_hash, principal, label, issued_at, expires_at)"
        " SELECT h, p, l, to_timestamp(i), to_timestamp(e) FROM " SAVE_ROWS " ORDER BY h"
        " ON CONFLICT (token_hash) DO UPDATE SET principal = EXCLUDED.principal,"
        " label = EXCLUDED.label, issued_at = EXCLUDED.issued_at,"
        " expires_at = EXCLUDED.expires_at"
        " WHERE " SAVE_FIELDS("t") " IS DISTINCT FROM " SAVE_FIELDS("EXCLUDED")
        " RETURNING 1)"
        " UPDATE pairtok_bound_base SET n = n - (SELECT count(*) FROM added)",
    [PG_CHECK_ROWS] =
        "SELECT " RECORD_COLS ", reserved_by IS NOT NULL, " EPOCH("reserved_at") ", "
        FUTURE ", principal = 'anonymous', coalesce(" CONTROL ", false), " BAD_LIFETIME
        " FROM " TOKENS " WHERE reserved_by IS NOT NULL OR " FUTURE
        " OR principal = 'anonymous' OR " CONTROL " OR " BAD_LIFETIME
        " ORDER BY token_hash",
    /* $1 now: the live tokens, and the total cap's bound. */
    [PG_CHECK_COUNT] = "SELECT (" COUNT(W_ALL, 2) "), " BOUND,
};

/* clang-format on */

const char *pg_sql(pg_stmt stmt)
{
    return statements[stmt];
}
