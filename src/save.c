/* SPDX-License-Identifier: ISC */
/*
 * save.c - pairtok_store_save: apply the caller's changes to a list, and
 * only those, to the store.
 *
 * A list filled by pairtok_store_load() or pairtok_list() remembers the
 * hashes it was filled with (its origin).  Between that load and the save,
 * other handles and processes may have redeemed, revoked, pruned or issued
 * tokens.  Replacing the store with the list would bring the used tokens
 * back (a second redeem of one token) and drop the new ones, so a save is
 * a three-way merge instead:
 *
 *     in the list, stored           -> the list's fields
 *     in the origin, not the list   -> the caller removed it: deleted
 *     stored, in neither            -> added by someone else: kept
 *     in the list and origin, gone  -> used or revoked since: not restored
 *     in the list only, not stored  -> the caller added it: inserted
 *
 * Once the save is committed the origin becomes the list's hashes, so
 * saving the same list twice changes nothing the second time.
 */
#define _GNU_SOURCE /* qsort_r: sorting by a key held elsewhere, without a global */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store.h"

struct pairtok_list_origin {
    size_t count;
    unsigned char (*hashes)[BACKEND_HASH_BYTES]; /* sorted */
};

int backend_hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, BACKEND_HASH_BYTES);
}

void list_origin_free(struct pairtok_list_origin *origin)
{
    if (origin != NULL) {
        free(origin->hashes);
        free(origin);
    }
}

/* The list's hashes, sorted; NULL when out of memory.  Hashes that are not
 * 64 hex digits are left out (save refuses such a list anyway). */
static struct pairtok_list_origin *origin_of(const pairtok_record_list *list)
{
    struct pairtok_list_origin *o = calloc(1, sizeof *o);
    if (o == NULL) {
        return NULL;
    }
    o->hashes = malloc((list->count ? list->count : 1) * sizeof *o->hashes);
    if (o->hashes == NULL) {
        free(o);
        return NULL;
    }
    for (size_t i = 0; i < list->count; i++) {
        if (sodium_hex2bin(o->hashes[o->count], BACKEND_HASH_BYTES, list->items[i].token_hash,
                           PAIRTOK_HASH_LEN, NULL, NULL, NULL) == 0) {
            o->count++;
        }
    }
    qsort(o->hashes, o->count, sizeof *o->hashes, backend_hash_cmp);
    return o;
}

/* An empty list needs no origin (it is the same as none), so a caller who
 * got nothing back has nothing to free. */
pairtok_status list_origin_set(pairtok_record_list *list, pairtok_error *err)
{
    struct pairtok_list_origin *o = NULL;
    if (list->count > 0 && (o = origin_of(list)) == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    list_origin_free(list->origin);
    list->origin = o;
    return PAIRTOK_OK;
}

static bool origin_has(const struct pairtok_list_origin *o, const unsigned char *hash)
{
    return o != NULL && o->count > 0 &&
           bsearch(hash, o->hashes, o->count, sizeof *o->hashes, backend_hash_cmp) != NULL;
}

/* ---------------------------------------------------------------------- */
/* Validation.                                                            */
/* ---------------------------------------------------------------------- */

static pairtok_status check_record(const pairtok_record *r, size_t i, pairtok_error *err)
{
    const char *problem = pt_hash_problem(r->token_hash, strnlen(r->token_hash, 65));
    if (problem == NULL) {
        problem = pairtok_principal_is_valid(r->principal)
                      ? NULL
                      : "principal must be 1 to 64 characters of [A-Za-z0-9_-], not 'anonymous'";
    }
    size_t at;
    if (problem == NULL && r->label != NULL) {
        problem = pt_label_problem(r->label, strnlen(r->label, PAIRTOK_LABEL_MAX + 1), &at);
    }
    if (problem == NULL && (r->expires_at_epoch > INT64_MAX || r->issued_at_epoch > INT64_MAX)) {
        problem = "epoch out of range";
    }
    if (problem != NULL) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "records[%zu]: %s", i, problem);
    }
    return PAIRTOK_OK;
}

static int by_list_hash(const void *a, const void *b, void *list)
{
    const pairtok_record *items = ((const pairtok_record_list *)list)->items;
    return memcmp(items[*(const uint32_t *)a].token_hash, items[*(const uint32_t *)b].token_hash,
                  PAIRTOK_HASH_LEN);
}

/* Validate every record and sort the list's positions by hash, refusing
 * two records of one hash. */
