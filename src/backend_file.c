/* SPDX-License-Identifier: ISC */
/*
 * backend_file.c - the TOML file backend: one file, an flock on
 * `<file>.lock` from begin to end, and every commit an atomic rewrite
 * (fsafe.c).  The verbs work on the parsed document (doc.h).
 *
 * Redeem compares the presented hash with every record in constant time
 * and without early exit (find_match), so that the time a redeem takes
 * does not tell which record, or whether any, matched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "backend_file.h"
#include "fsafe.h"
#include "store.h"

static const backend_ops file_ops;

/* ---------------------------------------------------------------------- */
/* The handle.                                                            */
/* ---------------------------------------------------------------------- */

static bool split_path(file_backend *f)
{
    const char *slash = strrchr(f->path, '/');
    const char *name = slash ? slash + 1 : f->path;
    size_t dir_len = slash ? (size_t)(slash - f->path) : 0;
    if (*name == '\0' || strlen(name) > NAME_MAX - 32 || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return false;
    }
    if (slash == NULL) {
        strcpy(f->dir, ".");
    } else if (dir_len == 0) {
        strcpy(f->dir, "/");
    } else {
        memcpy(f->dir, f->path, dir_len);
        f->dir[dir_len] = '\0';
    }
    strcpy(f->name, name);
    if (!fsafe_lock_name(f->name, f->lock_name, sizeof f->lock_name)) {
        return false;
    }
    snprintf(f->lock_path, sizeof f->lock_path, "%s.lock", f->path);
    return true;
}

pairtok_status backend_file_open(const char *location, const pairtok_options *opts, backend **out,
                                 pairtok_error *err)
{
    size_t len = strlen(location);
    if (len == 0 || len >= PAIRTOK_PATH_MAX) {
        return pt_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "store path: must be 1 to %d bytes",
                       PAIRTOK_PATH_MAX - 1);
    }
    file_backend *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    memcpy(f->path, location, len + 1);
    if (!split_path(f)) {
        free(f);
        return pt_fail(err, PAIRTOK_EINVAL, 0, "%s: not a usable store file name", location);
    }
    f->base.ops = &file_ops;
    memcpy(f->base.display, location, len + 1);
    f->lock_timeout_ms = opts->lock_timeout_ms;
    f->sys = &pt_sys_default;
    f->cache.fd = -1;
    f->txn.dirfd = f->txn.lockfd = f->txn.ref.fd = -1;
    *out = &f->base;
    return PAIRTOK_OK;
}

static void file_close(backend *b)
{
    file_backend *f = (file_backend *)b;
    file_cache_drop(f);
    free(f);
}

file_backend *file_backend_of(pairtok_store *store)
{
    backend *b = pt_store_backend(store);
    return b->ops == &file_ops ? (file_backend *)b : NULL;
}

void pt_set_sys(pairtok_store *store, const pt_sys *sys)
{
    file_backend *f = file_backend_of(store);
    if (f != NULL) {
        file_cache_drop(f);
        f->sys = sys ? sys : &pt_sys_default;
    }
}

