/* SPDX-License-Identifier: ISC */
/*
 * toml_build.c - what only the tests need of the TOML tree: builders,
 * deep equality and the whole text in one buffer (declared in
 * toml_build.h).  Linked into test_toml, toml-perf and the TOML fuzzer,
 * never into libpairtok, which reads and writes but never builds trees.
 */
#include "toml_build.h"
#include "toml_text.h"
#include "toml_tree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- builders ---- */

/* True when all `len` bytes at s are well-formed UTF-8. */
static bool utf8_valid(const char *s, size_t len)
{
    const char *end = s + len;
    while (s < end) {
        unsigned n = toml_utf8_length(s, end);
        if (n == 0) {
            return false;
        }
        s += n;
    }
    return true;
}

/* Copy `len` bytes into the arena (never NULL for len 0, so that keys
 * always point somewhere). */
static const char *arena_copy(arena *a, const char *s, size_t len)
{
    char *copy = arena_alloc(a, len > 0 ? len : 1u);
    if (copy != NULL && len > 0) {
        memcpy(copy, s, len);
    }
    return copy;
}

/* A new child `key` of `table` of `kind`, or NULL (duplicate, bad key, too
 * deep, out of memory) leaving the document as it was. */
static toml_node *build_child(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                              unsigned kind)
{
    if (doc == NULL || !is_table(table) || (key == NULL && key_len > 0) || key_len > KEY_LEN_MAX ||
        !utf8_valid(key, key_len) || toml_table_lookup(table, key, key_len) != NULL) {
        return NULL;
    }
    unsigned depth = 0;
    if (kind_is_table(kind) || kind_is_array(kind)) {
        depth = node_depth(table) + 1u;
        if (depth > TOML_MAX_DEPTH) {
            return NULL;
        }
    }
    const char *copy = arena_copy(&doc->nodes, key, key_len);
    toml_node *n = copy == NULL ? NULL : arena_alloc(&doc->nodes, sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    node_init(n, copy, (uint32_t)key_len, toml_is_bare_key(copy, key_len), kind, depth);
    if (container_append(doc, table, n) != 0) {
        return NULL;
    }
    return n;
}

toml_node *toml_table_add_table(toml_doc *doc, toml_node *table, const char *key, size_t key_len)
{
    return build_child(doc, table, key, key_len, KIND_TABLE_DEFINED);
}

toml_node *toml_table_add_array(toml_doc *doc, toml_node *table, const char *key, size_t key_len)
{
    return build_child(doc, table, key, key_len, KIND_ARRAY_STATIC);
}

int toml_table_add_string(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                          const char *value, size_t value_len)
{
    if ((value == NULL && value_len > 0) || value_len > TOML_MAX_INPUT ||
        !utf8_valid(value, value_len)) {
        return -1;
    }
    toml_node *n = build_child(doc, table, key, key_len, KIND_STRING);
    if (n == NULL) {
        return -1;
    }
    const char *copy = arena_copy(&doc->nodes, value, value_len);
    if (copy == NULL) {
        toml_container_remove(table, table->len - 1u);
        return -1;
    }
    n->v.str = copy;
    n->len = (uint32_t)value_len;
    return 0;
}

int toml_table_add_integer(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                           int64_t value)
{
    toml_node *n = build_child(doc, table, key, key_len, KIND_INTEGER);
    if (n == NULL) {
        return -1;
    }
    n->v.integer = value;
    return 0;
}

toml_node *toml_array_append_table(toml_doc *doc, toml_node *array)
{
    if (doc == NULL || !is_array(array) || node_depth(array) + 1u > TOML_MAX_DEPTH) {
        return NULL;
    }
    toml_node *n = arena_alloc(&doc->nodes, sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    node_init(n, NULL, 0, false, KIND_TABLE_DEFINED, node_depth(array) + 1u);
    if (container_append(doc, array, n) != 0) {
        return NULL;
    }
    return n;
}

void toml_array_remove(toml_node *array, size_t index)
{
    if (is_array(array) && index < array->len) {
        toml_container_remove(array, (uint32_t)index);
    }
}

size_t toml_array_retain(toml_node *array, toml_keep_fn keep, const void *ctx)
{
    if (!is_array(array)) {
        return 0;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < array->len; i++) {
        if (keep(array->v.items[i], ctx)) {
            array->v.items[kept++] = array->v.items[i];
        }
    }
    size_t removed = array->len - kept;
    array->len = kept;
    return removed;
}

/* ---- the whole text in one buffer ---- */

typedef struct collected {
    char *bytes;
    size_t len, cap;
} collected;

/* A sink that appends to a growing buffer, with room for a NUL after. */
static int collect(const char *bytes, size_t len, void *ctx)
{
    collected *c = ctx;
    if (c->cap - c->len <= len) {
        size_t cap = c->cap > 0 ? c->cap : 64u * 1024u;
        while (cap - c->len <= len) {
            if (cap > SIZE_MAX / 2) {
                return -1;
            }
            cap *= 2;
        }
        char *bigger = realloc(c->bytes, cap);
        if (bigger == NULL) {
            return -1;
        }
        c->bytes = bigger;
        c->cap = cap;
    }
    memcpy(c->bytes + c->len, bytes, len);
    c->len += len;
    return 0;
}

int toml_write_alloc(const toml_doc *doc, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    collected c = {NULL, 0, 0};
    /* Collecting nothing still makes the buffer of an empty document. */
    if (toml_write(doc, collect, &c) != 0 || collect("", 0, &c) != 0) {
        free(c.bytes);
        return -1;
    }
    c.bytes[c.len] = '\0'; /* NUL-terminated for convenience */
    *out = c.bytes;
    *out_len = c.len;
    return 0;
}

/* ---- equality ---- */

static bool datetime_equal(const toml_datetime *a, const toml_datetime *b)
{
    /* By value: 07:32:00.5 equals 07:32:00.500 whatever digits were kept. */
    return a->year == b->year && a->month == b->month && a->day == b->day && a->hour == b->hour &&
           a->minute == b->minute && a->second == b->second && a->nanosecond == b->nanosecond &&
           a->offset_minutes == b->offset_minutes;
}

bool toml_equal(const toml_node *a, const toml_node *b)
{
    if (a == b) {
        return true;
    }
    if (a == NULL || b == NULL || toml_node_type(a) != toml_node_type(b)) {
        return false;
    }
    switch (toml_node_type(a)) {
    case TOML_TABLE:
        if (a->len != b->len) {
            return false;
        }
        for (uint32_t i = 0; i < a->len; i++) {
            const toml_node *x = a->v.items[i];
            const toml_node *y = toml_table_lookup(b, x->key, node_key_len(x));
            if (y == NULL || !toml_equal(x, y)) {
                return false;
            }
        }
        return true;
    case TOML_ARRAY:
        if (a->len != b->len) {
            return false;
        }
        for (uint32_t i = 0; i < a->len; i++) {
            if (!toml_equal(a->v.items[i], b->v.items[i])) {
                return false;
            }
        }
        return true;
    case TOML_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->v.str, b->v.str, a->len) == 0);
    case TOML_INTEGER:
        return a->v.integer == b->v.integer;
    case TOML_FLOAT:
        return (isnan(a->v.number) && isnan(b->v.number)) ||
               memcmp(&a->v.number, &b->v.number, sizeof(double)) == 0;
    case TOML_BOOLEAN:
        return a->v.boolean == b->v.boolean;
    default:
        return datetime_equal(a->v.datetime, b->v.datetime);
    }
}
