/* SPDX-License-Identifier: ISC */
/* testutil.h - small helpers shared by the unit tests. */
#ifndef PAIRTOK_TESTUTIL_H
#define PAIRTOK_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pairtok.h"

/* A fresh 0700 directory under $TMPDIR (or /tmp); removed by rm_tree. */
char *tu_mkdtemp(void);
void tu_rm_tree(const char *dir);
/* dir + "/" + name in a static rotating buffer. */
const char *tu_join(const char *dir, const char *name);
/* Write `text` to `path` with `mode` (exactly, via fchmod). */
void tu_write_file(const char *path, const char *text, mode_t mode);
/* Whole file as a malloc'd NUL-terminated string, or NULL if missing. */
char *tu_read_file(const char *path, size_t *len);
bool tu_exists(const char *path);
mode_t tu_mode(const char *path);
/* Append a copy of `record` (label duplicated) to `list`: PAIRTOK_OK, or
 * PAIRTOK_ENOMEM. */
pairtok_status tu_list_push(pairtok_record_list *list, const pairtok_record *record);
/* Number of entries in `dir` whose name contains `needle`. */
size_t tu_count_entries(const char *dir, const char *needle);

/* Where a test that holds for every backend keeps its store: a fresh
 * file store under a temp directory. */
typedef struct tu_location {
    char *home;                      /* temp directory, removed by free */
    char location[PAIRTOK_PATH_MAX]; /* what pairtok_store_open takes */
} tu_location;
void tu_location_init(tu_location *loc);
void tu_location_free(tu_location *loc);

#endif