pairtok_status file_clock(const file_backend *f, uint64_t *now, pairtok_error *err)
{
    struct timespec ts;
    if (f->sys->clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        int e = errno;
        return pt_fail(err, PAIRTOK_EIO, e, "%s: cannot read the system clock: %s", f->path,
                       strerror(e));
    }
    if (ts.tv_sec < 0) {
        return pt_fail(err, PAIRTOK_EIO, 0,
                       "%s: the system clock is set before 1970; refusing to judge expiry",
                       f->path);
    }
    *now = (uint64_t)ts.tv_sec;
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* The transaction.                                                       */
/* ---------------------------------------------------------------------- */

/* A redeem, revoke or prune of a store that does not exist creates
 * nothing: is the directory or the file missing? */
static pairtok_status open_existing(file_backend *f, file_txn *t, pairtok_error *err)
{
    pairtok_status st = fsafe_open_dir(f->sys, f->dir, false, &t->dirfd, err);
    if (st != PAIRTOK_OK || t->dirfd < 0) {
        t->missing = true;
        return st;
    }
    int fd;
    struct stat sb;
    st = fsafe_open_store(f->sys, t->dirfd, f->name, f->path, &fd, &sb, err);
    if (st == PAIRTOK_OK && fd >= 0) {
        f->sys->close(fd);
    } else {
        t->missing = true;
    }
    return st;
}

static pairtok_status lock_and_read(file_backend *f, file_txn *t, pairtok_error *err)
{
    pairtok_status st = fsafe_lock(f->sys, t->dirfd, f->lock_name, f->lock_path, f->lock_timeout_ms,
                                   &t->lockfd, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    /* With the lock held no live writer owns a temp file: any is stale. */
    fsafe_stale_temps(f->sys, t->dirfd, f->name, true);
    return file_doc_acquire(f, t->dirfd, &t->ref, err);
}

static pairtok_status file_begin(backend *b, backend_mode mode, const char *lock_principal,
                                 uint64_t *now, bool *exists, pairtok_error *err)
{
    (void)lock_principal; /* the whole file is locked */
    file_backend *f = (file_backend *)b;
    file_txn *t = &f->txn;
    memset(t, 0, sizeof *t);
    t->dirfd = t->lockfd = t->ref.fd = -1;
    t->active = true;
    pairtok_status st;
    if (mode == BACKEND_WRITE_CREATE) {
        st = fsafe_open_dir(f->sys, f->dir, true, &t->dirfd, err);
    } else if (mode == BACKEND_WRITE) {
        st = open_existing(f, t, err);
    } else {
        st = fsafe_open_dir(f->sys, f->dir, false, &t->dirfd, err);
        t->missing = st == PAIRTOK_OK && t->dirfd < 0;
    }
    if (st == PAIRTOK_OK && !t->missing) {
        st = mode == BACKEND_READ ? file_doc_acquire(f, t->dirfd, &t->ref, err)
                                  : lock_and_read(f, t, err);
    }
    /* The plain API forms read the clock only now, with the lock held: a
     * token that expires while we waited for the lock is expired. */
    if (st == PAIRTOK_OK && *now == BACKEND_NOW) {
        st = file_clock(f, now, err);
    }
    *exists = !t->missing;
    return st;
}

static int produce_doc(fsafe_out *out, void *doc)
{
    return doc_write(doc, fsafe_out_write, out);
}

static pairtok_status file_commit(backend *b, pairtok_error *err)
{
    file_backend *f = (file_backend *)b;
    file_txn *t = &f->txn;
    if (t->missing || !t->ref.dirty) {
        return PAIRTOK_OK;
    }
    /* An empty store is written as an empty file (or only the unknown
     * keys), not `pair_token = []`: what a fresh store looks like. */
    int keep = -1;
    pairtok_status st =
        fsafe_replace(f->sys, t->dirfd, f->name, f->path, produce_doc, t->ref.doc, &keep, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (t->ref.fd >= 0) {
        f->sys->close(t->ref.fd);
    }
    t->ref.fd = keep;
    if (keep >= 0 && f->sys->fstat(keep, &t->ref.st) != 0) {
        f->sys->close(keep);
        t->ref.fd = -1;
    }
    t->ref.dirty = false;
    t->ref.edits++;
    return PAIRTOK_OK;
}

static void file_end(backend *b)
{
    file_backend *f = (file_backend *)b;
    file_txn *t = &f->txn;
    if (!t->active) {
        return;
    }
    if (t->ref.doc != NULL || t->ref.fd >= 0) {
        file_doc_release(f, &t->ref);
    }
    fsafe_unlock(f->sys, t->lockfd);
    if (t->dirfd >= 0) {
        f->sys->close(t->dirfd);
    }
    memset(t, 0, sizeof *t);
    t->dirfd = t->lockfd = t->ref.fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Selections.                                                            */
/* ---------------------------------------------------------------------- */

static bool sel_match(const backend_sel *sel, const srec *rec)
{
    if (sel->live_only && rec->expires <= sel->now) {
        return false;
    }
    char hex[PAIRTOK_HASH_LEN + 1];
    switch (sel->kind) {
    case SEL_ALL:
        return true;
    case SEL_PRINCIPAL:
        return strcmp(rec->principal, sel->principal) == 0;
    case SEL_ID_PREFIX:
        rec_hash_hex(rec, hex);
        return memcmp(hex, sel->prefix, sel->prefix_len) == 0;
    case SEL_EXPIRED:
        return rec->expires <= sel->now;
    case SEL_HASH:
        return memcmp(rec->hash, sel->hash, HASH_BYTES) == 0;
    }
    return false;
}

static bool sel_pred(const srec *rec, const void *sel)
{
    return sel_match(sel, rec);
}

static pairtok_status file_count(backend *b, const backend_sel *sel, size_t limit, size_t *n,
                                 pairtok_error *err)
{
    (void)limit; /* counting in memory costs the same either way */
    (void)err;
    file_backend *f = (file_backend *)b;
    *n = 0;
    if (f->txn.missing) {
        return PAIRTOK_OK;
    }
    const sdoc *doc = f->txn.ref.doc;
    size_t count = doc_count(doc);
    if (sel->kind == SEL_ALL && !sel->live_only) {
        *n = count;
        return PAIRTOK_OK;
    }
    for (size_t i = 0; i < count; i++) {
        *n += sel_match(sel, doc_at(doc, i));
    }
    return PAIRTOK_OK;
}

/* Copy the selected records into `out`, grown once to its final size: at
 * 100,000 records, growing by doubling would briefly hold the old and the
 * new array, the largest part of a load's peak memory. */
static pairtok_status file_read(backend *b, const backend_sel *sel, pairtok_record_list *out,
                                pairtok_error *err)
{
    file_backend *f = (file_backend *)b;
    size_t wanted;
    pairtok_status st = file_count(b, sel, SIZE_MAX, &wanted, err);
    if (st != PAIRTOK_OK || wanted == 0) {
        return st;
    }
    if (pt_record_list_reserve(out, out->count + wanted) != PAIRTOK_OK) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    const sdoc *doc = f->txn.ref.doc;
    for (size_t i = 0; i < doc_count(doc); i++) {
        const srec *rec = doc_at(doc, i);
        if (sel_match(sel, rec)) {
            st = rec_export(rec, &out->items[out->count], err);
            if (st != PAIRTOK_OK) {
                return st;
            }
            out->count++;
        }
    }
    return PAIRTOK_OK;
}

static pairtok_status file_insert(backend *b, pairtok_record *rec, uint32_t ttl, pairtok_error *err)
{
    (void)ttl; /* begin resolved the clock, so the record has its epochs */
    file_backend *f = (file_backend *)b;
    f->txn.ref.dirty = true;
    return doc_append(f->txn.ref.doc, rec, err);
}

static pairtok_status file_remove(backend *b, const backend_sel *sel, size_t *removed,
                                  pairtok_record_list *gone, pairtok_error *err)
{
    file_backend *f = (file_backend *)b;
    *removed = 0;
    if (f->txn.missing) {
        return PAIRTOK_OK;
    }
    if (gone != NULL) {
        pairtok_status st = file_read(b, sel, gone, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
    }
    *removed = doc_remove_where(f->txn.ref.doc, sel_pred, sel);
    if (*removed > 0) {
        f->txn.ref.dirty = true;
    }
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* Redeem.                                                                */
/* ---------------------------------------------------------------------- */

/* Index of the redeemable record whose hash equals `hash`, or the record
 * count when there is none - also when any copy of the hash is reserved,
 * so a duplicate cannot be redeemed while its twin is bound.  Every record
 * is compared in constant time and the loop never exits early.  The same
 * pass sets REC_GONE on what a successful redeem deletes - every copy of
 * the token, and expired records - and clears it on every other record. */
static size_t find_match(sdoc *doc, const unsigned char *hash, uint64_t now)
{
    size_t n = doc_count(doc);
    size_t match = n;
    size_t held = 0;
    for (size_t i = 0; i < n; i++) {
        srec *rec = doc_at(doc, i);
        size_t equal = (size_t)(sodium_memcmp(rec->hash, hash, HASH_BYTES) + 1);
        size_t live = rec_redeemable(rec, now);
        size_t mask = (size_t)0 - (equal & live);
        match = (match & ~mask) | (i & mask);
        held |= equal & (size_t)((rec->flags & REC_RESERVED) != 0);
        unsigned gone = (unsigned)(equal | (rec->expires <= now));
        rec->flags = (uint8_t)((rec->flags & ~(unsigned)REC_GONE) | gone * (unsigned)REC_GONE);
    }
    size_t held_mask = (size_t)0 - held;
    return (match & ~held_mask) | (n & held_mask);
}

/* Find the record and copy it out; *index is the record count when none. */
static pairtok_status match_and_export(file_backend *f, const unsigned char *hash, uint64_t now,
                                       pairtok_record *out, size_t *index, bool *found,
                                       pairtok_error *err)
{
    *found = false;
    *index = 0;
    if (f->txn.missing) {
        return PAIRTOK_OK;
    }
    sdoc *doc = f->txn.ref.doc;
    *index = find_match(doc, hash, now);
    if (*index == doc_count(doc)) {
        return PAIRTOK_OK;
    }
    *found = true;
    return rec_export(doc_at(doc, *index), out, err);
}

static bool is_copy_of(const srec *rec, const void *hash)
{
    return memcmp(rec->hash, hash, HASH_BYTES) == 0;
}

/* Delete what find_match marked: the token's copies and expired records,
 * which are counted as pruned for the audit. */
static void remove_marked(file_backend *f, const unsigned char *hash)
{
    sdoc *doc = f->txn.ref.doc;
    size_t copies = 0;
    for (size_t i = 0; i < doc_count(doc); i++) {
        copies += is_copy_of(doc_at(doc, i), hash);
    }
    size_t removed = doc_remove_where(doc, rec_is_gone, NULL);
    f->base.pruned_by_redeem += removed > copies ? removed - copies : 0;
    f->txn.ref.dirty = true;
}

static pairtok_status file_take(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                                uint64_t now, pairtok_record *out, bool *found, pairtok_error *err)
{
    file_backend *f = (file_backend *)b;
    size_t index;
    pairtok_status st = match_and_export(f, hash, now, out, &index, found, err);
    if (st == PAIRTOK_OK && *found) {
        remove_marked(f, hash);
    }
    return st;
}

static pairtok_status file_reserve(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                                   const unsigned char rid[BACKEND_RID_BYTES], uint64_t now,
                                   pairtok_record *out, bool *found, pairtok_error *err)
{
    (void)rid; /* the lock is held until settle: nobody else can touch the mark */
    file_backend *f = (file_backend *)b;
    size_t index;
    pairtok_status st = match_and_export(f, hash, now, out, &index, found, err);
    if (st != PAIRTOK_OK || !*found) {
        return st;
    }
    sdoc *doc = f->txn.ref.doc;
    for (size_t i = 0; i < doc_count(doc); i++) {
        srec *rec = doc_at(doc, i);
        if (is_copy_of(rec, hash)) {
            rec->flags |= REC_RESERVED;
            rec->reserved_at = now;
        }
    }
    f->txn.ref.dirty = true;
    return PAIRTOK_OK;
}

/* Consume deletes what the reserve's match marked (every copy of the token,
 * and expired records); release clears the mark on every copy. */
static pairtok_status file_settle(backend *b, const unsigned char hash[BACKEND_HASH_BYTES],
                                  const unsigned char rid[BACKEND_RID_BYTES], bool consume,
                                  bool *found, pairtok_error *err)
{
    (void)rid;
    (void)err;
    file_backend *f = (file_backend *)b;
    *found = false;
    if (f->txn.missing) {
        return PAIRTOK_OK;
    }
    sdoc *doc = f->txn.ref.doc;
    for (size_t i = 0; i < doc_count(doc); i++) {
        srec *rec = doc_at(doc, i);
        if (is_copy_of(rec, hash) && (rec->flags & REC_RESERVED)) {
            *found = true;
            rec->flags &= (uint8_t)~REC_RESERVED;
        }
    }
    if (*found) {
        f->txn.ref.dirty = true;
        if (consume) {
            remove_marked(f, hash);
        }
    }
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* Save and init.                                                         */
/* ---------------------------------------------------------------------- */

/* Position in plan->list of the record with hash `hex`, or SIZE_MAX.
 * `guess` is tried first: a file usually holds the records in the order
 * of the list being saved. */
static size_t list_find(const backend_save *plan, const char *hex, size_t guess)
{
    const pairtok_record *items = plan->list->items;
    if (guess < plan->list->count && memcmp(items[guess].token_hash, hex, PAIRTOK_HASH_LEN) == 0) {
        return guess;
    }
    size_t lo = 0, hi = plan->list->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *at = items[plan->order[mid]].token_hash;
        int c = memcmp(at, hex, PAIRTOK_HASH_LEN);
        if (c == 0) {
            return plan->order[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return SIZE_MAX;
}

static bool was_removed(const backend_save *plan, const unsigned char *hash)
{
    return plan->removed_count > 0 && bsearch(hash, plan->removed, plan->removed_count,
                                              BACKEND_HASH_BYTES, backend_hash_cmp) != NULL;
}

/* Decide the fate of every stored record (see backend_save); `present`
 * records which list items are stored. */
static pairtok_status save_existing(file_backend *f, const backend_save *plan, bool *present,
                                    pairtok_error *err)
{
    sdoc *doc = f->txn.ref.doc;
    size_t next = 0;
    for (size_t i = 0; i < doc_count(doc); i++) {
        srec *rec = doc_at(doc, i);
        char hex[PAIRTOK_HASH_LEN + 1];
        rec_hash_hex(rec, hex);
        size_t at = list_find(plan, hex, next);
        bool gone = at == SIZE_MAX ? was_removed(plan, rec->hash) : present[at];
        rec->flags = (uint8_t)(gone ? rec->flags | REC_GONE : rec->flags & ~REC_GONE);
        if (gone || at == SIZE_MAX) {
            continue;
        }
        next = at + 1;
        present[at] = true;
        bool changed;
        pairtok_status st = rec_update(doc, rec, &plan->list->items[at], &changed, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        /* Rewritten fields leave old strings in the pool: count them as
         * edits so the cache is re-read before it grows far. */
        f->txn.ref.edits += changed;
    }
    doc_remove_where(doc, rec_is_gone, NULL);
    return PAIRTOK_OK;
}

static pairtok_status file_save(backend *b, const backend_save *plan, pairtok_error *err)
{
    file_backend *f = (file_backend *)b;
    const pairtok_record_list *list = plan->list;
    bool *present = calloc(list->count ? list->count : 1, sizeof *present);
    if (present == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    f->txn.ref.dirty = true;
    pairtok_status st = save_existing(f, plan, present, err);
    for (size_t i = 0; st == PAIRTOK_OK && i < list->count; i++) {
        if (!present[i] && !plan->in_base[i]) {
            f->txn.ref.edits++;
            st = doc_append(f->txn.ref.doc, &list->items[i], err);
        }
    }
    free(present);
    return st;
}

static pairtok_status file_init(backend *b, pairtok_error *err)
{
    uint64_t now = 0;
    bool exists;
    pairtok_status st = file_begin(b, BACKEND_WRITE_CREATE, NULL, &now, &exists, err);
    file_backend *f = (file_backend *)b;
    if (st == PAIRTOK_OK && f->txn.ref.fd < 0) {
        f->txn.ref.dirty = true; /* no file yet: write the empty store */
        st = file_commit(b, err);
    }
    file_end(b);
    return st;
}

static const backend_ops file_ops = {
    .name = "file",
    .close = file_close,
    .begin = file_begin,
    .commit = file_commit,
    .end = file_end,
    .count = file_count,
    .read = file_read,
    .insert = file_insert,
    .remove = file_remove,
    .take = file_take,
    .reserve = file_reserve,
    .settle = file_settle,
    .save = file_save,
    .check = file_check,
    .init = file_init,
};
