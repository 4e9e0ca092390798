/* SPDX-License-Identifier: ISC */
/*
 * backend.h - the seam between the store's policy (store.c) and the
 * mechanism that keeps the records: the TOML file (backend_file.c) or
 * PostgreSQL (backend_pg.c).  Internal to libpairtok.
 *
 * store.c owns everything that must be the same on every backend: argument
 * checks, token generation and hashing, the caps, the reserve -> bind ->
 * consume/release protocol, the uniform refusal of a redeem, and the
 * messages.  A backend owns how records are found, changed and made
 * durable, and nothing else: it never decides whether a caller may do a
 * thing.
 *
 * Records are selected by data (struct backend_sel), never by a C callback,
 * so that a database can turn a selection into a WHERE clause.
 *
 * Calling sequence (every verb but open/close/describe runs inside one):
 *
 *     backend_begin(b, mode, lock_principal, &now, &exists, err)
 *     ... verbs ...
 *     backend_commit(b, err)        make the changes durable (may repeat:
 *     ... more verbs ...             redeem's reserve, then its settle)
 *     backend_end(b)                abandon what was not committed, unlock
 *
 * `end` is always called after a `begin`, also when `begin` failed.  What a
 * commit means:
 *   - file: write the document (temp file, fsync, rename, fsync of the
 *     directory) if anything changed.  The flock is held from begin to end,
 *     so a two-phase redeem's bind runs under the lock, as it always has.
 *   - PostgreSQL: COMMIT.  The next verb starts a new transaction, so no
 *     transaction is held open while the caller's bind runs; the
 *     reservation id (rid) is what ties settle to its reserve.
 * take, reserve and settle are each atomic by themselves, and a backend
 * may make one durable as it returns (PostgreSQL does when it is the first
 * verb of its transaction: a redeem is then one round trip).  So commit
 * right after them, and do nothing in between that end() would have to
 * undo.
 *
 * Time.  Every `now` may be BACKEND_NOW, meaning "the backend's own clock,
 * read after the lock is held".  begin() resolves it when the backend can
 * (the file backend reads the system clock after flock, and fails with
 * PAIRTOK_EIO if it cannot); a backend whose clock lives in the server
 * (PostgreSQL's now()) leaves it BACKEND_NOW and evaluates it in SQL.
 * Records passed to insert() then carry BACKEND_NOW in issued_at_epoch and
 * the lifetime in ttl; insert() writes the stored epochs back.
 *
 * Errors: every verb returns a pairtok_status and fills `err` with a
 * message that names the location (path, or the URI with its password
 * masked), and for the database the SQLSTATE.
 */
#ifndef PAIRTOK_BACKEND_H
#define PAIRTOK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* "The backend's clock, read after locking" (see above). */
#define BACKEND_NOW UINT64_MAX

/* A verb's transaction was rolled back by the server for a reason that a
 * second run cures (serialization failure 40001, deadlock 40P01,
 * lock_timeout 55P03), or the backend found that it must run it another
 * way (PostgreSQL near the total cap), and its outcome is known: nothing
 * was applied.
 * store.c then ends the transaction and runs the whole operation again
 * from begin, after a short random pause, a few times at most.  Never
 * returned after a COMMIT whose answer was lost: that is PAIRTOK_EIO with
 * a message saying the outcome is unknown, and it is never retried. */
#define BACKEND_RETRY ((pairtok_status)100)

/* Raw SHA-256 of a token, as every backend is queried with. */
#define BACKEND_HASH_BYTES 32
/* Reservation id of a two-phase redeem: random, chosen by store.c. */
#define BACKEND_RID_BYTES 16

typedef enum backend_mode {
    /* load, list: a consistent snapshot, no lock, no write. */
    BACKEND_READ,
    /* issue, save, init: may create the store (directory, file, schema). */
    BACKEND_WRITE_CREATE,
    /* redeem, revoke, prune: a store that does not exist stays so, and
     * begin reports *exists = false. */
    BACKEND_WRITE
} backend_mode;

