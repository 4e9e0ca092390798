/* SPDX-License-Identifier: ISC */
/*
 * store.c - the pair-token store: handles, the locked read-modify-write
 * transaction, and the operations (issue, redeem, revoke, list, prune, save,
 * check) on the TOML document.
 *
 * The document (doc.h) keeps records in compact form and everything else,
 * including keys this library does not know, as TOML, so that every rewrite
 * keeps them.  It is validated once when it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "doc.h"
#include "fsafe.h"
#include "store.h"

/* ---------------------------------------------------------------------- */
/* Handles.                                                               */
/* ---------------------------------------------------------------------- */

static bool split_path(pairtok_store *s)
{
    const char *slash = strrchr(s->path, '/');
    const char *base = slash ? slash + 1 : s->path;
    size_t dir_len = slash ? (size_t)(slash - s->path) : 0;
    if (*base == '\0' || strlen(base) > NAME_MAX - 32 || strcmp(base, ".") == 0 ||
        strcmp(base, "..") == 0) {
        return false;
    }
    if (slash == NULL) {
        strcpy(s->dir, ".");
    } else if (dir_len == 0) {
        strcpy(s->dir, "/");
    } else {
        memcpy(s->dir, s->path, dir_len);
        s->dir[dir_len] = '\0';
    }
    strcpy(s->base, base);
    if (!fsafe_lock_name(s->base, s->lock_name, sizeof s->lock_name)) {
        return false;
    }
    snprintf(s->lock_path, sizeof s->lock_path, "%s.lock", s->path);
    return true;
}

pairtok_status pairtok_store_open(const char *path, const pairtok_options *options,
                                  pairtok_store **out, pairtok_error *err)
{
    *out = NULL;
    pairtok_error_clear(err);
    if (sodium_init() < 0) {
        return pairtok_fail(err, PAIRTOK_ERANDOM, 0, "libsodium failed to initialise");
    }
    size_t len = strlen(path);
    if (len == 0 || len >= PAIRTOK_PATH_MAX) {
        return pairtok_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "store path: must be 1 to %d bytes",
                            PAIRTOK_PATH_MAX - 1);
    }
    pairtok_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    memcpy(s->path, path, len + 1);
    if (!split_path(s)) {
        free(s);
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "%s: not a usable store file name", path);
    }
    if (options != NULL) {
        s->opts = *options;
    }
    if (s->opts.lock_timeout_ms == 0) {
        s->opts.lock_timeout_ms = PAIRTOK_DEFAULT_LOCK_TIMEOUT_MS;
    }
    if (s->opts.max_per_principal == 0) {
        s->opts.max_per_principal = PAIRTOK_DEFAULT_MAX_PER_PRINCIPAL;
    }
    if (s->opts.max_total == 0) {
        s->opts.max_total = PAIRTOK_DEFAULT_MAX_TOTAL;
    }
    s->sys = &pairtok_sys_default;
    s->cache.fd = -1;
    *out = s;
    return PAIRTOK_OK;
}

static void cache_drop(pairtok_store *s)
{
    doc_free(s->cache.doc);
    if (s->cache.fd >= 0) {
        s->sys->close(s->cache.fd);
    }
    memset(&s->cache, 0, sizeof s->cache);
    s->cache.fd = -1;
}

void pairtok_store_close(pairtok_store *store)
{
    if (store != NULL) {
        cache_drop(store);
        free(store);
    }
}

const char *pairtok_store_path(const pairtok_store *store)
{
    return store->path;
}

void pairtok_internal_set_sys(pairtok_store *store, const pairtok_sys *sys)
{
    cache_drop(store);
    store->sys = sys ? sys : &pairtok_sys_default;
}

/* ---------------------------------------------------------------------- */
/* Paths.                                                                 */
/* ---------------------------------------------------------------------- */

pairtok_status pairtok_path_for(const char *astrid_home, char *out, size_t out_size,
                                pairtok_error *err)
{
    if (out_size > 0) {
        out[0] = '\0';
    }
    if (astrid_home[0] == '\0') {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "astrid home: must not be empty");
    }
    int n = snprintf(out, out_size, "%s/etc/pair-tokens.toml", astrid_home);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pairtok_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "astrid home: path too long");
    }
    return PAIRTOK_OK;
}

