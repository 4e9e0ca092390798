/* SPDX-License-Identifier: ISC */
/*
 * pg_conn.c - the PostgreSQL backend's connection: connecting and
 * reconnecting, the statement pipeline, and turning a failed result into
 * a status and a message.
 *
 * Connecting.  The caller's URI is passed as the value of `dbname` with
 * expand_dbname, so libpq parses it and takes what it leaves out from the
 * PG* variables, ~/.pgpass and PGSERVICE, exactly as psql does.  Keywords
 * before `dbname` are defaults the URI may override (application name,
 * connect timeout, TCP keepalives); the one after it is ours alone:
 * client_encoding, because labels are UTF-8 in the API.
 *
 * Notices.  libpq's default notice processor writes to stderr, and a
 * server can send notices while the connection starts (a collation
 * version warning, a bad per-role setting).  A processor can only be
 * installed on a PGconn that exists, so the connection is created with
 * PQconnectStartParams, the processor installed, and the connection then
 * made with PQreset, which keeps the processor and runs libpq's complete
 * blocking connect (timeouts, several hosts, target_session_attrs).  The
 * price is one connection attempt that is dropped before it says
 * anything, once per connection.
 *
 * When.  Opening a handle does not connect; the first begin, check or
 * init does, and so does the first one after the connection was lost.
 * Before a transaction starts, a connection the server has closed (it
 * shows as readable while we expect nothing) is replaced silently: no
 * statement of ours was lost.  A connection lost during a transaction is
 * an error (the transaction was rolled back, or, if its COMMIT had been
 * sent, its outcome is unknown) and the next begin reconnects.
 *
 * Pipeline.  The connection is always in pipeline mode.  Statements are
 * queued with pg_queue (a statement is prepared on first use on each
 * connection, in the same round trip) and pg_flush sends one Sync and
 * reads every result.
 */
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

/* Seconds; a URI may say otherwise. */
#define CONNECT_TIMEOUT "10"

