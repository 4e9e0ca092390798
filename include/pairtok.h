/* SPDX-License-Identifier: ISC */
/*
 * pairtok.h - the pair-device token store of the Astrid runtime.
 *
 * A user who is signed in on one device issues a short-lived, single-use
 * *pair token* for their principal; a new device redeems it once to add its
 * key to that principal.  This header is the whole public API of libpairtok.
 *
 * The store
 * ---------
 * State lives in one TOML file (the embedded default; or, for a service on
 * several hosts, in PostgreSQL: see pairtok_store_open), by default
 * `$ASTRID_HOME/etc/pair-tokens.toml` (`ASTRID_HOME` defaults to
 * `$HOME/.astrid`), with one `[[pair_token]]` table per outstanding token:
 *
 *     [[pair_token]]
 *     token_hash = "<64 lowercase hex: sha256 of the raw token>"
 *     principal = "alice"
 *     expires_at_epoch = 1764322800
 *     issued_at_epoch = 1764322500
 *     label = "alice's phone"          # optional
 *
 * Only the hash of a token is ever written; the raw token exists in memory
 * once, is handed to the caller of pairtok_issue(), and every library buffer
 * that held it is wiped with sodium_memzero().  Keys this library does not
 * know - in a record or at top level - are preserved on every rewrite, so a
 * newer writer's restrictions are never silently dropped.  A top-level
 * `schema_version` key marks a format this version does not read: the store
 * refuses it and touches nothing.
 *
 * Calling sequence
 * ----------------
 *     pairtok_store *store;
 *     pairtok_error err;
 *     char path[PAIRTOK_PATH_MAX];
 *     if (pairtok_default_path(path, sizeof path, &err) != PAIRTOK_OK ||
 *         pairtok_store_open(path, NULL, &store, &err) != PAIRTOK_OK)
 *         die(err.message);
 *     char token[PAIRTOK_TOKEN_LEN + 1];
 *     pairtok_issue(store, "alice", "phone", PAIRTOK_DEFAULT_EXPIRY_SECS,
 *                   token, NULL, &err);     // show token once, then wipe it
 *     ...
 *     pairtok_record rec;
 *     pairtok_redeem(store, token, bind_device, ctx, &rec, &err);
 *     pairtok_record_clear(&rec);
 *     pairtok_store_close(store);
 *
 * Every mutation (issue, redeem, revoke, prune, save) takes an exclusive
 * flock(2) on `<store>.lock` (mode 0600, never renamed, never deleted: a
 * process waiting on a deleted lock file would lock a file nobody else
 * locks; the lock file is checked like the store, and after flock succeeds
 * its name must still lead to the locked file, else the lock is taken
 * again), reads the file,
 * modifies it, writes a temp file in the same directory, fsyncs it, renames
 * it over the store and fsyncs the directory - all under the lock.  Separate
 * processes and separate handles in one process therefore serialise, and a
 * process that dies at any point leaves the old or the new file, never a mix.
 * Waiting for the lock is bounded (pairtok_options.lock_timeout_ms); past it
 * the call fails with PAIRTOK_EBUSY.
 *
 * File safety
 * -----------
 * Like OpenSSH with private keys, the store refuses a file that is not a
 * regular file reached without following a symlink, is not owned by the
 * effective user, has any group/other permission bit, has more than one
 * link, or is larger than PAIRTOK_FILE_MAX; and a directory writable by group
 * or others.  Directories the store creates are 0700, files 0600.
 *
 * Errors
 * ------
 * Functions return a pairtok_status and, on failure, fill the caller's
 * pairtok_error (which may be NULL when the caller wants no details) with the status, the errno of
 * a failing system call (0 when none) and a message that names the path, the `line:col` and the
 * field when they apply.  A failed call leaves the store's records as they were, with these
 * exceptions, all on the safe side and each named by its message:
 *   - when only the fsync of the directory after the rename fails, the new
 *     version is already in place (it could not be taken back atomically)
 *     but its durability is unknown: PAIRTOK_EIO with "fsync of the
 *     directory failed".  The file is then the new version, never a mix;
 *     for redeem the token is used up (or, two-phase, reserved);
 *   - a two-phase redeem whose bind fails (PAIRTOK_EABORTED) has written the
 *     reservation and then its release: the records are as before, the
 *     file has been rewritten twice;
 *   - a two-phase redeem that fails after its reservation was written
 *     (PAIRTOK_EABORTED when the release fails, or any error while
 *     deleting a bound token) leaves the token reserved: never redeemable
 *     again, removed by the first prune after it expires.
 * A rewrite keeps every key and table, known or not, but not comments or
 * the layout of the text: the file is written in the canonical form.
 *
 * Time
 * ----
 * Every time-dependent function has an `_at` form that takes `now` (seconds
 * since the Unix epoch) explicitly.  The plain form reads the store's clock
 * once the lock is held (a token that expires while a redeem waits for the
 * lock is expired): CLOCK_REALTIME for a file.  If the clock cannot be read
 * the call fails with PAIRTOK_EIO; it never assumes a time.  A record whose
 * issued_at_epoch lies more than PAIRTOK_CLOCK_SKEW_SECS after `now` is
 * never redeemable (a lifetime cap that starts in the future is no cap),
 * and pairtok_check reports it.
 *
 * Thread safety
 * -------------
 * The library has no global mutable state.  A pairtok_store handle must not
 * be used by two threads at once; separate handles may be used concurrently
 * (they serialise through the lock file like separate processes do).  A
 * handle on a database is one connection, used by one thread at a time.
 * The
 * caller must have called sodium_init() - pairtok_store_open() does it for
 * you, and it is safe to call more than once.
 */