pairtok_status pairtok_default_path(char *out, size_t out_size, pairtok_error *err)
{
    const char *home = getenv("ASTRID_HOME");
    if (home != NULL && home[0] != '\0') {
        return pairtok_path_for(home, out, out_size, err);
    }
    home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pairtok_fail(err, PAIRTOK_EINVAL, 0,
                            "neither ASTRID_HOME nor HOME is set; give the store path");
    }
    char astrid[PAIRTOK_PATH_MAX];
    int n = snprintf(astrid, sizeof astrid, "%s/.astrid", home);
    if (n < 0 || (size_t)n >= sizeof astrid) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pairtok_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "HOME: path too long");
    }
    return pairtok_path_for(astrid, out, out_size, err);
}

/* ---------------------------------------------------------------------- */
/* Reading the document, with the handle's cache.                         */
/* ---------------------------------------------------------------------- */

/* A document in use, with the file version it mirrors (fd/st) when it is
 * clean.  The fd keeps the inode alive so its number cannot be reused. */
typedef struct doc_ref {
    sdoc *doc;
    int fd; /* descriptor of the file the doc mirrors, -1 if none */
    struct stat st;
    size_t edits;
    bool dirty; /* changed since it mirrored the file */
} doc_ref;

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static pairtok_status parse_file(pairtok_store *s, doc_ref *ref, pairtok_error *err)
{
    fsafe_text text;
    pairtok_status st =
        fsafe_read_all(s->sys, ref->fd, (size_t)ref->st.st_size, s->path, &text, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    return doc_parse(&text, s->path, &ref->doc, err);
}

static void ref_free(pairtok_store *s, doc_ref *ref)
{
    doc_free(ref->doc);
    if (ref->fd >= 0) {
        s->sys->close(ref->fd);
    }
    memset(ref, 0, sizeof *ref);
    ref->fd = -1;
}

/* Get the current document of the store in `dirfd`: from the cache when the
 * file is the version it mirrors, else read, parse and validate it.  A
 * missing file gives an empty document. */
static pairtok_status doc_acquire(pairtok_store *s, int dirfd, doc_ref *ref, pairtok_error *err)
{
    memset(ref, 0, sizeof *ref);
    pairtok_status st = fsafe_open_store(s->sys, dirfd, s->base, s->path, &ref->fd, &ref->st, err);
    if (st != PAIRTOK_OK) {
        ref->fd = -1;
        return st;
    }
    if (ref->fd >= 0 && s->cache.doc != NULL && same_version(&ref->st, &s->cache.st)) {
        s->sys->close(ref->fd);
        *ref = (doc_ref){s->cache.doc, s->cache.fd, s->cache.st, s->cache.edits, false};
        memset(&s->cache, 0, sizeof s->cache);
        s->cache.fd = -1;
        return PAIRTOK_OK;
    }
    cache_drop(s);
    if (ref->fd < 0) {
        ref->doc = doc_new();
    } else {
        st = parse_file(s, ref, err);
        if (st != PAIRTOK_OK) {
            ref_free(s, ref);
            return st;
        }
    }
    if (ref->doc == NULL) {
        ref_free(s, ref);
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

/* Done with a document: keep it for next time if it still mirrors a file
 * version and has not grown too far from a fresh parse (removed nodes stay
 * in the arena until the document is freed). */
static void doc_release(pairtok_store *s, doc_ref *ref)
{
    size_t limit = ref->doc ? doc_count(ref->doc) : 0;
    limit = limit < 1024 ? 1024 : limit;
    if (ref->doc != NULL && !ref->dirty && ref->fd >= 0 && ref->edits <= limit) {
        cache_drop(s);
        s->cache = (store_cache){ref->doc, ref->fd, ref->st, ref->edits};
        memset(ref, 0, sizeof *ref);
        ref->fd = -1;
        return;
    }
    ref_free(s, ref);
}

/* ---------------------------------------------------------------------- */
/* The locked read-modify-write transaction.                              */
/* ---------------------------------------------------------------------- */

typedef struct txn {
    int dirfd;
    int lockfd;
    bool missing; /* no store (and nothing was created) */
    doc_ref ref;
} txn;

/* Lock and load.  With `create`, makes the directory if needed (issue,
 * save); without, a missing directory or file ends here with t->missing set
 * and nothing created (redeem, revoke, prune). */
static pairtok_status txn_begin(pairtok_store *s, bool create, txn *t, pairtok_error *err)
{
    memset(t, 0, sizeof *t);
    t->dirfd = t->lockfd = t->ref.fd = -1;
    pairtok_status st = fsafe_open_dir(s->sys, s->dir, create, &t->dirfd, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (t->dirfd < 0) {
        t->missing = true;
        return PAIRTOK_OK;
    }
    if (!create) {
        int fd;
        struct stat sb;
        st = fsafe_open_store(s->sys, t->dirfd, s->base, s->path, &fd, &sb, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        if (fd < 0) {
            t->missing = true;
            return PAIRTOK_OK;
        }
        s->sys->close(fd);
    }
    st = fsafe_lock(s->sys, t->dirfd, s->lock_name, s->lock_path, s->opts.lock_timeout_ms,
                    &t->lockfd, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    /* With the lock held no live writer owns a temp file: any is stale. */
    fsafe_stale_temps(s->sys, t->dirfd, s->base, true);
    return doc_acquire(s, t->dirfd, &t->ref, err);
}

static int produce_doc(fsafe_out *out, void *doc)
{
    return doc_write(doc, fsafe_out_write, out);
}

static pairtok_status txn_commit(pairtok_store *s, txn *t, pairtok_error *err)
{
    /* An empty store is written as an empty file (or only the unknown
     * keys), not `pair_token = []`: what a fresh store looks like. */
    int keep = -1;
    pairtok_status st =
        fsafe_replace(s->sys, t->dirfd, s->base, s->path, produce_doc, t->ref.doc, &keep, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (t->ref.fd >= 0) {
        s->sys->close(t->ref.fd);
    }
    t->ref.fd = keep;
    if (keep >= 0 && s->sys->fstat(keep, &t->ref.st) != 0) {
        s->sys->close(keep);
        t->ref.fd = -1;
    }
    t->ref.dirty = false;
    t->ref.edits++;
    return PAIRTOK_OK;
}

static void txn_end(pairtok_store *s, txn *t)
{
    if (t->ref.doc != NULL || t->ref.fd >= 0) {
        doc_release(s, &t->ref);
    }
    fsafe_unlock(s->sys, t->lockfd);
    if (t->dirfd >= 0) {
        s->sys->close(t->dirfd);
    }
    t->lockfd = t->dirfd = -1;
}

/* Run `op` on an unlocked, read-only view of the store. */
typedef pairtok_status (*read_fn)(const sdoc *doc, void *ctx, pairtok_error *err);
static pairtok_status with_read_view(pairtok_store *s, read_fn op, void *ctx, pairtok_error *err)
{
    int dirfd;
    pairtok_status st = fsafe_open_dir(s->sys, s->dir, false, &dirfd, err);
    if (st != PAIRTOK_OK || dirfd < 0) {
        return st;
    }
    doc_ref ref;
    st = doc_acquire(s, dirfd, &ref, err);
    if (st == PAIRTOK_OK) {
        st = op(ref.doc, ctx, err);
        doc_release(s, &ref);
    }
    s->sys->close(dirfd);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Issue.                                                                 */
/* ---------------------------------------------------------------------- */

static pairtok_status check_issue_args(const char *principal, const char *label, uint32_t ttl_secs,
                                       uint64_t now, pairtok_error *err)
{
    size_t plen = strnlen(principal, 256);
    const char *problem = pairtok_principal_problem(principal, plen);
    if (problem != NULL) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    if (pairtok_principal_is_reserved(principal, plen)) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0,
                            "principal: 'anonymous' is reserved and cannot be paired");
    }
    if (label != NULL) {
        size_t at;
        size_t len = strnlen(label, PAIRTOK_LABEL_MAX + 1);
        if ((problem = pairtok_label_problem(label, len, &at)) != NULL) {
            if (len > PAIRTOK_LABEL_MAX) {
                return pairtok_fail(err, PAIRTOK_EINVAL, 0,
                                    "label: longer than the 4096-byte limit");
            }
            return pairtok_fail(err, PAIRTOK_EINVAL, 0, "label: %s (at byte %zu)", problem, at);
        }
    }
    if (ttl_secs == 0) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "ttl: must be greater than 0");
    }
    if (ttl_secs > PAIRTOK_MAX_EXPIRY_SECS) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "ttl: %lus exceeds the 1-hour cap (%ds)",
                            (unsigned long)ttl_secs, PAIRTOK_MAX_EXPIRY_SECS);
    }
    if (now > (uint64_t)INT64_MAX - PAIRTOK_MAX_EXPIRY_SECS) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "now: %llu is out of range",
                            (unsigned long long)now);
    }
    return PAIRTOK_OK;
}

