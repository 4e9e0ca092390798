/* SPDX-License-Identifier: ISC */
/*
 * store.c - the store's policy, the same on every backend: handles,
 * argument checks, token generation and hashing, the caps, the reserve ->
 * bind -> consume/release protocol of redeem, the uniform refusal, and the
 * messages.  How records are kept is the backend's business (backend.h).
 *
 * Adding a backend: one file implementing backend_ops, and one line in
 * open_backend() below.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "store.h"

/* How often an operation the server rolled back (BACKEND_RETRY) is run
 * again before its error is reported. */
#define RETRIES 5

/* ---------------------------------------------------------------------- */
/* Handles.                                                               */
/* ---------------------------------------------------------------------- */

static pairtok_status open_backend(const char *location, const pairtok_options *opts, backend **out,
                                   pairtok_error *err)
{
    if (backend_pg_claims(location)) {
        return backend_pg_open(location, opts, out, err);
    }
    return backend_file_open(location, opts, out, err);
}

pairtok_status pairtok_store_open(const char *location, const pairtok_options *options,
                                  pairtok_store **out, pairtok_error *err)
{
    *out = NULL;
    pt_error_clear(err);
    if (sodium_init() < 0) {
        return pt_fail(err, PAIRTOK_ERANDOM, 0, "libsodium failed to initialise");
    }
    pairtok_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
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
    pairtok_status st = open_backend(location, &s->opts, &s->backend, err);
    if (st != PAIRTOK_OK) {
        free(s);
        return st;
    }
    *out = s;
    return PAIRTOK_OK;
}

void pairtok_store_close(pairtok_store *store)
{
    if (store != NULL) {
        store->backend->ops->close(store->backend);
        free(store);
    }
}

const char *pairtok_store_path(const pairtok_store *store)
{
    return store->backend->display;
}

/* ---------------------------------------------------------------------- */
/* Transactions, with retries of what the server rolled back.             */
/* ---------------------------------------------------------------------- */

static void retry_pause(unsigned attempt)
{
    /* Random, growing: racing clients that collided should not collide
     * again in step. */
    long max_us = 1000L << attempt;
    struct timespec pause = {0, (long)randombytes_uniform((uint32_t)max_us) * 1000};
    nanosleep(&pause, NULL);
}

pairtok_status store_run_txn(pairtok_store *s, backend_mode mode, const char *lock_principal,
                             uint64_t now, txn_body body, void *ctx, pairtok_error *err)
{
    const backend_ops *ops = s->backend->ops;
    pairtok_status st = BACKEND_RETRY;
    for (unsigned attempt = 0; st == BACKEND_RETRY && attempt < RETRIES; attempt++) {
        if (attempt > 0) {
            retry_pause(attempt);
        }
        uint64_t at = now;
        bool exists = false;
        st = ops->begin(s->backend, mode, lock_principal, &at, &exists, err);
        if (st == PAIRTOK_OK) {
            st = body(s, at, exists, ctx, err);
        }
        ops->end(s->backend);
    }
    if (st == BACKEND_RETRY) {
        /* The message of the last rollback is in err. */
        st = err != NULL ? (err->code = PAIRTOK_EBUSY) : PAIRTOK_EBUSY;
    }
    return st;
}

static pairtok_status check_now(uint64_t now, pairtok_error *err)
{
    if (now != BACKEND_NOW && now > (uint64_t)INT64_MAX - PAIRTOK_MAX_EXPIRY_SECS) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "now: %llu is out of range",
                       (unsigned long long)now);
    }
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* Issue.                                                                 */
/* ---------------------------------------------------------------------- */

static pairtok_status check_label(const char *label, pairtok_error *err)
{
    size_t at;
    size_t len = strnlen(label, PAIRTOK_LABEL_MAX + 1);
    const char *problem = pt_label_problem(label, len, &at);
    if (problem == NULL) {
        return PAIRTOK_OK;
    }
    if (len > PAIRTOK_LABEL_MAX) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "label: longer than the 4096-byte limit");
    }
    return pt_fail(err, PAIRTOK_EINVAL, 0, "label: %s (at byte %zu)", problem, at);
}

