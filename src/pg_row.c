/* SPDX-License-Identifier: ISC */
/* pg_row.c - results of the PostgreSQL backend's statements to records:
 * numbers come as decimal text (times as whole epoch seconds), records as
 * the columns PG_COL_* (pg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

bool pg_get_u64(const PGresult *res, int row, int col, uint64_t *out)
{
    if (res == NULL || row >= PQntuples(res) || col >= PQnfields(res) ||
        PQgetisnull(res, row, col)) {
        return false;
    }
    const char *text = PQgetvalue(res, row, col);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || errno != 0) {
        return false;
    }
    *out = v;
    return true;
}

static bool copy_field(const PGresult *res, int row, int col, char *out, size_t size)
{
    if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) >= size) {
        return false;
    }
    memcpy(out, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col) + 1);
    return true;
}

pairtok_status pg_record_from_row(const pg_backend *pg, const PGresult *res, int row,
                                  pairtok_record *out, pairtok_error *err)
{
    memset(out, 0, sizeof *out);
    if (PQnfields(res) <= PG_COL_EXPIRES ||
        !copy_field(res, row, PG_COL_HASH, out->token_hash, sizeof out->token_hash) ||
        !copy_field(res, row, PG_COL_PRINCIPAL, out->principal, sizeof out->principal) ||
        !pg_get_u64(res, row, PG_COL_ISSUED, &out->issued_at_epoch) ||
        !pg_get_u64(res, row, PG_COL_EXPIRES, &out->expires_at_epoch)) {
        return pg_fail(pg, err, PAIRTOK_EIO, "a row of pairtok_token has an unexpected shape");
    }
    if (!PQgetisnull(res, row, PG_COL_LABEL) &&
        (out->label = strdup(PQgetvalue(res, row, PG_COL_LABEL))) == NULL) {
        return pg_fail(pg, err, PAIRTOK_ENOMEM, "out of memory");
    }
    return PAIRTOK_OK;
}

pairtok_status pg_list_append(const pg_backend *pg, pairtok_record_list *list, const PGresult *res,
                              pairtok_error *err)
{
    size_t rows = (size_t)PQntuples(res);
    if (list->capacity - list->count < rows) {
        size_t want = list->count + rows;
        pairtok_record *items = realloc(list->items, want * sizeof *items);
        if (items == NULL) {
            return pg_fail(pg, err, PAIRTOK_ENOMEM, "out of memory");
        }
        list->items = items;
        list->capacity = want;
    }
    for (size_t i = 0; i < rows; i++) {
        pairtok_status st = pg_record_from_row(pg, res, (int)i, &list->items[list->count], err);
        if (st != PAIRTOK_OK) {
            pairtok_record_clear(&list->items[list->count]);
            return st;
        }
        list->count++;
    }
    return PAIRTOK_OK;
}
