/* SPDX-License-Identifier: ISC */
/*
 * pg_save.c - save on PostgreSQL: the bulk path.
 *
 * The plan (backend.h) becomes three statements, each run over batches of
 * records passed as parallel arrays and expanded with unnest() - one
 * statement per batch, not one per record, so that seeding a million
 * tokens is a few hundred round trips inside one transaction:
 *   - the removed hashes are deleted;
 *   - records that were loaded (in_base) get the list's fields if they are
 *     still stored, and are never brought back if they are not;
 *   - the other records are inserted, or, if someone stored the same hash
 *     since, updated (INSERT ... ON CONFLICT DO UPDATE).
 * Rows whose fields do not change are not written.  A batch is a few MB of
 * parameters at most, whatever the size of the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pg.h"

#define BATCH 10000

/* An array literal being built: {elem,elem,...}. */
typedef struct arr {
    char *text;
    size_t len;
    size_t cap;
    size_t count;
} arr;

static bool arr_put(arr *a, const char *s, size_t n)
{
    if (a->cap - a->len < n + 2) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap - a->len < n + 2) {
            cap *= 2;
        }
        char *text = realloc(a->text, cap);
        if (text == NULL) {
            return false;
        }
        a->text = text;
        a->cap = cap;
    }
    memcpy(a->text + a->len, s, n);
    a->len += n;
    a->text[a->len] = '\0';
    return true;
}

static bool arr_start(arr *a)
{
    a->len = 0;
    a->count = 0;
    return arr_put(a, "{", 1);
}

static bool arr_sep(arr *a)
{
    return a->count++ == 0 || arr_put(a, ",", 1);
}

/* A string element, always quoted: an unquoted NULL (any case) would be
 * SQL NULL, and a principal may be spelt "null". */
static bool arr_string(arr *a, const char *s)
{
    if (!arr_sep(a) || !arr_put(a, "\"", 1)) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if ((*p == '"' || *p == '\\') && !arr_put(a, "\\", 1)) {
            return false;
        }
        if (!arr_put(a, p, 1)) {
            return false;
        }
    }
    return arr_put(a, "\"", 1);
}

static bool arr_null(arr *a)
{
    return arr_sep(a) && arr_put(a, "NULL", 4);
}

static bool arr_number(arr *a, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return arr_sep(a) && arr_put(a, buf, (size_t)n);
}

static bool arr_end(arr *a)
{
    return arr_put(a, "}", 1);
}

static void arr_free(arr *a)
{
    free(a->text);
    memset(a, 0, sizeof *a);
}

/* One statement over the batch of arrays; a failure ends the save. */
static pairtok_status run_batch(pg_backend *pg, pg_stmt stmt, arr *cols, int ncols,
                                pairtok_error *err)
{
    const char *params[5];
    for (int i = 0; i < ncols; i++) {
        if (!arr_end(&cols[i])) {
            return pg_fail(pg, err, PAIRTOK_ENOMEM, "out of memory");
        }
        params[i] = cols[i].text;
    }
    pairtok_status st = pg_queue(pg, stmt, params, ncols, PG_ITEM("save", NULL), err);
    if (st == PAIRTOK_OK) {
        st = pg_txn_flush(pg, err);
    }
    for (int i = 0; i < ncols && st == PAIRTOK_OK; i++) {
        if (!arr_start(&cols[i])) {
            st = pg_fail(pg, err, PAIRTOK_ENOMEM, "out of memory");
        }
    }
    return st;
}

static pairtok_status delete_removed(pg_backend *pg, const backend_save *plan, pairtok_error *err)
{
    arr hashes = {0};
    pairtok_status st = arr_start(&hashes) ? PAIRTOK_OK : PAIRTOK_ENOMEM;
    for (size_t i = 0; i < plan->removed_count && st == PAIRTOK_OK; i++) {
        char hex[PAIRTOK_HASH_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, plan->removed[i], BACKEND_HASH_BYTES);
        if (!arr_string(&hashes, hex)) {
            st = PAIRTOK_ENOMEM;
        } else if (hashes.count == BATCH) {
            st = run_batch(pg, PG_SAVE_DELETE, &hashes, 1, err);
        }
    }
    if (st == PAIRTOK_OK && hashes.count > 0) {
        st = run_batch(pg, PG_SAVE_DELETE, &hashes, 1, err);
    }
    arr_free(&hashes);
    return st == PAIRTOK_ENOMEM ? pg_fail(pg, err, st, "out of memory") : st;
}

static bool add_record(arr cols[5], const pairtok_record *r)
{
    return arr_string(&cols[0], r->token_hash) && arr_string(&cols[1], r->principal) &&
           (r->label != NULL ? arr_string(&cols[2], r->label) : arr_null(&cols[2])) &&
           arr_number(&cols[3], r->issued_at_epoch) && arr_number(&cols[4], r->expires_at_epoch);
}

/* The list records with in_base == base, through `stmt`. */
static pairtok_status write_records(pg_backend *pg, const backend_save *plan, bool base,
                                    pg_stmt stmt, pairtok_error *err)
{
    arr cols[5] = {{0}};
    bool ok = true;
    for (int c = 0; c < 5; c++) {
        ok = ok && arr_start(&cols[c]);
    }
    pairtok_status st = ok ? PAIRTOK_OK : PAIRTOK_ENOMEM;
    const pairtok_record_list *list = plan->list;
    for (size_t i = 0; i < list->count && st == PAIRTOK_OK; i++) {
        if (plan->in_base[i] != base) {
            continue;
        }
        if (!add_record(cols, &list->items[i])) {
            st = PAIRTOK_ENOMEM;
        } else if (cols[0].count == BATCH) {
            st = run_batch(pg, stmt, cols, 5, err);
        }
    }
    if (st == PAIRTOK_OK && cols[0].count > 0) {
        st = run_batch(pg, stmt, cols, 5, err);
    }
    for (int c = 0; c < 5; c++) {
        arr_free(&cols[c]);
    }
    return st == PAIRTOK_ENOMEM ? pg_fail(pg, err, st, "out of memory") : st;
}

pairtok_status pg_save(backend *b, const backend_save *plan, pairtok_error *err)
{
    pg_backend *pg = (pg_backend *)b;
    pairtok_status st = pg_txn_start(pg, err);
    if (st == PAIRTOK_OK) {
        st = delete_removed(pg, plan, err);
    }
    if (st == PAIRTOK_OK) {
        st = write_records(pg, plan, true, PG_SAVE_UPDATE, err);
    }
    if (st == PAIRTOK_OK) {
        st = write_records(pg, plan, false, PG_SAVE_UPSERT, err);
    }
    if (st != PAIRTOK_OK) {
        pg->tx.state = PG_TX_FAILED;
    }
    return st;
}