static pairtok_status check_issue_args(const char *principal, const char *label, uint32_t ttl_secs,
                                       uint64_t now, pairtok_error *err)
{
    size_t plen = strnlen(principal, 256);
    const char *problem = pt_principal_problem(principal, plen);
    if (problem != NULL) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    if (pt_principal_is_reserved(principal, plen)) {
        return pt_fail(err, PAIRTOK_EINVAL, 0,
                       "principal: 'anonymous' is reserved and cannot be paired");
    }
    if (label != NULL && check_label(label, err) != PAIRTOK_OK) {
        return PAIRTOK_EINVAL;
    }
    if (ttl_secs == 0) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "ttl: must be greater than 0");
    }
    if (ttl_secs > PAIRTOK_MAX_EXPIRY_SECS) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "ttl: %lus exceeds the 1-hour cap (%ds)",
                       (unsigned long)ttl_secs, PAIRTOK_MAX_EXPIRY_SECS);
    }
    return check_now(now, err);
}

typedef struct issue_ctx {
    pairtok_record *rec;
    uint32_t ttl;
} issue_ctx;

/* The refusal of an issue by a cap, or OK. */
static pairtok_status caps_refusal(const pairtok_store *s, size_t mine, size_t total,
                                   pairtok_error *err)
{
    if (mine >= s->opts.max_per_principal) {
        return pt_fail(err, PAIRTOK_ELIMIT, 0,
                       "principal already has %zu outstanding tokens, the per-principal "
                       "cap (%lu); revoke some or wait for them to expire",
                       mine, (unsigned long)s->opts.max_per_principal);
    }
    if (total >= s->opts.max_total) {
        return pt_fail(err, PAIRTOK_ELIMIT, 0,
                       "the store holds %zu outstanding tokens, the total cap (%lu); "
                       "revoke some or wait for them to expire",
                       total, (unsigned long)s->opts.max_total);
    }
    return PAIRTOK_OK;
}

static pairtok_status check_caps(pairtok_store *s, const char *principal, uint64_t now,
                                 pairtok_error *err)
{
    const backend_ops *ops = s->backend->ops;
    backend_sel sel = {
        .kind = SEL_PRINCIPAL, .principal = principal, .live_only = true, .now = now};
    size_t mine, total = 0;
    pairtok_status st = ops->count(s->backend, &sel, s->opts.max_per_principal, &mine, err);
    if (st == PAIRTOK_OK && mine < s->opts.max_per_principal) {
        sel = (backend_sel){.kind = SEL_ALL, .live_only = true, .now = now};
        st = ops->count(s->backend, &sel, s->opts.max_total, &total, err);
    }
    return st != PAIRTOK_OK ? st : caps_refusal(s, mine, total, err);
}

/* Prune, check the caps and add the record with the backend's verbs. */
static pairtok_status issue_by_verbs(pairtok_store *s, uint64_t now, issue_ctx *ctx, size_t *pruned,
                                     pairtok_error *err)
{
    const backend_ops *ops = s->backend->ops;
    backend_sel expired = {.kind = SEL_EXPIRED, .now = now};
    pairtok_status st = ops->remove(s->backend, &expired, pruned, NULL, err);
    if (st == PAIRTOK_OK) {
        st = check_caps(s, ctx->rec->principal, now, err);
    }
    return st != PAIRTOK_OK ? st : ops->insert(s->backend, ctx->rec, ctx->ttl, err);
}

/* The same in one step of the backend's (backend_ops.issue). */
static pairtok_status issue_in_one_step(pairtok_store *s, uint64_t now, issue_ctx *ctx,
                                        size_t *pruned, pairtok_error *err)
{
    backend_issue op = {.rec = ctx->rec,
                        .ttl = ctx->ttl,
                        .now = now,
                        .max_per_principal = s->opts.max_per_principal,
                        .max_total = s->opts.max_total};
    pairtok_status st = s->backend->ops->issue(s->backend, &op, err);
    *pruned = op.pruned;
    if (st == PAIRTOK_OK && !op.added) {
        st = caps_refusal(s, op.principal_live, op.total_live, err);
        if (st == PAIRTOK_OK) {
            st = pt_fail(err, PAIRTOK_EIO, 0, "%s: issue: refused under no cap (internal error)",
                         s->backend->display);
        }
    }
    return st;
}