pairtok_status pg_fail(const pg_backend *pg, pairtok_error *err, pairtok_status code,
                       const char *fmt, ...)
{
    char msg[PAIRTOK_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    return pt_fail(err, code, 0, "%.300s: %s", pg->base.display, msg);
}

static void drop_notice(void *ctx, const char *message)
{
    (void)ctx;
    (void)message;
}

void pg_disconnect(pg_backend *pg)
{
    PQfinish(pg->conn);
    pg->conn = NULL;
    pg->prepared = 0;
    pg->schema = -1;
    pg->queued = 0;
    pg->discard = 0;
}

/* libpq's message about the connection, scrubbed, one line. */
static void conn_message(const pg_backend *pg, char *out, size_t size)
{
    snprintf(out, size, "%s", pg->conn != NULL ? PQerrorMessage(pg->conn) : "out of memory");
    pg_scrub(pg->uri, pg->base.display, out, size);
}

static pairtok_status connect_failed(pg_backend *pg, pairtok_error *err)
{
    char why[PAIRTOK_MESSAGE_MAX];
    conn_message(pg, why, sizeof why);
    const char *what = "cannot connect";
    if (pg->conn != NULL && PQconnectionNeedsPassword(pg->conn)) {
        what = "cannot connect: the server wants a password and none was given (in the URI, "
               "PGPASSWORD or ~/.pgpass)";
    } else if (pg->conn != NULL && PQconnectionUsedPassword(pg->conn)) {
        what = "cannot connect: authentication failed";
    }
    pairtok_status st = pg->conn == NULL ? PAIRTOK_ENOMEM : PAIRTOK_EIO;
    pg_disconnect(pg);
    return pg_fail(pg, err, st, "%s: %s", what, why);
}

static pairtok_status open_connection(pg_backend *pg, pairtok_error *err)
{
    static const char *const keywords[] = {"fallback_application_name",
                                           "connect_timeout",
                                           "keepalives",
                                           "keepalives_idle",
                                           "keepalives_interval",
                                           "keepalives_count",
                                           "dbname",
                                           "client_encoding",
                                           NULL};
    const char *values[] = {"pairtok", CONNECT_TIMEOUT, "1",    "30", "10",
                            "3",       pg->uri,         "UTF8", NULL};
    pg->conn = PQconnectStartParams(keywords, values, 1);
    if (pg->conn == NULL) {
        return connect_failed(pg, err);
    }
    PQsetNoticeProcessor(pg->conn, drop_notice, NULL);
    PQreset(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK || PQenterPipelineMode(pg->conn) != 1) {
        return connect_failed(pg, err);
    }
    return PAIRTOK_OK;
}

/* Read and drop the results of Syncs sent by pg_flush_later. */
static bool drain(pg_backend *pg)
{
    while (pg->discard > 0) {
        PGresult *res = PQgetResult(pg->conn);
        if (res == NULL) {
            if (PQstatus(pg->conn) == CONNECTION_BAD) {
                return false;
            }
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            pg->discard--;
        }
        PQclear(res);
    }
    return true;
}

/* Whether the idle connection is still usable: the server has nothing to
 * say to an idle connection of ours but its goodbye (or a notice we do not
 * need), so anything to read means the connection is not to be trusted. */
static bool idle_alive(pg_backend *pg)
{
    if (PQstatus(pg->conn) != CONNECTION_OK || !drain(pg)) {
        return false;
    }
    struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* What every transaction of the session needs: lock_timeout, READ
 * COMMITTED (each statement takes its snapshot when it starts, which the
 * caps rely on), writable, no JIT (compiling takes tens of milliseconds,
 * longer than any of our statements runs), and generic plans (our
 * statements are short and take the same indexes whatever their
 * parameters: planning each run again costs the server time for nothing);
 * and the most transactions the server runs at once. */
static pairtok_status set_up_session(pg_backend *pg, pairtok_error *err)
{
    char timeout[32];
    uint32_t ms = pg->opts.lock_timeout_ms;
    snprintf(timeout, sizeof timeout, "%lums", (unsigned long)(ms > INT_MAX ? INT_MAX : ms));
    const char *params[] = {timeout};
    PGresult *setup = NULL;
    pairtok_status st = pg_queue_sql(pg,
                                     "SELECT current_setting('max_connections')::int8 + "
                                     "current_setting('max_prepared_transactions')::int8, "
                                     "set_config('lock_timeout', $1, false), "
                                     "set_config('default_transaction_isolation', "
                                     "'read committed', false), "
                                     "set_config('default_transaction_read_only', 'off', false), "
                                     "set_config('jit', 'off', false), "
                                     "set_config('plan_cache_mode', 'force_generic_plan', false)",
                                     params, 1, PG_ITEM("setting up the session", &setup), err);
    if (st == PAIRTOK_OK) {
        st = pg_flush(pg, err);
    }
    uint64_t backends = 0;
    if (st == PAIRTOK_OK && !pg_get_u64(setup, 0, 0, &backends)) {
        st = pg_fail(pg, err, PAIRTOK_EIO, "setting up the session: unexpected answer");
    }
    PQclear(setup);
    pg->backends = backends > 0 ? backends : 1;
    return st;
}

pairtok_status pg_connect(pg_backend *pg, pairtok_error *err)
{
    if (pg->conn != NULL && !idle_alive(pg)) {
        pg_disconnect(pg);
    }
    if (pg->conn != NULL) {
        return PAIRTOK_OK;
    }
    /* The settings in a Sync of their own: the version query fails while
     * there is no schema, and a failure would undo them. */
    pairtok_status st = open_connection(pg, err);
    if (st == PAIRTOK_OK) {
        st = set_up_session(pg, err);
    }
    if (st == PAIRTOK_OK) {
        st = pg_schema_read(pg, err);
    }
    if (st != PAIRTOK_OK) {
        pg_disconnect(pg);
    }
    return st;
}

/* ---------------------------------------------------------------------- */
/* The pipeline.                                                          */
/* ---------------------------------------------------------------------- */

static pairtok_status send_failed(pg_backend *pg, const char *what, pairtok_error *err)
{
    char why[PAIRTOK_MESSAGE_MAX];
    conn_message(pg, why, sizeof why);
    pg_queue_abandon(pg);
    pg_disconnect(pg);
    return pg_fail(pg, err, PAIRTOK_EIO, "%s: connection lost: %s", what, why);
}

static pairtok_status push(pg_backend *pg, pg_item item, int prepares, pairtok_error *err)
{
    if (pg->queued == PG_QUEUE_MAX) {
        pg_queue_abandon(pg);
        pg_disconnect(pg);
        return pg_fail(pg, err, PAIRTOK_EIO, "%s: too many statements queued", item.what);
    }
    if (item.slot != NULL) {
        *item.slot = NULL;
    }
    item.prepares = prepares;
    pg->queue[pg->queued++] = item;
    return PAIRTOK_OK;
}

static void statement_name(pg_stmt stmt, char name[32])
{
    snprintf(name, 32, "pairtok_%d", (int)stmt);
}

pairtok_status pg_queue(pg_backend *pg, pg_stmt stmt, const char *const *params, int nparams,
                        pg_item item, pairtok_error *err)
{
    char name[32];
    statement_name(stmt, name);
    uint64_t bit = (uint64_t)1 << stmt;
    if (!(pg->prepared & bit)) {
        if (!PQsendPrepare(pg->conn, name, pg_sql(stmt), 0, NULL)) {
            return send_failed(pg, item.what, err);
        }
        pairtok_status st = push(pg, PG_ITEM(item.what, NULL), (int)stmt, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        pg->prepared |= bit;
    }
    if (!PQsendQueryPrepared(pg->conn, name, nparams, params, NULL, NULL, 0)) {
        return send_failed(pg, item.what, err);
    }
    return push(pg, item, -1, err);
}

pairtok_status pg_queue_sql(pg_backend *pg, const char *sql, const char *const *params, int nparams,
                            pg_item item, pairtok_error *err)
{
    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        return send_failed(pg, item.what, err);
    }
    return push(pg, item, -1, err);
}

void pg_queue_abandon(pg_backend *pg)
{
    pg->queued = 0;
}

void pg_flush_later(pg_backend *pg)
{
    if (pg->conn == NULL) {
        return;
    }
    if (!PQpipelineSync(pg->conn)) {
        pg_disconnect(pg);
        return;
    }
    pg->queued = 0;
    pg->discard++;
}

/* ---------------------------------------------------------------------- */
/* Results and failures.                                                  */
/* ---------------------------------------------------------------------- */

static bool state_is(const char *state, const char *want)
{
    return state != NULL && strcmp(state, want) == 0;
}

static bool state_in_class(const char *state, const char *class)
{
    return state != NULL && strncmp(state, class, strlen(class)) == 0;
}

/* The server ended the session (admin shutdown, crash, terminated
 * backend) or the connection failed. */
static bool connection_state(const char *state)
{
    return state_in_class(state, "08") || state_in_class(state, "57P");
}

static bool retry_state(const char *state)
{
    return state_is(state, "40001") || state_is(state, "40P01") || state_is(state, "55P03");
}

static pairtok_status lost(pg_backend *pg, const PGresult *res, const pg_item *item, bool commit,
                           pairtok_error *err)
{
    char why[PAIRTOK_MESSAGE_MAX];
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary != NULL) {
        snprintf(why, sizeof why, "%s (SQLSTATE %s)", primary, state != NULL ? state : "none");
        pg_scrub(pg->uri, pg->base.display, why, sizeof why);
    } else {
        conn_message(pg, why, sizeof why);
    }
    pg_disconnect(pg);
    if (commit) {
        return pg_fail(pg, err, PAIRTOK_EIO,
                       "%s: the connection was lost after COMMIT was sent, so the outcome is "
                       "unknown (the change may or may not be applied): %s",
                       item->what, why);
    }
    return pg_fail(pg, err, PAIRTOK_EIO,
                   "%s: the connection was lost (nothing was committed; the next call "
                   "reconnects): %s",
                   item->what, why);
}

static pairtok_status classify(pg_backend *pg, const PGresult *res, const pg_item *item,
                               pairtok_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    char why[PAIRTOK_MESSAGE_MAX];
    snprintf(why, sizeof why, "%s%s%s (SQLSTATE %s)",
             primary != NULL ? primary : PQresultErrorMessage(res),
             constraint != NULL ? ", constraint " : "", constraint != NULL ? constraint : "",
             state != NULL ? state : "none");
    pg_scrub(pg->uri, pg->base.display, why, sizeof why);
    snprintf(pg->failed_sqlstate, sizeof pg->failed_sqlstate, "%s", state != NULL ? state : "");
    if (retry_state(state)) {
        return pg_fail(pg, err, BACKEND_RETRY, "%s: %s; the transaction was rolled back",
                       item->what, why);
    }
    if (state_is(state, "25006")) {
        pg->reconnect = true;
        return pg_fail(pg, err, PAIRTOK_EIO,
                       "%s: the server is read-only (a standby, or the primary moved; the next "
                       "call reconnects): %s",
                       item->what, why);
    }
    if (state_is(state, "42P01")) {
        pg->schema = -1;
        return pg_fail(pg, err, PAIRTOK_EIO,
                       "%s: the pairtok tables are missing from this database and search_path; "
                       "create them with `pairtok init`: %s",
                       item->what, why);
    }
    if (state_is(state, "23505") && item->insert) {
        return pg_fail(pg, err, PAIRTOK_ERANDOM,
                       "%s: the new token's hash is already stored, so the random number "
                       "generator repeated itself; nothing was issued: %s",
                       item->what, why);
    }
    if (state_in_class(state, "22") || state_in_class(state, "23")) {
        return pg_fail(pg, err, PAIRTOK_EINVAL, "%s: the database refused the record: %s",
                       item->what, why);
    }
    if (state_is(state, "57014")) {
        return pg_fail(pg, err, PAIRTOK_EBUSY, "%s: canceled: %s", item->what, why);
    }
    return pg_fail(pg, err, PAIRTOK_EIO, "%s: %s", item->what, why);
}

/* A statement whose prepare did not happen is prepared again next time. */
static void forget_prepares(pg_backend *pg, const pg_item *items, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        if (items[i].prepares >= 0) {
            pg->prepared &= ~((uint64_t)1 << items[i].prepares);
        }
    }
}