typedef enum backend_sel_kind {
    SEL_ALL,       /* every record */
    SEL_PRINCIPAL, /* principal == sel.principal */
    SEL_ID_PREFIX, /* hex(token_hash) starts with sel.prefix (lowercase) */
    SEL_EXPIRED,   /* expires_at_epoch <= sel.now */
    SEL_HASH       /* token_hash == sel.hash */
} backend_sel_kind;

/* Which records a verb applies to.  With `live_only`, records with
 * expires_at_epoch <= now are left out as well (count and read). */
typedef struct backend_sel {
    backend_sel_kind kind;
    const char *principal;
    const char *prefix;
    size_t prefix_len;
    unsigned char hash[BACKEND_HASH_BYTES];
    bool live_only;
    uint64_t now; /* SEL_EXPIRED and live_only; may be BACKEND_NOW */
} backend_sel;

/* A save, as computed by store.c from the caller's list and the set of
 * hashes the list was loaded with (its base):
 *   - a stored record whose hash is in `list` gets the list's fields;
 *   - a stored record in `removed` (loaded, then taken out of the list by
 *     the caller) is deleted;
 *   - any other stored record (added by someone after the load) is kept;
 *   - a list record not stored is added only if !in_base[i]: a record that
 *     was loaded and has since been redeemed, revoked or pruned elsewhere
 *     is never brought back.
 * `list` has no two records with one hash. */
typedef struct backend_save {
    const pairtok_record_list *list;
    const uint32_t *order; /* list positions, sorted by token_hash */
    const bool *in_base;   /* per list item */
    const unsigned char (*removed)[BACKEND_HASH_BYTES];
    size_t removed_count; /* `removed` is sorted (memcmp order) */
} backend_save;

/* An issue done by the backend in one step (backend_ops.issue).  store.c
 * fills the inputs; the backend fills the outputs. */
typedef struct backend_issue {
    pairtok_record *rec;      /* validated; epochs as for insert, written back */
    uint32_t ttl;             /* the lifetime, when rec carries BACKEND_NOW */
    uint64_t now;             /* begin's now (may be BACKEND_NOW) */
    size_t max_per_principal; /* the caps to hold */
    size_t max_total;
    bool added;            /* false: a cap refused it, and nothing changed */
    size_t principal_live; /* the principal's live tokens, up to max_per_principal */
    size_t total_live;     /* the live tokens, up to max_total (may be a bound) */
    size_t pruned;         /* expired records removed on the way (when added) */
} backend_issue;

/* memcmp order of two raw hashes, for qsort and bsearch. */
PT_HIDDEN int backend_hash_cmp(const void *a, const void *b);

/* What a check found; store.c passes the caller's callback through. */
typedef struct backend_reporter {
    pairtok_problem_fn fn;
    void *ctx;
    size_t count;
} backend_reporter;
PT_HIDDEN void backend_report(backend_reporter *r, pairtok_status code, const char *fmt, ...)
    PT_PRINTF(3, 4);

typedef struct backend backend;

