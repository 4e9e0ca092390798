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

#include "store.h"

struct pairtok_list_origin {
    size_t count, capacity;
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

/* ---------------------------------------------------------------------- */
/* The list in hash order.                                                */
/* ---------------------------------------------------------------------- */

/* A list position with the first 8 bytes of its hash: hashes are random,
 * so comparing that integer almost always decides, and the sort moves 16
 * bytes, not 64. */
typedef struct sort_key {
    uint64_t prefix;
    uint32_t index;
} sort_key;

static int by_key(const void *a, const void *b, void *list)
{
    const sort_key *x = a, *y = b;
    if (x->prefix != y->prefix) {
        return x->prefix < y->prefix ? -1 : 1;
    }
    const pairtok_record *items = ((const pairtok_record_list *)list)->items;
    return memcmp(items[x->index].token_hash, items[y->index].token_hash, PAIRTOK_HASH_LEN);
}

/* order[] = the list's positions sorted by hash (lowercase hex sorts as the
 * raw bytes do).  Every hash must be 64 lowercase hex digits. */
static bool sort_positions(const pairtok_record_list *list, uint32_t *order)
{
    sort_key *keys = malloc((list->count ? list->count : 1) * sizeof *keys);
    if (keys == NULL) {
        return false;
    }
    for (size_t i = 0; i < list->count; i++) {
        keys[i] = (sort_key){pt_hash_prefix(list->items[i].token_hash), (uint32_t)i};
    }
    qsort_r(keys, list->count, sizeof *keys, by_key, (void *)list);
    for (size_t i = 0; i < list->count; i++) {
        order[i] = keys[i].index;
    }
    free(keys);
    return true;
}

/* Write the list's hashes, in order, into `o` (room for them reserved). */
static void origin_fill(struct pairtok_list_origin *o, const pairtok_record_list *list,
                        const uint32_t *order)
{
    for (size_t i = 0; i < list->count; i++) {
        pt_hash_from_hex(o->hashes[i], list->items[order[i]].token_hash);
    }
    o->count = list->count;
}

/* An origin with room for `n` hashes: `reuse` if it has it, else a new
 * one; NULL when out of memory. */
static struct pairtok_list_origin *origin_with_room(struct pairtok_list_origin *reuse, size_t n)
{
    if (reuse != NULL && reuse->capacity >= n) {
        return reuse;
    }
    struct pairtok_list_origin *o = calloc(1, sizeof *o);
    if (o != NULL && (o->hashes = malloc((n ? n : 1) * sizeof *o->hashes)) == NULL) {
        free(o);
        o = NULL;
    }
    if (o != NULL) {
        o->capacity = n;
    }
    return o;
}

/* An empty list needs no origin (it is the same as none), so a caller who
 * got nothing back has nothing to free. */
pairtok_status list_origin_set(pairtok_record_list *list, pairtok_error *err)
{
    struct pairtok_list_origin *o = NULL;
    if (list->count > 0) {
        uint32_t *order = malloc(list->count * sizeof *order);
        o = order != NULL ? origin_with_room(NULL, list->count) : NULL;
        if (o != NULL && sort_positions(list, order)) {
            origin_fill(o, list, order);
        } else {
            list_origin_free(o);
            o = NULL;
        }
        free(order);
        if (o == NULL) {
            return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
        }
    }
    list_origin_free(list->origin);
    list->origin = o;
    return PAIRTOK_OK;
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
    }
    if (!sort_positions(list, order)) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
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
    struct pairtok_list_origin *next_origin; /* the list's, or a new one */
} save_job;

/* One walk through the list (in hash order) and its origin (sorted): which
 * list records were loaded, and - when `removed` is not NULL - which loaded
 * records the caller took out of the list.  Returns how many those are. */
static size_t classify(const pairtok_record_list *list, const uint32_t *order, bool *in_base,
                       unsigned char (*removed)[BACKEND_HASH_BYTES])
{
    const struct pairtok_list_origin *o = list->origin;
    size_t loaded = o != NULL ? o->count : 0, i = 0, j = 0, gone = 0;
    while (i < list->count || j < loaded) {
        unsigned char raw[BACKEND_HASH_BYTES];
        int c = -1;
        if (i < list->count) {
            pt_hash_from_hex(raw, list->items[order[i]].token_hash);
            c = j < loaded ? memcmp(raw, o->hashes[j], BACKEND_HASH_BYTES) : -1;
        } else {
            c = 1;
        }
        if (c <= 0) {
            in_base[order[i++]] = c == 0;
        }
        if (c >= 0) {
            if (c > 0 && removed != NULL) {
                memcpy(removed[gone], o->hashes[j], BACKEND_HASH_BYTES);
            }
            gone += c > 0;
            j++;
        }
    }
    return gone;
}

static void job_free(save_job *job, const pairtok_record_list *list)
{
    free(job->order);
    free(job->in_base);
    free(job->removed);
    if (job->next_origin != list->origin) {
        list_origin_free(job->next_origin);
    }
}

static pairtok_status plan_save(const pairtok_record_list *list, save_job *job, pairtok_error *err)
{
    if (list->count > UINT32_MAX) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "records: more than a store can hold");
    }
    size_t n = list->count ? list->count : 1;
    job->order = malloc(n * sizeof *job->order);
    job->in_base = calloc(n, sizeof *job->in_base);
    if (job->order == NULL || job->in_base == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    pairtok_status st = order_list(list, job->order, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    size_t gone = list->origin != NULL ? classify(list, job->order, job->in_base, NULL) : 0;
    job->removed = malloc((gone ? gone : 1) * sizeof *job->removed);
    /* Room for the new origin is found before the commit, so that nothing
     * can fail after it. */
    job->next_origin = list->count > 0 ? origin_with_room(list->origin, list->count) : NULL;
    if (job->removed == NULL || (list->count > 0 && job->next_origin == NULL)) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    if (gone > 0) {
        classify(list, job->order, job->in_base, job->removed);
    }
    job->plan.list = list;
    job->plan.order = job->order;
    job->plan.in_base = job->in_base;
    job->plan.removed = (const unsigned char(*)[BACKEND_HASH_BYTES])job->removed;
    job->plan.removed_count = gone;
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
        /* The saved list is now what the caller has loaded. */
        if (job.next_origin != NULL) {
            origin_fill(job.next_origin, records, job.order);
        }
        if (job.next_origin != records->origin) {
            list_origin_free(records->origin);
            records->origin = job.next_origin;
        }
        job.next_origin = records->origin;
    }
    job_free(&job, records);
    return st;
}
