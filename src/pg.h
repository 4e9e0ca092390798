/* SPDX-License-Identifier: ISC */
/*
 * pg.h - the PostgreSQL backend's own parts (internal to libpairtok).
 *
 *   pg_uri.c     which locations are ours, the display form with the
 *                password masked, scrubbing passwords out of messages
 *   pg_conn.c    connecting and reconnecting, the statement pipeline,
 *                turning a failed result into a status and a message
 *   pg_sql.c     the text of every statement
 *   pg_schema.c  creating and upgrading the tables, the schema version
 *   pg_txn.c     transactions: begin, commit, end, how statements join one
 *   pg_row.c     results to records
 *   backend_pg.c the handle and the verbs of backend.h; the caps
 *   pg_save.c    save: the bulk path
 *   pg_check.c   check and init
 *
 * One handle is one connection, used by one thread at a time.  The
 * connection stays in libpq's pipeline mode: statements are queued and
 * sent together, so that an issue's locks, caps, pruning, insert and
 * commit cost one round trip (see backend_pg.c).
 */
#ifndef PAIRTOK_PG_H
#define PAIRTOK_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend.h"

/* The schema version this library writes and reads (pg_schema.c). */
#define PG_SCHEMA_VERSION 1

/* Advisory locks live in the database's one key space: ours use the
 * two-integer form with classes of our own (0x70746f6b is "ptok"), so
 * that an application's own locks cannot collide with them.  Decimal,
 * because they are spliced into SQL text. */
#define PG_LOCK_CLASS 1886678891           /* objects below */
#define PG_LOCK_PRINCIPAL_CLASS 1886678892 /* key: hashtext(principal) */
#define PG_LOCK_CAP 1                      /* the total cap (backend_pg.c) */
#define PG_LOCK_SCHEMA 2                   /* creating or upgrading the schema */

/* Prepared statements, texts in pg_sql.c. */
typedef enum pg_stmt {
    PG_LOCK_SHARED,    /* principal lock, cap lock shared */
    PG_LOCK_EXCLUSIVE, /* principal lock, cap lock exclusive */
    PG_ISSUE,          /* an issue's insert, if the caps allow it */
    PG_ISSUE_CAPS,     /* why an issue was refused */
    PG_ISSUE_PRUNE,    /* an issue's pruning, if it added its token */
    PG_RECOUNT,        /* the exact live count, and the cap's bound set to it */
    PG_NOW,
    PG_COUNT_ALL,
    PG_COUNT_PRINCIPAL,
    PG_COUNT_PREFIX,
    PG_COUNT_EXPIRED,
    PG_COUNT_HASH,
    PG_READ_ALL,
    PG_READ_PRINCIPAL,
    PG_READ_PREFIX,
    PG_READ_EXPIRED,
    PG_READ_HASH,
    PG_REMOVE_ALL,
    PG_REMOVE_PRINCIPAL,
    PG_REMOVE_PREFIX,
    PG_REMOVE_EXPIRED,
    PG_REMOVE_HASH,
    PG_INSERT,
    PG_TAKE,
    PG_RESERVE,
    PG_CONSUME,
    PG_RELEASE,
    PG_SAVE_DELETE,
    PG_SAVE_UPDATE,
    PG_SAVE_UPSERT,
    PG_CHECK_ROWS,
    PG_CHECK_COUNT,
    PG_STMT_COUNT
} pg_stmt;

/* pg_sql.c: the text of a prepared statement. */
PT_HIDDEN const char *pg_sql(pg_stmt stmt);
/* Columns every statement that returns records selects, in this order. */
enum { PG_COL_HASH, PG_COL_PRINCIPAL, PG_COL_LABEL, PG_COL_ISSUED, PG_COL_EXPIRES };

/* What a queued statement is, for the message when it fails. */
typedef struct pg_item {
    const char *what; /* "take", "insert", ... */
    PGresult **slot;  /* receives the result, or NULL: only its status counts */
    bool commit;      /* a COMMIT: losing the connection now leaves the outcome unknown */
    bool insert;      /* an insert of a new token: 23505 means the token repeated */
    int prepares;     /* the statement this item prepares, or -1 (set by pg_queue) */
} pg_item;

#define PG_ITEM(what_, slot_) ((pg_item){.what = (what_), .slot = (slot_), .prepares = -1})