#ifndef PAIRTOK_H
#define PAIRTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PAIRTOK_NODISCARD __attribute__((warn_unused_result))
#define PAIRTOK_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define PAIRTOK_NODISCARD
#define PAIRTOK_NONNULL(...)
#endif

/** The version of this header.  pairtok_version() is that of the library
 *  the program loaded; the Makefile and the Debian packaging read it from
 *  here, the one place it is defined. */
#define PAIRTOK_VERSION "0.1.0"

/** Raw token entropy: 24 bytes (192 bits) from the OS CSPRNG. */
#define PAIRTOK_TOKEN_RAW_LEN 24
/** Encoded token length: URL-safe base64 without padding of 24 bytes. */
#define PAIRTOK_TOKEN_LEN 32
/** Length of a stored token hash: lowercase hex of SHA-256. */
#define PAIRTOK_HASH_LEN 64
/** Hard cap on a token's lifetime, in seconds. */
#define PAIRTOK_MAX_EXPIRY_SECS 3600
/** How far in the future a record's issued_at_epoch may lie (clock skew
 *  between writers) before the record is never redeemable. */
#define PAIRTOK_CLOCK_SKEW_SECS 60
/** Lifetime used when the caller has no preference, in seconds. */
#define PAIRTOK_DEFAULT_EXPIRY_SECS 300
/** Longest principal: `[A-Za-z0-9_-]{1,64}`. */
#define PAIRTOK_PRINCIPAL_MAX 64
/** Longest label, in bytes of UTF-8. */
#define PAIRTOK_LABEL_MAX 4096
/** Shortest id prefix accepted by pairtok_revoke_id(). */
#define PAIRTOK_ID_MIN_LEN 8
/** Length of the id shown to people (a prefix of token_hash). */
#define PAIRTOK_ID_DISPLAY_LEN 12
/** Largest store file that will be read, in bytes (64 MiB). */
#define PAIRTOK_FILE_MAX (64u * 1024u * 1024u)
/** A buffer this large always holds a store path. */
#define PAIRTOK_PATH_MAX 4096
/** Size of pairtok_error.message. */
#define PAIRTOK_MESSAGE_MAX 1024

/** Defaults applied when a pairtok_options field is 0. */
#define PAIRTOK_DEFAULT_LOCK_TIMEOUT_MS 10000u
#define PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL 16u
#define PAIRTOK_DEFAULT_MAX_TOTAL 100000u