/* Under the lock: prune, check the caps, add the record (stamped with
 * `now`, which the backend resolves when it is BACKEND_NOW), commit. */
static pairtok_status issue_body(pairtok_store *s, uint64_t now, bool exists, void *ctx_ptr,
                                 pairtok_error *err)
{
    (void)exists;
    issue_ctx *ctx = ctx_ptr;
    size_t pruned = 0;
    pairtok_status st = check_now(now, err);
    ctx->rec->issued_at_epoch = now;
    ctx->rec->expires_at_epoch = now == BACKEND_NOW ? BACKEND_NOW : now + ctx->ttl;
    if (st == PAIRTOK_OK) {
        st = s->backend->ops->issue != NULL ? issue_in_one_step(s, now, ctx, &pruned, err)
                                            : issue_by_verbs(s, now, ctx, &pruned, err);
    }
    if (st == PAIRTOK_OK) {
        st = s->backend->ops->commit(s->backend, err);
    }
    if (st == PAIRTOK_OK && pruned > 0) {
        audit_emit(s, PAIRTOK_EVENT_PRUNE, now, NULL, pruned);
    }
    if (st == PAIRTOK_OK) {
        audit_emit(s, PAIRTOK_EVENT_ISSUE, ctx->rec->issued_at_epoch, ctx->rec, 1);
    }
    return st;
}

