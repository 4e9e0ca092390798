/* SPDX-License-Identifier: ISC */
/*
 * toml.h - strict TOML 1.0 reader and canonical writer (internal to
 * libpairtok; not installed).  The code is split by stage: toml_scan.c and
 * toml_parse.c read, toml_tree.c holds the tree, toml_write.c writes, and
 * toml_text.c has the character-level helpers reading and writing share
 * (DESIGN.md has a tour).  What only the tests use - builders, equality,
 * the text in one buffer - is in tests/toml/toml_build.h.
 *
 * The reader builds a document tree from a pointer and a length (no NUL
 * terminator needed, none relied on).  It rejects everything TOML 1.0
 * forbids and reports the first error as 1-based `line:col` plus a message.
 * Time is linear in the input size; nesting depth is capped at
 * TOML_MAX_DEPTH; inputs over TOML_MAX_INPUT bytes are refused.
 *
 * Memory: a document owns one arena; toml_free() releases every node, key
 * and string of it at once.  The reader may point strings and keys that
 * contain no escape straight into the input buffer, so the caller must keep
 * the input alive and unchanged until toml_free().
 *
 * The writer emits deterministic, canonical TOML: within each table, plain
 * key/values first in insertion order, then sub-tables and arrays of tables
 * as `[a.b]` / `[[a]]` sections in insertion order; bare keys when possible;
 * basic strings with every control character escaped.  Its output re-parses
 * to a tree equal to the input.
 *
 * Errors: functions returning int give 0 on success and -1 on failure; on
 * allocation failure `err->oom` is set (parse) or -1 is returned (writer)
 * and the document stays valid and unchanged.
 *
 * Thread safety: no global state.  A document must not be used by two
 * threads at once.
 */
#ifndef PAIRTOK_TOML_H
#define PAIRTOK_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOML_MAX_DEPTH 128
#define TOML_MAX_INPUT (64u * 1024u * 1024u)

typedef enum toml_type {
    TOML_TABLE,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOLEAN,
    TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    TOML_DATETIME_LOCAL, /* local date-time:  1979-05-27T07:32:00 */
    TOML_DATE_LOCAL,     /* local date:       1979-05-27 */
    TOML_TIME_LOCAL      /* local time:       07:32:00 */
} toml_type;

/* A date, time or both.  Fields not meaningful for the type are 0. */
typedef struct toml_datetime {
    int16_t year;                 /* 0..9999 */
    uint8_t month, day;           /* 1..12, 1..31 (checked against the month) */
    uint8_t hour, minute, second; /* 0..23, 0..59, 0..60 */
    uint8_t frac_digits;          /* digits of fractional seconds kept, 0..9 */
    uint32_t nanosecond;          /* fraction, truncated to nanoseconds */
    int16_t offset_minutes;       /* TOML_DATETIME only; Z is 0 */
} toml_datetime;

typedef struct toml_doc toml_doc;
typedef struct toml_node toml_node;

typedef struct toml_error {
    unsigned line; /* 1-based; 0 when not about a position */
    unsigned col;  /* 1-based, in bytes */
    bool oom;      /* the failure was an allocation failure */
    char message[200];
} toml_error;

/* Parse `len` bytes at `data`.  On success *out is a new document (free it
 * with toml_free) and 0 is returned; on failure *out is NULL, `err` is filled
 * and -1 is returned.  A leading UTF-8 BOM is skipped. */
int toml_parse(const char *data, size_t len, toml_doc **out, toml_error *err);

/* A new empty document, or NULL on allocation failure. */
toml_doc *toml_new(void);
/* Free a document and everything in it.  NULL is a no-op. */
void toml_free(toml_doc *doc);
/* The root table.  Never NULL for a valid document. */
toml_node *toml_root(const toml_doc *doc);

toml_type toml_node_type(const toml_node *node);
/* Where the value started in the input (1-based); 0 for built nodes. */
unsigned toml_node_line(const toml_node *node);
unsigned toml_node_col(const toml_node *node);