/** What happened.  PAIRTOK_OK is 0; every other value is a failure. */
typedef enum pairtok_status {
    PAIRTOK_OK = 0,
    /** A caller-supplied argument is malformed: principal, label, ttl,
     *  token shape, id prefix, path.  Checked before any I/O. */
    PAIRTOK_EINVAL,
    /** Redeem refused: the token is unknown, expired, reserved or already
     *  used.  One status and one message for all, so that a caller cannot
     *  tell them apart. */
    PAIRTOK_EDENIED,
    /** Nothing matched (revoke of an id or principal with no token). */
    PAIRTOK_ENOTFOUND,
    /** An id prefix matches more than one token. */
    PAIRTOK_EAMBIGUOUS,
    /** A system call failed; pairtok_error.sys_errno says which errno. */
    PAIRTOK_EIO,
    /** The store file is not valid: not UTF-8, not TOML, a wrong type, a
     *  missing or malformed field.  The message has `path:line:col`. */
    PAIRTOK_EPARSE,
    /** The store file or its directory is unsafe: wrong type, symlink,
     *  owner, mode, link count or size.  The message says how to fix it. */
    PAIRTOK_EUNSAFE,
    /** The file declares a `schema_version` this library does not read. */
    PAIRTOK_ESCHEMA,
    /** A cap on outstanding tokens (per principal or in total) is reached. */
    PAIRTOK_ELIMIT,
    /** The lock was not obtained within the configured timeout. */
    PAIRTOK_EBUSY,
    /** Memory allocation failed.  Nothing was changed. */
    PAIRTOK_ENOMEM,
    /** The redeem callback reported failure; the token stays redeemable. */
    PAIRTOK_EABORTED,
    /** The CSPRNG failed.  Nothing was changed. */
    PAIRTOK_ERANDOM
} pairtok_status;

/** Details of a failure, filled by the function that failed.  Caller-owned;
 *  zero-initialise it or not, every failing call sets all three fields. */
typedef struct pairtok_error {
    pairtok_status code;
    /** errno of the failing system call, 0 when the failure was not one. */
    int sys_errno;
    /** One line, no trailing newline, never a raw token, e.g.
     *  `/home/a/.astrid/etc/pair-tokens.toml:7:13: principal: must match
     *  [A-Za-z0-9_-]{1,64}`. */
    char message[PAIRTOK_MESSAGE_MAX];
} pairtok_error;

/** One outstanding token as stored.  `label` is heap-allocated, NUL
 *  terminated, and NULL when the record has none; release it with
 *  pairtok_record_clear().  All other fields are inline. */
typedef struct pairtok_record {
    char token_hash[PAIRTOK_HASH_LEN + 1];
    char principal[PAIRTOK_PRINCIPAL_MAX + 1];
    uint64_t expires_at_epoch;
    uint64_t issued_at_epoch;
    char *label;
} pairtok_record;

/** A caller-owned, growable array of records.  Zero-initialise before first
 *  use; grow with pairtok_record_list_append(); release with
 *  pairtok_record_list_free().  Do not copy the struct: a list owns its
 *  items and its origin. */
typedef struct pairtok_record_list {
    pairtok_record *items;
    size_t count;
    size_t capacity;
    /** The token hashes the store held for this list when
     *  pairtok_store_load() or pairtok_list() filled it, which
     *  pairtok_store_save() compares against so that it applies only the
     *  caller's own changes.  Owned by the list; NULL for a list built by
     *  hand.  Do not touch. */
    struct pairtok_list_origin *origin;
} pairtok_record_list;

/** Tunables for pairtok_store_open().  Zero-initialise; a 0 field means the
 *  matching PAIRTOK_DEFAULT_* value. */
/** What an audit event reports (pairtok_options.on_event). */
typedef enum pairtok_event_kind {
    PAIRTOK_EVENT_ISSUE = 1,      /**< a token was issued */
    PAIRTOK_EVENT_REDEEM,         /**< a token was redeemed (and deleted) */
    PAIRTOK_EVENT_REDEEM_REFUSED, /**< a well-formed token was refused */
    PAIRTOK_EVENT_RESERVE,        /**< two-phase redeem: reserved, bind runs next */
    PAIRTOK_EVENT_RELEASE,        /**< two-phase redeem: bind failed, released */
    PAIRTOK_EVENT_REVOKE,         /**< one token was revoked */
    PAIRTOK_EVENT_PRUNE           /**< expired tokens were pruned: `count` */
} pairtok_event_kind;