static pairtok_status issue(pairtok_store *store, const char *principal, const char *label,
                            uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                            pairtok_record *record_out, uint64_t now, pairtok_error *err)
{
    token_out[0] = '\0';
    if (record_out != NULL) {
        memset(record_out, 0, sizeof *record_out);
    }
    pt_error_clear(err);
    pairtok_status st = check_issue_args(principal, label, ttl_secs, now, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    /* Allocate the caller's copy of the label first: once the token is
     * stored, nothing may fail. */
    char *label_copy = NULL;
    if (record_out != NULL && label != NULL && (label_copy = strdup(label)) == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    char token[PAIRTOK_TOKEN_LEN + 1];
    if (pairtok_generate_token(token) != PAIRTOK_OK) {
        free(label_copy);
        return pt_fail(err, PAIRTOK_ERANDOM, 0, "the system random number generator failed");
    }
    pairtok_record rec = {0};
    pairtok_hash_token(token, rec.token_hash);
    memcpy(rec.principal, principal, strlen(principal) + 1);
    rec.label = (char *)label;
    issue_ctx ctx = {&rec, ttl_secs};
    st = store_run_txn(store, BACKEND_WRITE_CREATE, principal, now, issue_body, &ctx, err);
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

pairtok_status pairtok_issue_at(pairtok_store *store, const char *principal, const char *label,
                                uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                                pairtok_record *record_out, uint64_t now, pairtok_error *err)
{
    if (now == BACKEND_NOW) {
        token_out[0] = '\0';
        return check_now(now - 1, err); /* out of range, whatever it means inside */
    }
    return issue(store, principal, label, ttl_secs, token_out, record_out, now, err);
}

pairtok_status pairtok_issue(pairtok_store *store, const char *principal, const char *label,
                             uint32_t ttl_secs, char token_out[PAIRTOK_TOKEN_LEN + 1],
                             pairtok_record *record_out, pairtok_error *err)
{
    return issue(store, principal, label, ttl_secs, token_out, record_out, BACKEND_NOW, err);
}

/* ---------------------------------------------------------------------- */
/* Redeem.                                                                */
/* ---------------------------------------------------------------------- */

static pairtok_status denied(pairtok_error *err)
{
    return pt_fail(err, PAIRTOK_EDENIED, 0, PT_DENIED_MESSAGE);
}

/* Trim surrounding whitespace, check the shape, and hash (straight from
 * the caller's buffer: no copy of the token is made). */
static pairtok_status hash_presented(const char *token, unsigned char hash[BACKEND_HASH_BYTES],
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
        return pt_fail(err, PAIRTOK_EINVAL, 0,
                       "token: malformed: expected 32 characters of [A-Za-z0-9_-]");
    }
    pt_hash_token_raw(token + start, PAIRTOK_TOKEN_LEN, hash);
    return PAIRTOK_OK;
}

typedef struct redeem_ctx {
    unsigned char hash[BACKEND_HASH_BYTES];
    unsigned char rid[BACKEND_RID_BYTES];
    pairtok_bind_fn bind;
    void *bind_ctx;
    pairtok_record matched;
    bool bind_called;
    uint64_t now; /* of the transaction, for the events */
} redeem_ctx;

/* A redeem's committed event, after the prune event of expired records
 * the same write removed. */
static void announce_redeem(const pairtok_store *s, pairtok_event_kind kind, const redeem_ctx *r)
{
    if (s->backend->pruned_by_redeem > 0) {
        audit_emit(s, PAIRTOK_EVENT_PRUNE, r->now, NULL, s->backend->pruned_by_redeem);
    }
    audit_emit(s, kind, r->now, &r->matched, 1);
}

/* After a failed bind: take the mark off, so the token is redeemable
 * again. */
static pairtok_status release(pairtok_store *s, redeem_ctx *r, pairtok_error *err)
{
    const backend_ops *ops = s->backend->ops;
    pairtok_error why;
    bool found;
    pairtok_status st = ops->settle(s->backend, r->hash, r->rid, false, &found, &why);
    if (st == PAIRTOK_OK) {
        st = ops->commit(s->backend, &why);
    }
    if (st == PAIRTOK_OK) {
        audit_emit(s, PAIRTOK_EVENT_RELEASE, r->now, &r->matched, 1);
    } else {
        return pt_fail(err, PAIRTOK_EABORTED, why.sys_errno,
                       "the bind callback failed, and releasing the token failed too "
                       "(%.900s): it may stay reserved, and then can never be redeemed",
                       why.message);
    }
    return pt_fail(err, PAIRTOK_EABORTED, 0,
                   "the bind callback failed; the token is still redeemable");
}

/* After a successful bind: delete the token. */
static pairtok_status consume(pairtok_store *s, redeem_ctx *r, pairtok_error *err)
{
    const backend_ops *ops = s->backend->ops;
    bool found;
    s->backend->pruned_by_redeem = 0;
    pairtok_status st = ops->settle(s->backend, r->hash, r->rid, true, &found, err);
    if (st == PAIRTOK_OK) {
        st = ops->commit(s->backend, err);
    }
    if (st == PAIRTOK_OK) {
        announce_redeem(s, PAIRTOK_EVENT_REDEEM, r);
    }
    if (st != PAIRTOK_OK && err != NULL) {
        char cause[PAIRTOK_MESSAGE_MAX];
        memcpy(cause, err->message, sizeof cause);
        cause[sizeof cause - 1] = '\0';
        pt_fail(err, st == BACKEND_RETRY ? PAIRTOK_EIO : st, err->sys_errno,
                "device bound, but deleting the token failed (%.900s); it stays reserved "
                "and can never be redeemed",
                cause);
        return err->code;
    }
    return st == BACKEND_RETRY ? PAIRTOK_EIO : st;
}

static pairtok_status redeem_body(pairtok_store *s, uint64_t now, bool exists, void *ctx_ptr,
                                  pairtok_error *err)
{
    redeem_ctx *r = ctx_ptr;
    const backend_ops *ops = s->backend->ops;
    bool found = false;
    pairtok_record_clear(&r->matched);
    r->now = now;
    pairtok_status st = PAIRTOK_OK;
    s->backend->pruned_by_redeem = 0;
    if (exists) {
        st = r->bind == NULL
                 ? ops->take(s->backend, r->hash, now, &r->matched, &found, err)
                 : ops->reserve(s->backend, r->hash, r->rid, now, &r->matched, &found, err);
    }
    if (st != PAIRTOK_OK) {
        return st;
    }
    if (!found) {
        audit_emit(s, PAIRTOK_EVENT_REDEEM_REFUSED, now, NULL, 1);
        return denied(err);
    }
    st = ops->commit(s->backend, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    announce_redeem(s, r->bind == NULL ? PAIRTOK_EVENT_REDEEM : PAIRTOK_EVENT_RESERVE, r);
    if (r->bind == NULL) {
        return st;
    }
    /* The reservation is durable: from here on the token is never
     * redeemable twice, whatever happens to this process. */
    r->bind_called = true;
    if (r->bind(&r->matched, r->bind_ctx) != 0) {
        return release(s, r, err);
    }
    return consume(s, r, err);
}

static pairtok_status redeem(pairtok_store *store, const char *token, pairtok_bind_fn bind,
                             void *ctx, pairtok_record *record_out, uint64_t now,
                             pairtok_error *err)
{
    if (record_out != NULL) {
        memset(record_out, 0, sizeof *record_out);
    }
    pt_error_clear(err);
    redeem_ctx r = {.bind = bind, .bind_ctx = ctx};
    pairtok_status st = hash_presented(token, r.hash, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    randombytes_buf(r.rid, sizeof r.rid);
    st = store_run_txn(store, BACKEND_WRITE, NULL, now, redeem_body, &r, err);
    sodium_memzero(r.hash, sizeof r.hash);
    if (st == PAIRTOK_OK && record_out != NULL) {
        *record_out = r.matched;
    } else {
        pairtok_record_clear(&r.matched);
    }
    return st;
}

pairtok_status pairtok_redeem_at(pairtok_store *store, const char *token, pairtok_bind_fn bind,
                                 void *ctx, pairtok_record *record_out, uint64_t now,
                                 pairtok_error *err)
{
    if (now == BACKEND_NOW) {
        now--; /* the largest epoch, not the backend's clock */
    }
    return redeem(store, token, bind, ctx, record_out, now, err);
}

pairtok_status pairtok_redeem(pairtok_store *store, const char *token, pairtok_bind_fn bind,
                              void *ctx, pairtok_record *record_out, pairtok_error *err)
{
    return redeem(store, token, bind, ctx, record_out, BACKEND_NOW, err);
}

/* ---------------------------------------------------------------------- */
/* Revoke and prune.                                                      */
/* ---------------------------------------------------------------------- */

typedef struct remove_ctx {
    backend_sel sel;
    bool exactly_one; /* refuse unless the selection is one token */
    size_t *removed;
} remove_ctx;

/* Is list item i a copy (same hash) of an earlier one?  Selections that
 * need it are one principal's or one id prefix's: a handful of records. */
static bool copy_of_earlier(const pairtok_record_list *list, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(list->items[i].token_hash, list->items[j].token_hash) == 0) {
            return true;
        }
    }
    return false;
}

/* How many different tokens the selection holds: a store may hold copies of
 * one token (a hand edit), and revoking by a full id removes them all. */
static pairtok_status distinct_tokens(pairtok_store *s, const backend_sel *sel, size_t *n,
                                      pairtok_error *err)
{
    pairtok_record_list found = {0};
    pairtok_status st = s->backend->ops->read(s->backend, sel, &found, err);
    *n = 0;
    for (size_t i = 0; st == PAIRTOK_OK && i < found.count; i++) {
        *n += !copy_of_earlier(&found, i);
    }
    pairtok_record_list_free(&found);
    return st;
}

/* One revoke event per token (copies of one hash are one token), or one
 * prune event with the count. */
static void announce_removal(const pairtok_store *s, const backend_sel *sel, uint64_t now,
                             const pairtok_record_list *gone, size_t removed)
{
    if (sel->kind == SEL_EXPIRED) {
        audit_emit(s, PAIRTOK_EVENT_PRUNE, now, NULL, removed);
        return;
    }
    for (size_t i = 0; i < gone->count; i++) {
        if (!copy_of_earlier(gone, i)) {
            audit_emit(s, PAIRTOK_EVENT_REVOKE, now, &gone->items[i], 1);
        }
    }
}

static pairtok_status remove_body(pairtok_store *s, uint64_t now, bool exists, void *ctx_ptr,
                                  pairtok_error *err)
{
    remove_ctx *r = ctx_ptr;
    const backend_ops *ops = s->backend->ops;
    *r->removed = 0;
    if (!exists) {
        return PAIRTOK_OK;
    }
    if (r->sel.kind == SEL_EXPIRED) {
        r->sel.now = now;
    }
    pairtok_status st = PAIRTOK_OK;
    if (r->exactly_one) {
        size_t tokens;
        st = distinct_tokens(s, &r->sel, &tokens, err);
        if (st == PAIRTOK_OK && tokens > 1) {
            *r->removed = tokens;
            return PAIRTOK_EAMBIGUOUS;
        }
    }
    size_t removed = 0;
    bool per_record = s->opts.on_event != NULL && r->sel.kind != SEL_EXPIRED;
    pairtok_record_list gone = {0};
    if (st == PAIRTOK_OK) {
        st = ops->remove(s->backend, &r->sel, &removed, per_record ? &gone : NULL, err);
    }
    if (st == PAIRTOK_OK && removed > 0) {
        st = ops->commit(s->backend, err);
    }
    *r->removed = st == PAIRTOK_OK ? removed : 0;
    if (st == PAIRTOK_OK && removed > 0) {
        announce_removal(s, &r->sel, now, &gone, removed);
    }
    pairtok_record_list_free(&gone);
    return st;
}

static pairtok_status parse_prefix(const char *id, char hex[PAIRTOK_HASH_LEN + 1], size_t *len_out,
                                   pairtok_error *err)
{
    size_t len = strnlen(id, PAIRTOK_HASH_LEN + 1);
    bool ok = len >= PAIRTOK_ID_MIN_LEN && len <= PAIRTOK_HASH_LEN;
    for (size_t i = 0; ok && i < len; i++) {
        char c = id[i];
        c = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        hex[i] = c;
    }
    if (!ok) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "id: must be 8 to 64 hex digits");
    }
    hex[len] = '\0';
    *len_out = len;
    return PAIRTOK_OK;
}