/* Most statements sent in one batch: a schema version's DDL is the
 * longest. */
#define PG_QUEUE_MAX 32

typedef enum pg_txn_state {
    PG_TX_IDLE,    /* outside begin/end */
    PG_TX_PENDING, /* begun, no transaction open: the next statement opens one */
    PG_TX_OPEN,    /* statements sent, not committed */
    PG_TX_FAILED   /* a statement failed: only end() (ROLLBACK) is left */
} pg_txn_state;

typedef struct pg_txn {
    pg_txn_state state;
    backend_mode mode;
    bool lock_principal; /* begin named a principal: lock it, and the cap */
    char principal[PAIRTOK_PRINCIPAL_MAX + 1];
    bool cap_exclusive; /* the cap lock is held exclusively */
} pg_txn;

typedef struct pg_backend {
    backend base;
    char *uri; /* the caller's location: may hold a password, wiped at close */
    pairtok_options opts;
    PGconn *conn;
    uint64_t prepared; /* bit s: statement s is prepared on this connection */
    int schema;        /* version found on this connection, 0 none, -1 not yet read */
    uint64_t backends; /* most transactions the server can run at once */
    bool near_cap;     /* issue takes the cap lock exclusively (backend_pg.c) */
    uint64_t issues;   /* issues begun on this handle: one in 8 prunes */
    pg_item queue[PG_QUEUE_MAX];
    size_t queued;
    size_t discard;          /* Syncs whose results are read and dropped (end's ROLLBACK) */
    size_t failed_index;     /* which item of the last pg_flush failed, or SIZE_MAX */
    char failed_sqlstate[6]; /* and its SQLSTATE ("" when none) */
    bool reconnect;          /* drop the connection after this flush (read-only server) */
    pg_txn tx;
} pg_backend;

/* ---------------------------------------------------------------------- */
/* pg_uri.c                                                               */
/* ---------------------------------------------------------------------- */

/* Check `uri` with libpq's own parser and write its display form (any
 * password replaced by "****") into `display`.  PAIRTOK_EINVAL with
 * libpq's reason, password scrubbed, when it does not parse. */
PT_HIDDEN pairtok_status pg_uri_check(const char *uri, char *display, size_t display_size,
                                      pairtok_error *err);
/* Replace, in place, every copy of `uri` in `msg` by its display form
 * and every copy of a password the URI holds (as written, or decoded)
 * by "****"; then make `msg` one line of printable text. */
PT_HIDDEN void pg_scrub(const char *uri, const char *display, char *msg, size_t msg_size);

/* ---------------------------------------------------------------------- */
/* pg_conn.c                                                              */
/* ---------------------------------------------------------------------- */

/* Make sure there is a live connection, set up and in pipeline mode:
 * reconnects after a loss (prepared statements are prepared again as they
 * are used).  Reads the server's limits and the schema version. */
PT_HIDDEN pairtok_status pg_connect(pg_backend *pg, pairtok_error *err);
/* Close the connection; the next pg_connect makes a new one. */
PT_HIDDEN void pg_disconnect(pg_backend *pg);

/* Queue a prepared statement (preparing it first on this connection if
 * needed) with text parameters (NULL is SQL NULL; bytea as \x hex). */
PT_HIDDEN pairtok_status pg_queue(pg_backend *pg, pg_stmt stmt, const char *const *params,
                                  int nparams, pg_item item, pairtok_error *err);
/* Queue a statement that is not prepared (BEGIN, COMMIT, DDL, setup). */
PT_HIDDEN pairtok_status pg_queue_sql(pg_backend *pg, const char *sql, const char *const *params,
                                      int nparams, pg_item item, pairtok_error *err);
/* How a batch of queued statements ends. */
typedef enum pg_flush_how {
    PG_FLUSH_KEEP,  /* a flush request: an implicit transaction stays open */
    PG_FLUSH_SYNC,  /* a Sync: ends an implicit transaction */
    PG_FLUSH_COMMIT /* a Sync that commits writes: if the connection is lost
                     * now, the outcome is unknown */
} pg_flush_how;
/* Send the queued statements and read every result.  A slot receives its
 * statement's result if the statement succeeded, else NULL, whatever
 * happened to the others: the caller clears every slot.  On a failure the
 * first failing statement's error is returned (the server skips what
 * follows it until the next Sync); the connection is closed if it was
 * lost.  pg_flush ends the batch with a Sync. */