/** One audit event.  Never holds a raw token.  Pointers are valid only
 *  during the callback. */
typedef struct pairtok_event {
    pairtok_event_kind kind;
    /** When, in seconds since the Unix epoch: the operation's `now`. */
    uint64_t time;
    /** The record's display id (12 hex digits of its token_hash), or NULL
     *  when no record is known (a refused redeem, a prune). */
    const char *id;
    /** The record's principal and label, or NULL. */
    const char *principal;
    const char *label;
    /** How many records: 1 for one token, the number pruned for a prune. */
    size_t count;
} pairtok_event;

/**
 * pairtok_event_fn - receives each audit event, after the change it reports
 * has been committed (so a crash never logs what did not happen), in the
 * thread of the call.  A refused redeem carries nothing that tells why it
 * was refused (no id, principal or label).  It must not call into the same
 * handle.
 */
typedef void (*pairtok_event_fn)(const pairtok_event *event, void *ctx);

typedef struct pairtok_options {
    /** How long a mutation waits for the lock before PAIRTOK_EBUSY. */
    uint32_t lock_timeout_ms;
    /** Outstanding (unexpired) tokens allowed per principal. */
    uint32_t max_per_principal;
    /** Outstanding (unexpired) tokens allowed in the whole store. */
    uint32_t max_total;
    /** Optional audit callback (NULL: none) and its context. */
    pairtok_event_fn on_event;
    void *event_ctx;
} pairtok_options;

/** An open store.  Opaque; create with pairtok_store_open(). */
typedef struct pairtok_store pairtok_store;

/* ---------------------------------------------------------------------- */
/* Tokens: pure functions, no I/O, thread-safe.                           */
/* ---------------------------------------------------------------------- */

/**
 * pairtok_generate_token - draw a fresh token from the OS CSPRNG.
 *
 * Writes 32 characters of URL-safe base64 (no padding) and a NUL to `out`.
 * The 24 raw bytes are wiped before returning.  The caller owns `out` and
 * should wipe it (sodium_memzero) once the token has been shown.
 *
 * Returns PAIRTOK_OK (0), or PAIRTOK_ERANDOM if the CSPRNG could not be
 * initialised (then `out` holds an empty string).
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1) pairtok_status
    pairtok_generate_token(char out[PAIRTOK_TOKEN_LEN + 1]);

/**
 * pairtok_hash_token - lowercase hex SHA-256 of the NUL-terminated `token`.
 *
 * `"hello"` hashes to `2cf24dba...9824`.  Writes 64 hex digits and a NUL.
 * Intermediate buffers are wiped.  Never fails.
 */
PAIRTOK_NONNULL(1, 2) void pairtok_hash_token(const char *token, char out[PAIRTOK_HASH_LEN + 1]);

/**
 * pairtok_ct_hash_eq - compare two NUL-terminated hash strings.
 *
 * Returns false when the lengths differ (the lengths are not secret);
 * otherwise compares every byte in time independent of the contents.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) bool pairtok_ct_hash_eq(const char *a, const char *b);

/** pairtok_now_epoch - seconds since the Unix epoch, from CLOCK_REALTIME, or
 *  0 if the clock cannot be read (then do not pass it to an `_at` form:
 *  use the plain form, which fails instead). */
uint64_t pairtok_now_epoch(void);

/**
 * pairtok_token_is_well_formed - true if `token` (`len` bytes, not
 * necessarily NUL-terminated) is exactly PAIRTOK_TOKEN_LEN characters of
 * `[A-Za-z0-9_-]`.  Runs in time that depends only on `len`.
 */
PAIRTOK_NODISCARD bool pairtok_token_is_well_formed(const char *token, size_t len);

/** pairtok_principal_is_valid - true if `principal` matches
 *  `[A-Za-z0-9_-]{1,64}` and is not the reserved name `anonymous`. */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1) bool pairtok_principal_is_valid(const char *principal);