static pairtok_status order_list(const pairtok_record_list *list, uint32_t *order,
                                 pairtok_error *err)
{
    for (size_t i = 0; i < list->count; i++) {
        pairtok_status st = check_record(&list->items[i], i, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        order[i] = (uint32_t)i;
    }
    qsort_r(order, list->count, sizeof *order, by_list_hash, (void *)list);
    for (size_t i = 1; i < list->count; i++) {
        uint32_t a = order[i - 1], b = order[i];
        const char *hash = list->items[a].token_hash;
        if (memcmp(hash, list->items[b].token_hash, PAIRTOK_HASH_LEN) == 0) {
            return pt_fail(err, PAIRTOK_EINVAL, 0,
                           "records[%lu]: token_hash %.12s... appears twice",
                           (unsigned long)(a > b ? a : b), hash);
        }
    }
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* The plan.                                                              */
/* ---------------------------------------------------------------------- */

typedef struct save_job {
    backend_save plan;
    uint32_t *order;
    bool *in_base;
    unsigned char (*removed)[BACKEND_HASH_BYTES];
    struct pairtok_list_origin *next_origin;
} save_job;

static bool list_has(const pairtok_record_list *list, const uint32_t *order, const char *hex)
{
    size_t lo = 0, hi = list->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(list->items[order[mid]].token_hash, hex, PAIRTOK_HASH_LEN);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Which list records were loaded, and which loaded records the caller
 * took out of the list (in origin order, hence sorted). */
static void classify(const pairtok_record_list *list, save_job *job)
{
    const struct pairtok_list_origin *o = list->origin;
    for (size_t i = 0; i < list->count; i++) {
        unsigned char raw[BACKEND_HASH_BYTES];
        sodium_hex2bin(raw, sizeof raw, list->items[i].token_hash, PAIRTOK_HASH_LEN, NULL, NULL,
                       NULL);
        job->in_base[i] = origin_has(o, raw);
    }
    size_t removed = 0;
    for (size_t i = 0; o != NULL && i < o->count; i++) {
        char hex[PAIRTOK_HASH_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, o->hashes[i], BACKEND_HASH_BYTES);
        if (!list_has(list, job->order, hex)) {
            memcpy(job->removed[removed++], o->hashes[i], BACKEND_HASH_BYTES);
        }
    }
    job->plan.removed_count = removed;
}

static void job_free(save_job *job)
{
    free(job->order);
    free(job->in_base);
    free(job->removed);
    list_origin_free(job->next_origin);
}

static pairtok_status plan_save(const pairtok_record_list *list, save_job *job, pairtok_error *err)
{
    if (list->count > UINT32_MAX) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "records: more than a store can hold");
    }
    size_t n = list->count ? list->count : 1;
    size_t loaded = list->origin && list->origin->count ? list->origin->count : 1;
    job->order = malloc(n * sizeof *job->order);
    job->in_base = calloc(n, sizeof *job->in_base);
    job->removed = malloc(loaded * sizeof *job->removed);
    if (job->order == NULL || job->in_base == NULL || job->removed == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    pairtok_status st = order_list(list, job->order, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    classify(list, job);
    /* Made before the commit, so that nothing can fail after it. */
    if (list->count > 0 && (job->next_origin = origin_of(list)) == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    job->plan.list = list;
    job->plan.order = job->order;
    job->plan.in_base = job->in_base;
    job->plan.removed = (const unsigned char(*)[BACKEND_HASH_BYTES])job->removed;
    return PAIRTOK_OK;
}

static pairtok_status save_body(pairtok_store *s, uint64_t now, bool exists, void *job_ptr,
                                pairtok_error *err)
{
    (void)now;
    (void)exists;
    save_job *job = job_ptr;
    pairtok_status st = s->backend->ops->save(s->backend, &job->plan, err);
    return st == PAIRTOK_OK ? s->backend->ops->commit(s->backend, err) : st;
}

pairtok_status pairtok_store_save(pairtok_store *store, pairtok_record_list *records,
                                  pairtok_error *err)
{
    pt_error_clear(err);
    save_job job = {0};
    pairtok_status st = plan_save(records, &job, err);
    if (st == PAIRTOK_OK) {
        st = store_run_txn(store, BACKEND_WRITE_CREATE, NULL, 0, save_body, &job, err);
    }
    if (st == PAIRTOK_OK) {
        list_origin_free(records->origin);
        records->origin = job.next_origin;
        job.next_origin = NULL;
    }
    job_free(&job);
    return st;
}