PT_HIDDEN pairtok_status pg_flush(pg_backend *pg, pairtok_error *err);
PT_HIDDEN pairtok_status pg_flush_keep(pg_backend *pg, pairtok_error *err);
PT_HIDDEN pairtok_status pg_flush_commit(pg_backend *pg, pairtok_error *err);
/* Send a Sync without waiting: the results are read and dropped by the
 * next pg_flush or pg_connect (end's ROLLBACK). */
PT_HIDDEN void pg_flush_later(pg_backend *pg);
/* Drop every queued statement without sending a Sync (after a local
 * failure while queueing; the connection is then closed). */
PT_HIDDEN void pg_queue_abandon(pg_backend *pg);

/* A failure whose message starts with the backend's display location. */
PT_HIDDEN pairtok_status pg_fail(const pg_backend *pg, pairtok_error *err, pairtok_status code,
                                 const char *fmt, ...) PT_PRINTF(4, 5);

/* ---------------------------------------------------------------------- */
/* pg_schema.c                                                            */
/* ---------------------------------------------------------------------- */

/* Read the schema version into pg->schema (0: no schema). */
PT_HIDDEN pairtok_status pg_schema_read(pg_backend *pg, pairtok_error *err);
/* Refuse a schema newer than this library, or older without `create`;
 * with `create`, make a missing schema or upgrade an old one (under an
 * advisory lock, in one transaction).  *exists tells whether the tables
 * are there afterwards. */
PT_HIDDEN pairtok_status pg_schema_ensure(pg_backend *pg, bool create, bool *exists,
                                          pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* pg_txn.c                                                               */
/* ---------------------------------------------------------------------- */

PT_HIDDEN pairtok_status pg_txn_begin(pg_backend *pg, backend_mode mode, const char *lock_principal,
                                      bool *exists, pairtok_error *err);
PT_HIDDEN pairtok_status pg_txn_commit(pg_backend *pg, pairtok_error *err);
PT_HIDDEN void pg_txn_end(pg_backend *pg);
/* Open the transaction if it is not (with an issue's locks when begin
 * named a principal).  Every verb calls it before queueing its
 * statements. */
PT_HIDDEN pairtok_status pg_txn_start(pg_backend *pg, pairtok_error *err);
/* After a verb sent its statements with the Sync that committed them
 * (pg_flush_commit): the transaction is over, or failed. */
PT_HIDDEN void pg_txn_committed(pg_backend *pg, pairtok_status st);
/* Send what is queued, keeping the transaction open; on failure the
 * transaction is marked failed. */
PT_HIDDEN pairtok_status pg_txn_flush(pg_backend *pg, pairtok_error *err);
/* One statement in the transaction; *res is its result (clear it). */
PT_HIDDEN pairtok_status pg_txn_run(pg_backend *pg, pg_stmt stmt, const char *const *params, int n,
                                    const char *what, PGresult **res, pairtok_error *err);
/* The same for a statement that is atomic by itself (take, reserve,
 * settle): if it would open the transaction, it is committed at once. */
PT_HIDDEN pairtok_status pg_txn_single(pg_backend *pg, pg_stmt stmt, const char *const *params,
                                       int n, const char *what, PGresult **res, pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* pg_row.c                                                               */
/* ---------------------------------------------------------------------- */

/* A whole-number column that must be >= 0. */
PT_HIDDEN bool pg_get_u64(const PGresult *res, int row, int col, uint64_t *out);
/* Read one record from row `row` of `res` (columns PG_COL_*). */
PT_HIDDEN pairtok_status pg_record_from_row(const pg_backend *pg, const PGresult *res, int row,
                                            pairtok_record *out, pairtok_error *err);
/* Append every row of `res` to `list`. */
PT_HIDDEN pairtok_status pg_list_append(const pg_backend *pg, pairtok_record_list *list,
                                        const PGresult *res, pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* The verbs that have files of their own                                 */
/* ---------------------------------------------------------------------- */

PT_HIDDEN pairtok_status pg_save(backend *b, const backend_save *plan, pairtok_error *err);
PT_HIDDEN pairtok_status pg_check(backend *b, uint64_t now, backend_reporter *r,
                                  pairtok_error *err);
PT_HIDDEN pairtok_status pg_init(backend *b, pairtok_error *err);

#endif /* PAIRTOK_PG_H */