/* ---------------------------------------------------------------------- */
/* Records and lists.                                                     */
/* ---------------------------------------------------------------------- */

/** pairtok_record_clear - free `record->label` and zero the record.  Safe on
 *  a zeroed record and safe to call twice. */
void pairtok_record_clear(pairtok_record *record);

/** pairtok_record_list_free - free every record and the array; leaves the
 *  list zeroed and reusable.  Safe on a zeroed list. */
void pairtok_record_list_free(pairtok_record_list *list);

/**
 * pairtok_record_list_append - append a copy of `record` (its label is
 * duplicated) to `list`, growing it as needed.  Fails only with
 * PAIRTOK_ENOMEM, leaving the list as it was.  Validation happens when the
 * list is saved.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_record_list_append(pairtok_record_list *list, const pairtok_record *record,
                               pairtok_error *err);

/**
 * pairtok_prune_expired - remove, in place, every record of `list` whose
 * `expires_at_epoch <= now` (a token expiring exactly now is expired).
 * Keeps the order of the survivors.  Returns the number removed.
 */
size_t pairtok_prune_expired(pairtok_record_list *list, uint64_t now);

/* ---------------------------------------------------------------------- */
/* Paths.                                                                 */
/* ---------------------------------------------------------------------- */

/**
 * pairtok_path_for - `<astrid_home>/etc/pair-tokens.toml` into `out`.
 *
 * Fails with PAIRTOK_EINVAL if `astrid_home` is empty or the result does not
 * fit in `out_size` bytes.  No I/O.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_path_for(const char *astrid_home, char *out, size_t out_size, pairtok_error *err);

/**
 * pairtok_default_path - the store path from the environment:
 * `$ASTRID_HOME/etc/pair-tokens.toml`, else `$HOME/.astrid/etc/pair-tokens.toml`.
 *
 * Fails with PAIRTOK_EINVAL when neither variable is set (or set empty) or
 * the path does not fit.  Reads the environment; not thread-safe against a
 * concurrent setenv().
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1) pairtok_status
    pairtok_default_path(char *out, size_t out_size, pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* Store handles.                                                         */
/* ---------------------------------------------------------------------- */

/**
 * pairtok_store_open - make a handle for the store at `path`: a file path,
 * or a PostgreSQL URI starting `postgresql://` or `postgres://` (libpq's
 * syntax; what it leaves out comes from the PG* environment variables,
 * ~/.pgpass and PGSERVICE, as with psql).
 *
 * Copies `path` and `options` (NULL means all defaults); performs no I/O -
 * a file store that does not exist yet is simply empty, and its directory
 * is created (0700) by the first write; a database is connected to by the
 * first call that needs it, and its schema is created by the first write
 * (under an advisory lock) or by pairtok_store_init().  Tables go in the
 * connection's search_path (`?options=-csearch_path%3Dtenant1`).  Across a
 * network use `sslmode=verify-full` (and `sslrootcert`): libpq's default
 * encrypts without checking whom it talks to.  Initialises libsodium.
 *
 * Every function works on both kinds with the same statuses: a server that
 * cannot be reached, refuses the login or fails is PAIRTOK_EIO with libpq's
 * reason (and the SQLSTATE), never the password; a database whose schema
 * is newer than this library is PAIRTOK_ESCHEMA, left alone.  On a
 * database the plain forms take the time from the server's clock.  A
 * lost connection is made again by the next call; a call whose COMMIT was
 * sent but not answered reports PAIRTOK_EIO ("outcome unknown") and is not
 * retried - for redeem the token may be spent, the safe side.
 * Serialisation failures and deadlocks are retried with a random pause.
 *
 * On success `*out` is a new handle the caller releases with
 * pairtok_store_close().  Fails with PAIRTOK_EINVAL (empty or too long
 * path, malformed URI), PAIRTOK_ENOMEM or PAIRTOK_ERANDOM (libsodium could
 * not initialise).
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 3) pairtok_status
    pairtok_store_open(const char *path, const pairtok_options *options, pairtok_store **out,
                       pairtok_error *err);

/** pairtok_store_close - release a handle and everything it caches.  NULL is
 *  a no-op.  Never touches the store file. */