static size_t count_where(const sdoc *doc, doc_pred pred, const void *ctx)
{
    size_t n = doc_count(doc), found = 0;
    for (size_t i = 0; i < n; i++) {
        found += pred(doc_at(doc, i), ctx);
    }
    return found;
}

static pairtok_status check_caps(const pairtok_store *s, const sdoc *doc, const char *principal,
                                 pairtok_error *err)
{
    size_t total = doc_count(doc);
    size_t mine = count_where(doc, rec_has_principal, principal);
    if (mine >= s->opts.max_per_principal) {
        return pairtok_fail(err, PAIRTOK_ELIMIT, 0,
                            "principal already has %zu outstanding tokens, the per-principal "
                            "cap (%lu); revoke some or wait for them to expire",
                            mine, (unsigned long)s->opts.max_per_principal);
    }
    if (total >= s->opts.max_total) {
        return pairtok_fail(err, PAIRTOK_ELIMIT, 0,
                            "the store holds %zu outstanding tokens, the total cap (%lu); "
                            "revoke some or wait for them to expire",
                            total, (unsigned long)s->opts.max_total);
    }
    return PAIRTOK_OK;
}

/* The locked part of issue: prune, check caps, add the record, save. */
static pairtok_status issue_locked(pairtok_store *s, txn *t, const pairtok_record *rec,
                                   uint64_t now, pairtok_error *err)
{
    if (doc_remove_where(t->ref.doc, rec_is_expired, &now) > 0) {
        t->ref.dirty = true;
    }
    pairtok_status st = check_caps(s, t->ref.doc, rec->principal, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    t->ref.dirty = true;
    st = doc_append(t->ref.doc, rec, err);
    return st == PAIRTOK_OK ? txn_commit(s, t, err) : st;
}

pairtok_status pairtok_issue_at(pairtok_store *store, const char *principal, const char *label,
                                uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                                pairtok_record *record_out, uint64_t now, pairtok_error *err)
{
    token_out[0] = '\0';
    if (record_out != NULL) {
        memset(record_out, 0, sizeof *record_out);
    }
    pairtok_error_clear(err);
    pairtok_status st = check_issue_args(principal, label, ttl_secs, now, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    /* Allocate the caller's copy of the label first: once the token is
     * stored, nothing may fail. */
    char *label_copy = NULL;
    if (record_out != NULL && label != NULL && (label_copy = strdup(label)) == NULL) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    char token[PAIRTOK_TOKEN_LEN + 1];
    if (pairtok_generate_token(token) != 0) {
        free(label_copy);
        return pairtok_fail(err, PAIRTOK_ERANDOM, 0, "the system random number generator failed");
    }
    pairtok_record rec = {.expires_at_epoch = now + ttl_secs, .issued_at_epoch = now};
    pairtok_hash_token(token, rec.token_hash);
    memcpy(rec.principal, principal, strlen(principal) + 1);
    rec.label = (char *)label;

    txn t;
    st = txn_begin(store, true, &t, err);
    if (st == PAIRTOK_OK) {
        st = issue_locked(store, &t, &rec, now, err);
    }
    txn_end(store, &t);
    if (st == PAIRTOK_OK) {
        memcpy(token_out, token, sizeof token);
        if (record_out != NULL) {
            *record_out = rec;
            record_out->label = label_copy;
            label_copy = NULL;
        }
    }
    free(label_copy);
    sodium_memzero(token, sizeof token);
    return st;
}

pairtok_status pairtok_issue(pairtok_store *store, const char *principal, const char *label,
                             uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                             pairtok_record *record_out, pairtok_error *err)
{
    return pairtok_issue_at(store, principal, label, ttl_secs, token_out, record_out,
                            pairtok_now_epoch(), err);
}

/* ---------------------------------------------------------------------- */
/* Redeem.                                                                */
/* ---------------------------------------------------------------------- */

static pairtok_status denied(pairtok_error *err)
{
    return pairtok_fail(err, PAIRTOK_EDENIED, 0, PAIRTOK_DENIED_MESSAGE);
}

/* Trim surrounding whitespace, check the shape, and hash (straight from
 * the caller's buffer: no copy of the token is made). */
static pairtok_status hash_presented(const char *token, unsigned char hash[HASH_BYTES],
                                     pairtok_error *err)
{
    static const char space[] = " \t\n\v\f\r";
    size_t len = strlen(token);
    size_t start = 0;
    while (start < len && strchr(space, token[start]) != NULL) {
        start++;
    }
    while (len > start && strchr(space, token[len - 1]) != NULL) {
        len--;
    }
    if (!pairtok_token_is_well_formed(token + start, len - start)) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0,
                            "token: malformed: expected 32 characters of [A-Za-z0-9_-]");
    }
    pairtok_hash_token_raw(token + start, PAIRTOK_TOKEN_LEN, hash);
    return PAIRTOK_OK;
}