/* Read what ends one statement's results (a NULL); true unless the
 * connection failed. */
static bool end_of_results(pg_backend *pg)
{
    PGresult *extra;
    while ((extra = PQgetResult(pg->conn)) != NULL) {
        PQclear(extra);
    }
    return PQstatus(pg->conn) == CONNECTION_OK;
}

static bool succeeded(ExecStatusType rs)
{
    return rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK;
}

/* Read the result of items[i]; OK, or the failure (the first one wins). */
static pairtok_status read_one(pg_backend *pg, const pg_item *items, size_t i, size_t n,
                               bool commit, pairtok_status st, pairtok_error *err)
{
    /* A COMMIT the server skipped because an earlier statement failed
     * has a known outcome. */
    commit = commit && st == PAIRTOK_OK;
    PGresult *res = PQgetResult(pg->conn);
    if (res == NULL) {
        return lost(pg, NULL, &items[i], commit, err);
    }
    ExecStatusType rs = PQresultStatus(res);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (rs == PGRES_FATAL_ERROR &&
        (PQstatus(pg->conn) == CONNECTION_BAD || state == NULL || connection_state(state))) {
        pairtok_status lost_st = lost(pg, res, &items[i], commit, err);
        PQclear(res);
        return lost_st;
    }
    if (st == PAIRTOK_OK && succeeded(rs) && items[i].slot != NULL) {
        *items[i].slot = res;
    } else {
        if (st == PAIRTOK_OK && !succeeded(rs)) {
            pg->failed_index = i;
            st = rs == PGRES_FATAL_ERROR
                     ? classify(pg, res, &items[i], err)
                     : pg_fail(pg, err, PAIRTOK_EIO, "%s: unexpected answer (%s)", items[i].what,
                               PQresStatus(rs));
            forget_prepares(pg, items, i, n);
        }
        PQclear(res);
    }
    if (!end_of_results(pg)) {
        return lost(pg, NULL, &items[i], commit, err);
    }
    return st;
}