pairtok_status pairtok_revoke_id(pairtok_store *store, const char *id_prefix, size_t *removed,
                                 pairtok_error *err)
{
    *removed = 0;
    pt_error_clear(err);
    char hex[PAIRTOK_HASH_LEN + 1];
    size_t len = 0;
    pairtok_status st = parse_prefix(id_prefix, hex, &len, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    remove_ctx r = {{.kind = SEL_ID_PREFIX, .prefix = hex, .prefix_len = len}, true, removed};
    st = store_run_txn(store, BACKEND_WRITE, NULL, BACKEND_NOW, remove_body, &r, err);
    if (st == PAIRTOK_EAMBIGUOUS) {
        return pt_fail(err, st, 0, "id %s matches %zu tokens; give more of it", hex, *removed);
    }
    if (st == PAIRTOK_OK && *removed == 0) {
        return pt_fail(err, PAIRTOK_ENOTFOUND, 0, "no token has id %s", hex);
    }
    return st;
}

pairtok_status pairtok_revoke_principal(pairtok_store *store, const char *principal,
                                        size_t *removed, pairtok_error *err)
{
    *removed = 0;
    pt_error_clear(err);
    const char *problem = pt_principal_problem(principal, strnlen(principal, 256));
    if (problem != NULL) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    remove_ctx r = {{.kind = SEL_PRINCIPAL, .principal = principal}, false, removed};
    return store_run_txn(store, BACKEND_WRITE, NULL, BACKEND_NOW, remove_body, &r, err);
}

static pairtok_status prune(pairtok_store *store, size_t *removed, uint64_t now, pairtok_error *err)
{
    pt_error_clear(err);
    *removed = 0;
    remove_ctx r = {{.kind = SEL_EXPIRED}, false, removed};
    return store_run_txn(store, BACKEND_WRITE, NULL, now, remove_body, &r, err);
}

pairtok_status pairtok_prune_at(pairtok_store *store, size_t *removed, uint64_t now,
                                pairtok_error *err)
{
    return prune(store, removed, now == BACKEND_NOW ? now - 1 : now, err);
}

pairtok_status pairtok_prune(pairtok_store *store, size_t *removed, pairtok_error *err)
{
    return prune(store, removed, BACKEND_NOW, err);
}

/* ---------------------------------------------------------------------- */
/* Load and list.                                                         */
/* ---------------------------------------------------------------------- */

typedef struct read_ctx {
    backend_sel sel;
    pairtok_record_list *out;
} read_ctx;

static pairtok_status read_body(pairtok_store *s, uint64_t now, bool exists, void *ctx_ptr,
                                pairtok_error *err)
{
    read_ctx *r = ctx_ptr;
    if (!exists) {
        return PAIRTOK_OK;
    }
    r->sel.now = now;
    return s->backend->ops->read(s->backend, &r->sel, r->out, err);
}

static int by_expiry(const void *a, const void *b)
{
    const pairtok_record *x = a, *y = b;
    if (x->expires_at_epoch != y->expires_at_epoch) {
        return x->expires_at_epoch < y->expires_at_epoch ? -1 : 1;
    }
    return strcmp(x->token_hash, y->token_hash);
}

/* Fill `out` (cleared first) with the selection, and remember what it was
 * filled with for a later save. */
static pairtok_status read_into(pairtok_store *s, read_ctx *r, uint64_t now, bool sorted,
                                pairtok_error *err)
{
    pairtok_record_list_free(r->out);
    pt_error_clear(err);
    pairtok_status st = store_run_txn(s, BACKEND_READ, NULL, now, read_body, r, err);
    if (st == PAIRTOK_OK && sorted && r->out->count > 1) {
        qsort(r->out->items, r->out->count, sizeof r->out->items[0], by_expiry);
    }
    if (st == PAIRTOK_OK) {
        st = list_origin_set(r->out, err);
    }
    if (st != PAIRTOK_OK) {
        pairtok_record_list_free(r->out);
    }
    return st;
}

pairtok_status pairtok_store_load(pairtok_store *store, pairtok_record_list *out,
                                  pairtok_error *err)
{
    read_ctx r = {{.kind = SEL_ALL}, out};
    return read_into(store, &r, 0, false, err);
}

static pairtok_status list(pairtok_store *store, const char *principal, pairtok_record_list *out,
                           uint64_t now, pairtok_error *err)
{
    const char *problem =
        principal ? pt_principal_problem(principal, strnlen(principal, 256)) : NULL;
    if (problem != NULL) {
        pairtok_record_list_free(out);
        return pt_fail(err, PAIRTOK_EINVAL, 0, "principal: %s", problem);
    }
    read_ctx r = {
        {.kind = principal ? SEL_PRINCIPAL : SEL_ALL, .principal = principal, .live_only = true},
        out};
    return read_into(store, &r, now, true, err);
}

pairtok_status pairtok_list_at(pairtok_store *store, const char *principal,
                               pairtok_record_list *out, uint64_t now, pairtok_error *err)
{
    return list(store, principal, out, now == BACKEND_NOW ? now - 1 : now, err);
}

pairtok_status pairtok_list(pairtok_store *store, const char *principal, pairtok_record_list *out,
                            pairtok_error *err)
{
    return list(store, principal, out, BACKEND_NOW, err);
}

/* ---------------------------------------------------------------------- */
/* Check and init.                                                        */
/* ---------------------------------------------------------------------- */

void backend_report(backend_reporter *r, pairtok_status code, const char *fmt, ...)
{
    pairtok_error problem = {code, 0, ""};
    va_list args;
    va_start(args, fmt);
    vsnprintf(problem.message, sizeof problem.message, fmt, args);
    va_end(args);
    r->count++;
    if (r->fn != NULL) {
        r->fn(&problem, r->ctx);
    }
}

static pairtok_status check(pairtok_store *store, pairtok_problem_fn report, void *ctx,
                            size_t *problems, uint64_t now, pairtok_error *err)
{
    pt_error_clear(err);
    backend_reporter r = {report, ctx, 0};
    pairtok_status st = store->backend->ops->check(store->backend, now, &r, err);
    *problems = r.count;
    return st;
}

pairtok_status pairtok_check_at(pairtok_store *store, pairtok_problem_fn report, void *ctx,
                                size_t *problems, uint64_t now, pairtok_error *err)
{
    return check(store, report, ctx, problems, now == BACKEND_NOW ? now - 1 : now, err);
}

pairtok_status pairtok_check(pairtok_store *store, pairtok_problem_fn report, void *ctx,
                             size_t *problems, pairtok_error *err)
{
    return check(store, report, ctx, problems, BACKEND_NOW, err);
}

pairtok_status pairtok_store_init(pairtok_store *store, pairtok_error *err)
{
    pt_error_clear(err);
    return store->backend->ops->init(store->backend, err);
}