void pairtok_store_close(pairtok_store *store);

/** pairtok_store_path - the path the handle was opened with, or its URI
 *  with any password replaced by `****` (safe to print or log).  Owned by
 *  the handle; valid until pairtok_store_close(). */
PAIRTOK_NONNULL(1) const char *pairtok_store_path(const pairtok_store *store);

/**
 * pairtok_store_load - read every record into `out` (cleared first), in
 * file order, expired ones included.  The list remembers which tokens it
 * was loaded with (its origin), for pairtok_store_save().
 *
 * Takes no lock: a reader sees one complete version of the file because
 * writers replace it by rename.  A missing file or one holding only
 * whitespace and comments is an empty store.  Fails with PAIRTOK_EUNSAFE,
 * PAIRTOK_EPARSE, PAIRTOK_ESCHEMA, PAIRTOK_EIO or PAIRTOK_ENOMEM; `out` is
 * then empty.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_store_load(pairtok_store *store, pairtok_record_list *out, pairtok_error *err);

/**
 * pairtok_store_save - apply the changes the caller made to `records` since
 * it was loaded, and only those, under the lock, atomically.
 *
 * Other handles and processes may have redeemed, revoked, pruned or issued
 * tokens since the list was loaded (pairtok_store_load, pairtok_list).  A
 * plain replace would bring used tokens back and drop new ones, so save is
 * a merge against the list's origin (the tokens it was loaded with):
 *   - a stored record whose token_hash is in `records` gets the five known
 *     fields from it, and keeps its place and its unknown keys;
 *   - a stored record that was loaded but is no longer in `records` (the
 *     caller removed it) is deleted;
 *   - a stored record that was not loaded (issued since) is kept;
 *   - a record of `records` that was loaded but is no longer stored (used,
 *     revoked or pruned since) is NOT written back: a used token stays
 *     used;
 *   - a record of `records` that was not loaded is appended, in list order.
 * A list built by hand (pairtok_record_list_append) has no origin: its
 * records are added or updated and nothing is deleted.  On success the
 * list's origin becomes its records, so saving it again changes nothing
 * unless it was edited; a list whose items the caller owns must still be
 * released with pairtok_record_list_free() (or its origin is leaked).
 * Stored copies of one token_hash are written once.  Top-level unknown
 * keys are kept.  Every record is validated first (hash, principal - not
 * `anonymous` -, label, epochs up to INT64_MAX) and duplicates in
 * `records` are refused: PAIRTOK_EINVAL, nothing written.  Caps are not
 * applied: save is the low-level edit.  Also fails with the load errors,
 * PAIRTOK_EBUSY, PAIRTOK_ELIMIT (the file would exceed PAIRTOK_FILE_MAX),
 * PAIRTOK_EIO (the old file is then byte-for-byte intact and no temp file
 * is left) or PAIRTOK_ENOMEM.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_store_save(pairtok_store *store, pairtok_record_list *records, pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* Operations.  Each is one locked read-modify-write (or a read).         */
/* ---------------------------------------------------------------------- */

/**
 * pairtok_issue_at - mint a token for `principal` valid for `ttl_secs`.
 *
 * `principal` must satisfy pairtok_principal_is_valid(); `label` is NULL or
 * valid UTF-8 of at most PAIRTOK_LABEL_MAX bytes without control characters;
 * `ttl_secs` is 1..PAIRTOK_MAX_EXPIRY_SECS (use PAIRTOK_DEFAULT_EXPIRY_SECS
 * when you have no preference).  Expired records are pruned in the same
 * write.  On success the raw token is in `token_out` - the only time it
 * exists outside the caller's redeeming device; show it, then wipe it - and,
 * if `record_out` is not NULL, the stored record (clear it afterwards).
 *
 * Fails with PAIRTOK_EINVAL (before any I/O), PAIRTOK_ELIMIT (a cap is
 * reached; the message names it), PAIRTOK_ERANDOM, or any store error.  On
 * failure `token_out` is an empty string and the store is unchanged.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2, 5) pairtok_status
    pairtok_issue_at(pairtok_store *store, const char *principal, const char *label,
                     uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                     pairtok_record *record_out, uint64_t now, pairtok_error *err);

/** pairtok_issue - pairtok_issue_at() with now = pairtok_now_epoch(). */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2, 5) pairtok_status
    pairtok_issue(pairtok_store *store, const char *principal, const char *label, uint32_t ttl_secs,
                  char token_out[PAIRTOK_TOKEN_LEN + 1], pairtok_record *record_out,
                  pairtok_error *err);