/* Send what is queued, ended as `how` says, and read every result. */
static pairtok_status flush(pg_backend *pg, pg_flush_how how, pairtok_error *err)
{
    pg_item items[PG_QUEUE_MAX];
    size_t n = pg->queued;
    memcpy(items, pg->queue, n * sizeof items[0]);
    pg->queued = 0;
    pg->failed_index = SIZE_MAX;
    pg->failed_sqlstate[0] = '\0';
    bool commit_sent = false; /* an explicit COMMIT among them */
    for (size_t i = 0; i < n; i++) {
        commit_sent = commit_sent || items[i].commit;
    }
    pg_item last = PG_ITEM(n > 0 ? items[n - 1].what : "sync", NULL);
    if (!drain(pg)) {
        return lost(pg, NULL, &last, false, err); /* lost before this batch */
    }
    bool sent = how == PG_FLUSH_KEEP ? PQsendFlushRequest(pg->conn) && PQflush(pg->conn) == 0
                                     : PQpipelineSync(pg->conn);
    if (!sent) {
        return lost(pg, NULL, &last, commit_sent, err);
    }
    bool commit = commit_sent || how == PG_FLUSH_COMMIT;
    pairtok_status st = PAIRTOK_OK;
    for (size_t i = 0; i < n; i++) {
        st = read_one(pg, items, i, n, commit, st, err);
        if (pg->conn == NULL) {
            return st;
        }
    }
    if (how != PG_FLUSH_KEEP) {
        PGresult *sync = PQgetResult(pg->conn);
        bool synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (!synced) {
            return lost(pg, NULL, &last, commit && st == PAIRTOK_OK, err);
        }
    }
    if (pg->reconnect) {
        pg->reconnect = false;
        pg_disconnect(pg);
    }
    return st;
}

pairtok_status pg_flush(pg_backend *pg, pairtok_error *err)
{
    return flush(pg, PG_FLUSH_SYNC, err);
}

pairtok_status pg_flush_keep(pg_backend *pg, pairtok_error *err)
{
    return flush(pg, PG_FLUSH_KEEP, err);
}

pairtok_status pg_flush_commit(pg_backend *pg, pairtok_error *err)
{
    return flush(pg, PG_FLUSH_COMMIT, err);
}
