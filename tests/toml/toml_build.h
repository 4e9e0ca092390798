/* SPDX-License-Identifier: ISC */
/*
 * toml_build.h - test support for the TOML tree (src/toml.h): building
 * trees, comparing them, and the written text in one buffer.  libpairtok
 * never builds a tree or compares two, so this lives with the tests and
 * is linked into test_toml, toml-perf and the TOML fuzzer only.
 *
 * Builders copy their keys and strings into the document's arena and mark
 * the nodes as built (line and column 0).  On allocation failure they
 * return NULL or -1 and leave the document as it was.
 */
#ifndef PAIRTOK_TOML_BUILD_H
#define PAIRTOK_TOML_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

/* Each returns the new node (or 0) and NULL (or -1) on allocation failure,
 * for a key or string that is not UTF-8, or when `key` already exists in
 * `table`. */
toml_node *toml_table_add_table(toml_doc *doc, toml_node *table, const char *key, size_t key_len);
toml_node *toml_table_add_array(toml_doc *doc, toml_node *table, const char *key, size_t key_len);
int toml_table_add_string(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                          const char *value, size_t value_len);
int toml_table_add_integer(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                           int64_t value);
/* Append a new empty table to `array` (an array of tables). */
toml_node *toml_array_append_table(toml_doc *doc, toml_node *array);
/* Remove element `index` of `array`, keeping the order of the rest. */
void toml_array_remove(toml_node *array, size_t index);
/* Keep, in order, the elements for which `keep` is true, in one pass (so
 * removing many elements stays linear); returns how many were removed.
 * `keep` is called exactly once per element, in order. */
typedef bool (*toml_keep_fn)(const toml_node *element, const void *ctx);
size_t toml_array_retain(toml_node *array, toml_keep_fn keep, const void *ctx);

/* The whole text toml_write() gives, in one malloc'd buffer with a NUL
 * after it (the caller frees); -1 and *out NULL on failure. */
int toml_write_alloc(const toml_doc *doc, char **out, size_t *out_len);

/* Deep semantic equality: same types, same keys (any order), same values
 * (floats by bit pattern except that every NaN equals every NaN). */
bool toml_equal(const toml_node *a, const toml_node *b);

#endif /* PAIRTOK_TOML_BUILD_H */