/* Index of the redeemable record whose hash equals `hash`, or the record
 * count when there is none.  Every record is compared in constant time and
 * the loop never exits early, so the timing does not tell which record (or
 * whether any) matched.  The same pass sets REC_GONE on what a successful
 * redeem deletes - the token, any duplicate of it, and expired records - and
 * clears it on every other record, so the deletion need not compare again. */
static size_t find_match(sdoc *doc, const unsigned char *hash, uint64_t now)
{
    size_t n = doc_count(doc);
    size_t match = n;
    for (size_t i = 0; i < n; i++) {
        srec *rec = doc_at(doc, i);
        size_t equal = (size_t)(sodium_memcmp(rec->hash, hash, HASH_BYTES) + 1);
        size_t live = rec_redeemable(rec, now);
        size_t mask = (size_t)0 - (equal & live);
        match = (match & ~mask) | (i & mask);
        unsigned gone = (unsigned)(equal | (rec->expires <= now));
        rec->flags = (uint8_t)((rec->flags & ~(unsigned)REC_GONE) | gone * (unsigned)REC_GONE);
    }
    return match;
}

/* Delete what find_match marked, then save. */
static pairtok_status consume(pairtok_store *s, txn *t, pairtok_error *err)
{
    t->ref.dirty = true;
    doc_remove_where(t->ref.doc, rec_is_gone, NULL);
    return txn_commit(s, t, err);
}