/**
 * pairtok_bind_fn - called by redeem while the matched token is reserved;
 * this is where a host binds the new device key to record->principal.
 * Return 0 to complete the redeem (the token is then deleted), anything else
 * to abort it (the token stays redeemable).  The store lock is held during
 * the call: do not call into any handle of the same store from it.
 */
typedef int (*pairtok_bind_fn)(const pairtok_record *record, void *ctx);

/**
 * pairtok_redeem_at - consume `token` once.
 *
 * The token is trimmed of surrounding whitespace and must then be 32
 * characters of `[A-Za-z0-9_-]`, else PAIRTOK_EINVAL before any lock.  Under
 * the lock its hash is compared in constant time with every record, without
 * early exit.  A record matches only if `expires_at_epoch > now`, its
 * lifetime is at most PAIRTOK_MAX_EXPIRY_SECS and it is not reserved.
 * Unknown, expired, reserved and used tokens all give PAIRTOK_EDENIED with
 * the message "pair token invalid or expired".
 *
 * Without `bind`: the record is deleted (and expired records pruned) and the
 * file saved before PAIRTOK_OK is returned.
 *
 * With `bind` (two-phase): the record is first marked reserved
 * (`reserved_at_epoch = now`) and that is saved durably; then `bind(record,
 * ctx)` runs with the lock still held.  If it returns non-zero the mark is
 * removed and PAIRTOK_EABORTED returned - the token is redeemable again.  If
 * it returns 0 the record is deleted and saved, then PAIRTOK_OK returned.
 * Guarantee: once `bind` has been called, a crash at any later point leaves
 * the token unredeemable (reserved or deleted); a reserved record is removed
 * by the first prune after it expires.  If the process dies *during* `bind`,
 * the token stays reserved: safe, never redeemable twice.  If removing the
 * mark after a failed `bind` itself fails, PAIRTOK_EABORTED is still
 * returned and the token may stay reserved (safe) - the message says so.
 * When the store holds several copies of the token's hash (a hand edit),
 * every copy is reserved and every copy deleted, and a token any copy of
 * which is reserved is refused.
 *
 * If `record_out` is not NULL it receives the matched record on PAIRTOK_OK
 * (clear it afterwards).  The caller's `token` is not modified; wipe it.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_redeem_at(pairtok_store *store, const char *token, pairtok_bind_fn bind, void *ctx,
                      pairtok_record *record_out, uint64_t now, pairtok_error *err);

/** pairtok_redeem - pairtok_redeem_at() with now = pairtok_now_epoch(). */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_redeem(pairtok_store *store, const char *token, pairtok_bind_fn bind, void *ctx,
                   pairtok_record *record_out, pairtok_error *err);

