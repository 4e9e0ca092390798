/* SPDX-License-Identifier: ISC */
/*
 * read_stream.h - read a whole stream into memory (test and fuzz tools
 * only; header-only so that each tool stays a single object).
 */
#ifndef PAIRTOK_READ_STREAM_H
#define PAIRTOK_READ_STREAM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything left in `f`, NUL-terminated (the NUL is not counted in *len);
 * NULL on a read error or when memory runs out.  Free it. */
static inline char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        used += fread(buf + used, 1, cap - used - 1, f);
        if (used < cap - 1) {
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            return NULL;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf == NULL || ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* A copy of `len` bytes in a block of exactly that size (nothing after it),
 * so that ASan reports any read past the end.  NULL when out of memory. */
static inline char *exact_copy(const char *data, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);
    if (copy != NULL && len > 0) {
        memcpy(copy, data, len);
    }
    return copy;
}

#endif /* PAIRTOK_READ_STREAM_H */