/* Two-phase redeem: reserve durably, call `bind`, then consume or
 * release. */
static pairtok_status reserve_and_bind(pairtok_store *s, txn *t, srec *rec,
                                       const pairtok_record *matched, pairtok_bind_fn bind,
                                       void *ctx, uint64_t now, pairtok_error *err)
{
    t->ref.dirty = true;
    rec->flags |= REC_RESERVED;
    rec->reserved_at = now;
    pairtok_status st = txn_commit(s, t, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (bind(matched, ctx) != 0) {
        t->ref.dirty = true;
        rec->flags &= (uint8_t)~REC_RESERVED;
        pairtok_error release;
        if (txn_commit(s, t, &release) != PAIRTOK_OK) {
            return pairtok_fail(err, PAIRTOK_EABORTED, release.sys_errno,
                                "the bind callback failed, and releasing the token failed too "
                                "(%s): it stays reserved and cannot be redeemed",
                                release.message);
        }
        return pairtok_fail(err, PAIRTOK_EABORTED, 0,
                            "the bind callback failed; the token is still redeemable");
    }
    st = consume(s, t, err);
    if (st != PAIRTOK_OK && err != NULL) {
        char cause[PAIRTOK_MESSAGE_MAX];
        memcpy(cause, err->message, sizeof cause);
        cause[sizeof cause - 1] = '\0';
        pairtok_fail(err, st, err->sys_errno,
                     "device bound, but deleting the token failed (%.900s); it stays reserved "
                     "and can never be redeemed",
                     cause);
    }
    return st;
}

static pairtok_status redeem_locked(pairtok_store *s, txn *t, const unsigned char *hash,
                                    pairtok_bind_fn bind, void *ctx, pairtok_record *matched,
                                    uint64_t now, pairtok_error *err)
{
    sdoc *doc = t->ref.doc;
    size_t index = find_match(doc, hash, now);
    pairtok_status st;
    if (index == doc_count(doc)) {
        st = denied(err);
    } else if ((st = rec_export(doc_at(doc, index), matched, err)) == PAIRTOK_OK) {
        st = bind == NULL
                 ? consume(s, t, err)
                 : reserve_and_bind(s, t, doc_at(doc, index), matched, bind, ctx, now, err);
    }
    return st;
}

pairtok_status pairtok_redeem_at(pairtok_store *store, const char *token, pairtok_bind_fn bind,
                                 void *ctx, pairtok_record *record_out, uint64_t now,
                                 pairtok_error *err)
{
    if (record_out != NULL) {
        memset(record_out, 0, sizeof *record_out);
    }
    pairtok_error_clear(err);
    unsigned char hash[HASH_BYTES];
    pairtok_status st = hash_presented(token, hash, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    txn t;
    pairtok_record matched = {0};
    st = txn_begin(store, false, &t, err);
    if (st == PAIRTOK_OK) {
        st =
            t.missing ? denied(err) : redeem_locked(store, &t, hash, bind, ctx, &matched, now, err);
    }
    txn_end(store, &t);
    sodium_memzero(hash, sizeof hash);
    if (st == PAIRTOK_OK && record_out != NULL) {
        *record_out = matched;
    } else {
        pairtok_record_clear(&matched);
    }
    return st;
}

pairtok_status pairtok_redeem(pairtok_store *store, const char *token, pairtok_bind_fn bind,
                              void *ctx, pairtok_record *record_out, pairtok_error *err)
{
    return pairtok_redeem_at(store, token, bind, ctx, record_out, pairtok_now_epoch(), err);
}

/* ---------------------------------------------------------------------- */
/* Revoke and prune.                                                      */
/* ---------------------------------------------------------------------- */

typedef struct prefix {
    char hex[PAIRTOK_HASH_LEN + 1];
    size_t len;
} prefix;

static bool has_prefix(const srec *rec, const void *p)
{
    const prefix *want = p;
    char hex[PAIRTOK_HASH_LEN + 1];
    rec_hash_hex(rec, hex);
    return memcmp(hex, want->hex, want->len) == 0;
}

static pairtok_status parse_prefix(const char *id, prefix *out, pairtok_error *err)
{
    size_t len = strnlen(id, PAIRTOK_HASH_LEN + 1);
    bool ok = len >= PAIRTOK_ID_MIN_LEN && len <= PAIRTOK_HASH_LEN;
    for (size_t i = 0; ok && i < len; i++) {
        char c = id[i];
        c = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        out->hex[i] = c;
    }
    if (!ok) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "id: must be 8 to 64 hex digits");
    }
    out->hex[len] = '\0';
    out->len = len;
    return PAIRTOK_OK;
}