/* Tables: entries in insertion order.  Keys are unescaped and carry their
 * length (they may contain NUL). */
size_t toml_table_len(const toml_node *table);
toml_node *toml_table_at(const toml_node *table, size_t index, const char **key, size_t *key_len);
toml_node *toml_table_get(const toml_node *table, const char *key, size_t key_len);

/* Arrays (including arrays of tables). */
size_t toml_array_len(const toml_node *array);
toml_node *toml_array_at(const toml_node *array, size_t index);

/* Scalars.  Calling an accessor on a node of another type is a bug.  (The
 * store reads tables, strings and integers only; the array, float, boolean
 * and date accessors are there for the tests and any other reader.) */
const char *toml_string(const toml_node *node, size_t *len); /* not NUL-terminated */
int64_t toml_integer(const toml_node *node);
double toml_float(const toml_node *node);
bool toml_boolean(const toml_node *node);
const toml_datetime *toml_datetime_get(const toml_node *node);

/* Remove the entry `key` from `table`; 0 if removed, -1 if absent. */
int toml_table_remove(toml_node *table, const char *key, size_t key_len);

/* Parse, handing the elements of the root array `key` (an array of tables,
 * or any array) to `fn` as they are complete: an element of [[key]] when the
 * next [[key]] header starts, the last one and those of `key = [...]` at
 * the end of the input.  `index` counts the elements handed so far.  `fn`
 * returns true to keep the element in the tree, false to drop it; a dropped
 * element's memory is reused for the next one when possible, so a document
 * made mostly of such elements never holds more than one in its tree.
 * Elements are handed over before the whole input is known to be valid;
 * when the parse fails, everything `fn` did must be discarded.  `fn` may
 * keep pointers into kept elements only, and must not change the tree. */
typedef bool (*toml_harvest_fn)(toml_node *element, size_t index, void *ctx);
int toml_parse_harvest(const char *data, size_t len, const char *key, size_t key_len,
                       toml_harvest_fn fn, void *ctx, toml_doc **out, toml_error *err);

/* Writer.  Streams the canonical text of `doc` through `sink` in chunks;
 * stops and returns -1 as soon as `sink` returns non-zero. */
typedef int (*toml_sink_fn)(const char *bytes, size_t len, void *ctx);
int toml_write(const toml_doc *doc, toml_sink_fn sink, void *ctx);
/* Writing more after a document: toml_write_more() writes `doc`, then calls
 * `more`, which appends through the emitters below (non-zero from `more`
 * fails the write).  Keys given to the emitters must be bare keys.  The
 * result stays valid TOML as long as `more` writes only [[arrays]] of
 * tables whose keys the document does not use. */
typedef struct toml_emitter toml_emitter;
typedef int (*toml_emit_fn)(toml_emitter *e, void *ctx);
int toml_write_more(const toml_doc *doc, toml_emit_fn more, void *more_ctx, toml_sink_fn sink,
                    void *ctx);
/* `[[key]]`, after a blank line unless it is the first thing written. */
void toml_emit_array_header(toml_emitter *e, const char *key, size_t key_len);
/* `key = "escaped value"` and `key = 123`. */
void toml_emit_string(toml_emitter *e, const char *key, size_t key_len, const char *s, size_t len);
void toml_emit_integer(toml_emitter *e, const char *key, size_t key_len, int64_t v);
/* The entries of `table`, an element of `array`, for which `skip` is false:
 * key/values, then sub-tables as `[array-key.sub]` sections.  Call it right
 * after the element's toml_emit_array_header() and fields. */
typedef bool (*toml_skip_key_fn)(const char *key, size_t key_len);
void toml_emit_table_rest(toml_emitter *e, const toml_node *array, const toml_node *table,
                          toml_skip_key_fn skip);
/* True once a write through `e` failed (the sink refused, or no memory). */
bool toml_emit_failed(const toml_emitter *e);

#endif /* PAIRTOK_TOML_H */