/**
 * pairtok_revoke_id - delete the one token whose token_hash starts with
 * `id_prefix` (at least PAIRTOK_ID_MIN_LEN lowercase hex characters).
 *
 * Fails with PAIRTOK_EINVAL (bad prefix), PAIRTOK_ENOTFOUND, or
 * PAIRTOK_EAMBIGUOUS (then `*removed` is the number of different tokens
 * that match and nothing is deleted), or a store error.  On success
 * `*removed` is the number of records deleted: 1, or more when the store
 * held copies of the one token (a hand edit) - every copy goes.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2, 3) pairtok_status
    pairtok_revoke_id(pairtok_store *store, const char *id_prefix, size_t *removed,
                      pairtok_error *err);

/**
 * pairtok_revoke_principal - delete every token of `principal` (expired ones
 * included).  `*removed` is how many; 0 is success, not an error.  Fails
 * with PAIRTOK_EINVAL for a malformed principal, or a store error.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2, 3) pairtok_status
    pairtok_revoke_principal(pairtok_store *store, const char *principal, size_t *removed,
                             pairtok_error *err);

/**
 * pairtok_list_at - the outstanding tokens (`expires_at_epoch > now`), sorted
 * by expiry then hash, into `out` (cleared first).  `principal` NULL means
 * all; a malformed one is PAIRTOK_EINVAL.  Reads without the lock, like
 * pairtok_store_load().  Never returns raw tokens - they are not stored.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 3) pairtok_status
    pairtok_list_at(pairtok_store *store, const char *principal, pairtok_record_list *out,
                    uint64_t now, pairtok_error *err);

/** pairtok_list - pairtok_list_at() with now = pairtok_now_epoch(). */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 3) pairtok_status
    pairtok_list(pairtok_store *store, const char *principal, pairtok_record_list *out,
                 pairtok_error *err);

/**
 * pairtok_prune_at - delete every record with `expires_at_epoch <= now`.
 * `*removed` is how many.  Writes only when something was removed.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_prune_at(pairtok_store *store, size_t *removed, uint64_t now, pairtok_error *err);

/** pairtok_prune - pairtok_prune_at() with now = pairtok_now_epoch(). */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 2) pairtok_status
    pairtok_prune(pairtok_store *store, size_t *removed, pairtok_error *err);

/**
 * pairtok_problem_fn - receives one problem found by pairtok_check_at().
 * `problem` is valid only during the call.
 */
typedef void (*pairtok_problem_fn)(const pairtok_error *problem, void *ctx);

/**
 * pairtok_check_at - verify the store without changing it: safety of the
 * file and its directory, the format, every record (including lifetimes
 * over the cap, expiry before issue, duplicate hashes, records left
 * reserved), and stale temp files.  Calls `report` (may be NULL) once per
 * problem and sets `*problems` to the count.  A missing store is healthy.
 * Returns PAIRTOK_OK when the check could run, whatever it found; a status
 * only for failures of the check itself (PAIRTOK_ENOMEM, or PAIRTOK_EIO
 * when the clock cannot be read); an unreadable directory or file is a
 * problem reported, not a status.  The lock file is checked like the store
 * (a missing one is fine), and records issued more than
 * PAIRTOK_CLOCK_SKEW_SECS after `now` are reported.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 4) pairtok_status
    pairtok_check_at(pairtok_store *store, pairtok_problem_fn report, void *ctx, size_t *problems,
                     uint64_t now, pairtok_error *err);

/** pairtok_check - pairtok_check_at() with now = the store's clock. */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1, 4) pairtok_status
    pairtok_check(pairtok_store *store, pairtok_problem_fn report, void *ctx, size_t *problems,
                  pairtok_error *err);

/**
 * pairtok_store_init - create what the store needs, or check that it is
 * there: on a file store, the directory (0700) and an empty store file
 * (0600) if there is none (an existing file is read and must be valid); on
 * a database, the schema, created or upgraded.  Idempotent.
 */
PAIRTOK_NODISCARD PAIRTOK_NONNULL(1) pairtok_status
    pairtok_store_init(pairtok_store *store, pairtok_error *err);

/* ---------------------------------------------------------------------- */
/* Version.                                                               */
/* ---------------------------------------------------------------------- */

/** pairtok_version - the version of the loaded library, e.g. "0.1.0", so a
 *  program can compare it with the PAIRTOK_VERSION it was built with.
 *  Static; never NULL. */
PAIRTOK_NODISCARD const char *pairtok_version(void);

/* ---------------------------------------------------------------------- */
/* Errors.                                                                */
/* ---------------------------------------------------------------------- */

/** pairtok_strerror - a short, static, English description of `status`
 *  ("invalid argument", "store busy", ...).  Never NULL. */
const char *pairtok_strerror(pairtok_status status);

#ifdef __cplusplus
}
#endif

#endif /* PAIRTOK_H */