/* Remove what `drop` selects under the lock; save only if anything went.
 * `exactly_one`: refuse (nothing removed) unless exactly one matches. */
static pairtok_status remove_locked(pairtok_store *s, doc_pred drop, const void *ctx,
                                    bool exactly_one, size_t *removed, pairtok_error *err)
{
    *removed = 0;
    txn t;
    pairtok_status st = txn_begin(s, false, &t, err);
    if (st == PAIRTOK_OK && !t.missing) {
        size_t matches = count_where(t.ref.doc, drop, ctx);
        if (exactly_one && matches > 1) {
            *removed = matches;
            st = PAIRTOK_EAMBIGUOUS;
        } else if (matches > 0) {
            t.ref.dirty = true;
            *removed = doc_remove_where(t.ref.doc, drop, ctx);
            st = txn_commit(s, &t, err);
            if (st != PAIRTOK_OK) {
                *removed = 0;
            }
        }
    }
    txn_end(s, &t);
    return st;
}

pairtok_status pairtok_revoke_id(pairtok_store *store, const char *id_prefix, size_t *removed,
                                 pairtok_error *err)
{
    *removed = 0;
    pairtok_error_clear(err);
    prefix p;
    pairtok_status st = parse_prefix(id_prefix, &p, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    st = remove_locked(store, has_prefix, &p, true, removed, err);
    if (st == PAIRTOK_EAMBIGUOUS) {
        return pairtok_fail(err, st, 0, "id %s matches %zu tokens; give more of it", p.hex,
                            *removed);
    }
    if (st == PAIRTOK_OK && *removed == 0) {
        return pairtok_fail(err, PAIRTOK_ENOTFOUND, 0, "no token has id %s", p.hex);
    }
    return st;
}

pairtok_status pairtok_revoke_principal(pairtok_store *store, const char *principal,
                                        size_t *removed, pairtok_error *err)
{
    *removed = 0;
    pairtok_error_clear(err);
    const char *problem = pairtok_principal_problem(principal, strnlen(principal, 256));
    if (problem != NULL) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    return remove_locked(store, rec_has_principal, principal, false, removed, err);
}

pairtok_status pairtok_prune_at(pairtok_store *store, size_t *removed, uint64_t now,
                                pairtok_error *err)
{
    pairtok_error_clear(err);
    return remove_locked(store, rec_is_expired, &now, false, removed, err);
}

pairtok_status pairtok_prune(pairtok_store *store, size_t *removed, pairtok_error *err)
{
    return pairtok_prune_at(store, removed, pairtok_now_epoch(), err);
}

/* ---------------------------------------------------------------------- */
/* Load and list.                                                         */
/* ---------------------------------------------------------------------- */

typedef struct export_ctx {
    pairtok_record_list *out;
    const char *principal; /* NULL: all */
    bool only_live;
    uint64_t now;
} export_ctx;

static bool selected(const export_ctx *ctx, const srec *rec)
{
    return !(ctx->only_live && rec->expires <= ctx->now) &&
           (ctx->principal == NULL || rec_has_principal(rec, ctx->principal));
}

/* Copy the selected records straight into a list allocated once at its
 * final size: at 100,000 records, growing by doubling would briefly hold
 * the old and the new array, the largest part of a load's peak memory. */
static pairtok_status export_records(const sdoc *doc, void *ctx_ptr, pairtok_error *err)
{
    export_ctx *ctx = ctx_ptr;
    size_t n = doc_count(doc), wanted = 0;
    for (size_t i = 0; i < n; i++) {
        wanted += selected(ctx, doc_at(doc, i));
    }
    if (wanted == 0) {
        return PAIRTOK_OK;
    }
    pairtok_record_list *out = ctx->out;
    out->items = malloc(wanted * sizeof *out->items);
    if (out->items == NULL) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    out->capacity = wanted;
    for (size_t i = 0; i < n; i++) {
        const srec *rec = doc_at(doc, i);
        if (selected(ctx, rec)) {
            pairtok_status st = rec_export(rec, &out->items[out->count], err);
            if (st != PAIRTOK_OK) {
                return st;
            }
            out->count++;
        }
    }
    return PAIRTOK_OK;
}

static pairtok_status export_into(pairtok_store *s, export_ctx *ctx, pairtok_error *err)
{
    pairtok_record_list_free(ctx->out);
    pairtok_error_clear(err);
    pairtok_status st = with_read_view(s, export_records, ctx, err);
    if (st != PAIRTOK_OK) {
        pairtok_record_list_free(ctx->out);
    }
    return st;
}

pairtok_status pairtok_store_load(pairtok_store *store, pairtok_record_list *out,
                                  pairtok_error *err)
{
    export_ctx ctx = {out, NULL, false, 0};
    return export_into(store, &ctx, err);
}

static int by_expiry(const void *a, const void *b)
{
    const pairtok_record *x = a, *y = b;
    if (x->expires_at_epoch != y->expires_at_epoch) {
        return x->expires_at_epoch < y->expires_at_epoch ? -1 : 1;
    }
    return strcmp(x->token_hash, y->token_hash);
}

pairtok_status pairtok_list_at(pairtok_store *store, const char *principal,
                               pairtok_record_list *out, uint64_t now, pairtok_error *err)
{
    const char *problem =
        principal ? pairtok_principal_problem(principal, strnlen(principal, 256)) : NULL;
    if (problem != NULL) {
        pairtok_record_list_free(out);
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    export_ctx ctx = {out, principal, true, now};
    pairtok_status st = export_into(store, &ctx, err);
    if (st == PAIRTOK_OK && out->count > 1) {
        qsort(out->items, out->count, sizeof out->items[0], by_expiry);
    }
    return st;
}

pairtok_status pairtok_list(pairtok_store *store, const char *principal, pairtok_record_list *out,
                            pairtok_error *err)
{
    return pairtok_list_at(store, principal, out, pairtok_now_epoch(), err);
}

/* ---------------------------------------------------------------------- */
/* Save.                                                                  */
/* ---------------------------------------------------------------------- */

static pairtok_status check_save_record(const pairtok_record *r, size_t i, pairtok_error *err)
{
    const char *problem = pairtok_hash_problem(r->token_hash, strnlen(r->token_hash, 65));
    if (problem == NULL) {
        problem = pairtok_principal_is_valid(r->principal)
                      ? NULL
                      : "principal must be 1 to 64 characters of [A-Za-z0-9_-], not 'anonymous'";
    }
    size_t at;
    if (problem == NULL && r->label != NULL) {
        problem = pairtok_label_problem(r->label, strnlen(r->label, PAIRTOK_LABEL_MAX + 1), &at);
    }
    if (problem == NULL && (r->expires_at_epoch > INT64_MAX || r->issued_at_epoch > INT64_MAX)) {
        problem = "epoch out of range";
    }
    if (problem != NULL) {
        return pairtok_fail(err, PAIRTOK_EINVAL, 0, "records[%zu]: %s", i, problem);
    }
    return PAIRTOK_OK;
}

/* The list indexed by token_hash: open addressing, slots hold list index + 1.
 * Hashes are checked to be 64 lowercase hex digits before they are indexed;
 * their first 16 digits, mixed with a random key drawn per call, pick the
 * slot, so a crafted store file cannot aim lookups at one chain. */
typedef struct save_ctx {
    const pairtok_record_list *list;
    size_t *slots; /* list index + 1 */
    size_t mask;
    uint64_t key;
    bool *present; /* per list index: already in the file */
} save_ctx;

static size_t slot_of(const save_ctx *c, const char *hash)
{
    uint64_t a, b;
    memcpy(&a, hash, sizeof a);
    memcpy(&b, hash + sizeof a, sizeof b);
    uint64_t h = (a ^ c->key) * 0x9E3779B97F4A7C15u;
    h = (h ^ (h >> 29) ^ b) * 0xBF58476D1CE4E5B9u;
    return (size_t)(h ^ (h >> 32)) & c->mask;
}

/* List index of `hash`, or SIZE_MAX.  `guess` is tried first: a file
 * usually holds the records in the order of the list being saved. */
static size_t list_find(const save_ctx *c, const char *hash, size_t guess)
{
    const pairtok_record *items = c->list->items;
    if (guess < c->list->count && memcmp(items[guess].token_hash, hash, PAIRTOK_HASH_LEN) == 0) {
        return guess;
    }
    for (size_t i = slot_of(c, hash), v; (v = c->slots[i]) != 0; i = (i + 1) & c->mask) {
        if (memcmp(items[v - 1].token_hash, hash, PAIRTOK_HASH_LEN) == 0) {
            return v - 1;
        }
    }
    return SIZE_MAX;
}

/* Validate the list and index it by hash, refusing duplicates. */
static pairtok_status index_records(const pairtok_record_list *list, save_ctx *c,
                                    pairtok_error *err)
{
    for (size_t i = 0; i < list->count; i++) {
        pairtok_status st = check_save_record(&list->items[i], i, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
    }
    size_t cap = 16;
    while (cap < 2 * list->count) {
        cap *= 2;
    }
    c->list = list;
    c->mask = cap - 1;
    c->key = (uint64_t)randombytes_random() << 32 | randombytes_random();
    c->slots = calloc(cap, sizeof *c->slots);
    c->present = calloc(list->count ? list->count : 1, sizeof *c->present);
    if (c->slots == NULL || c->present == NULL) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < list->count; i++) {
        const char *hash = list->items[i].token_hash;
        if (list_find(c, hash, SIZE_MAX) != SIZE_MAX) {
            return pairtok_fail(err, PAIRTOK_EINVAL, 0,
                                "records[%zu]: token_hash %.12s... appears twice", i, hash);
        }
        size_t at = slot_of(c, hash);
        while (c->slots[at] != 0) {
            at = (at + 1) & c->mask;
        }
        c->slots[at] = i + 1;
    }
    return PAIRTOK_OK;
}

static pairtok_status save_locked(pairtok_store *s, txn *t, const pairtok_record_list *list,
                                  save_ctx *c, pairtok_error *err)
{
    pairtok_status st = PAIRTOK_OK;
    t->ref.dirty = true;
    sdoc *doc = t->ref.doc;
    size_t next = 0;
    for (size_t i = 0; i < doc_count(doc); i++) {
        srec *rec = doc_at(doc, i);
        char hex[PAIRTOK_HASH_LEN + 1];
        rec_hash_hex(rec, hex);
        size_t at = list_find(c, hex, next);
        if (at == SIZE_MAX) {
            rec->flags |= REC_GONE; /* not in the list: deleted below */
            continue;
        }
        rec->flags &= (uint8_t)~REC_GONE;
        next = at + 1;
        c->present[at] = true;
        bool changed;
        st = rec_update(doc, rec, &list->items[at], &changed, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        /* Rewritten fields leave old strings in the pool: count them as
         * edits so the cache is re-read before it grows far. */
        t->ref.edits += changed;
    }
    doc_remove_where(doc, rec_is_gone, NULL);
    for (size_t i = 0; i < list->count; i++) {
        if (!c->present[i]) {
            t->ref.edits++;
            st = doc_append(t->ref.doc, &list->items[i], err);
            if (st != PAIRTOK_OK) {
                return st;
            }
        }
    }
    return txn_commit(s, t, err);
}

pairtok_status pairtok_store_save(pairtok_store *store, const pairtok_record_list *records,
                                  pairtok_error *err)
{
    pairtok_error_clear(err);
    save_ctx c = {0};
    pairtok_status st = index_records(records, &c, err);
    if (st == PAIRTOK_OK) {
        txn t;
        st = txn_begin(store, true, &t, err);
        if (st == PAIRTOK_OK) {
            st = save_locked(store, &t, records, &c, err);
        }
        txn_end(store, &t);
    }
    free(c.present);
    free(c.slots);
    return st;
}