typedef struct backend_ops {
    const char *name; /* "file", "postgresql" */

    /* Release the backend and everything it holds (no I/O on the store). */
    void (*close)(backend *b);

    pairtok_status (*begin)(backend *b, backend_mode mode, const char *lock_principal,
                            uint64_t *now, bool *exists, pairtok_error *err);
    pairtok_status (*commit)(backend *b, pairtok_error *err);
    void (*end)(backend *b);

    /* How many selected records, counting at most up to `limit` (a backend
     * may stop there: caps only need to know whether a limit is reached).
     * Below `limit` the answer may be an upper bound instead of the count
     * (PostgreSQL bounds an issue's total so), but it reaches `limit` only
     * when the records do. */
    pairtok_status (*count)(backend *b, const backend_sel *sel, size_t limit, size_t *n,
                            pairtok_error *err);
    /* Append the selected records to `out` in the store's order. */
    pairtok_status (*read)(backend *b, const backend_sel *sel, pairtok_record_list *out,
                           pairtok_error *err);
    /* Add one record (validated by store.c).  With issued_at_epoch ==
     * BACKEND_NOW, the backend stamps issued = now and expires = now + ttl
     * and writes both back into *rec. */
    pairtok_status (*insert)(backend *b, pairtok_record *rec, uint32_t ttl, pairtok_error *err);
    /* Delete the selected records; *removed is how many.  When `gone` is
     * not NULL, the deleted records are appended to it (for the audit
     * events of a revoke). */
    pairtok_status (*remove)(backend *b, const backend_sel *sel, size_t *removed,
                             pairtok_record_list *gone, pairtok_error *err);
    /* Optional: an issue in one step, for a backend that can check the
     * caps and add the record in one round trip to its server.  Inside a
     * begin(BACKEND_WRITE_CREATE, rec->principal): remove some expired
     * records (as many as the backend likes), then add op->rec if the
     * principal has fewer than op->max_per_principal live tokens and the
     * store fewer than op->max_total, and make it durable (as take does:
     * commit then has nothing left to do).  When a cap refuses, nothing
     * changes, op->added is false and the counts say which cap it was.
     * Without it, store.c removes the expired records, counts, and
     * inserts, with the verbs above. */
    pairtok_status (*issue)(backend *b, backend_issue *op, pairtok_error *err);

    /* Redeem, one phase: find a record with this hash that is redeemable at
     * `now` (expires > now, lifetime within the cap, not issued in the
     * future beyond PAIRTOK_CLOCK_SKEW_SECS, not reserved, principal not
     * `anonymous`) and no copy of the hash is reserved; if there is one,
     * delete every record with the hash and copy the record to *out
     * (*found = true).  Atomic: of any number of racing callers at most
     * one finds it. */
    pairtok_status (*take)(backend *b, const unsigned char hash[BACKEND_HASH_BYTES], uint64_t now,
                           pairtok_record *out, bool *found, pairtok_error *err);
    /* Redeem, two phases: like take, but mark every record with the hash
     * reserved by `rid` (at `now`) instead of deleting it. */
    pairtok_status (*reserve)(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                              const unsigned char rid[BACKEND_RID_BYTES], uint64_t now,
                              pairtok_record *out, bool *found, pairtok_error *err);
    /* Finish a reservation of this backend's: `consume` deletes every
     * record with the hash that `rid` reserved; otherwise the mark is
     * cleared.  *found is false when nothing carried the mark. */
    pairtok_status (*settle)(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                             const unsigned char rid[BACKEND_RID_BYTES], bool consume, bool *found,
                             pairtok_error *err);

    /* Apply a save (see backend_save). */
    pairtok_status (*save)(backend *b, const backend_save *plan, pairtok_error *err);

    /* Report every problem of the store without changing it: safety of
     * what holds it, format, records (lifetime over the cap, expiry before
     * issue, issued more than PAIRTOK_CLOCK_SKEW_SECS after `now`,
     * duplicate hashes, stuck reservations).  Runs outside begin/end.  A
     * status only when the check itself could not run. */
    pairtok_status (*check)(backend *b, uint64_t now, backend_reporter *r, pairtok_error *err);

    /* Create or upgrade what the store needs (directory and empty file,
     * or schema).  Runs outside begin/end. */
    pairtok_status (*init)(backend *b, pairtok_error *err);
} backend_ops;

/* Every backend starts with this; the rest of its struct is its own. */
struct backend {
    const backend_ops *ops;
    /* The location for messages and pairtok_store_path(): the path, or the
     * URI with any password replaced by "****". */
    char display[PAIRTOK_PATH_MAX];
    /* Expired records a take or a consuming settle deleted besides the
     * token (a file store prunes in the same write); store.c zeroes it
     * before those verbs and reports them as a prune event. */
    size_t pruned_by_redeem;
};

/* Constructors: each parses `location` (no I/O beyond what it must), or
 * fails with PAIRTOK_EINVAL / PAIRTOK_ENOMEM. */
PT_HIDDEN pairtok_status backend_file_open(const char *location, const pairtok_options *opts,
                                           backend **out, pairtok_error *err);
PT_HIDDEN pairtok_status backend_pg_open(const char *location, const pairtok_options *opts,
                                         backend **out, pairtok_error *err);
/* True for `postgresql://` and `postgres://` locations. */
PT_HIDDEN bool backend_pg_claims(const char *location);

#endif /* PAIRTOK_BACKEND_H */
