/* SPDX-License-Identifier: ISC */
/*
 * toml_scan.h - the reader's state, shared by its two halves (internal to
 * src/toml_parse.c and src/toml_scan.c).
 *
 * The parser (toml_parse.c) follows the structure of a document: lines,
 * keys, [headers], arrays and inline tables, and builds the tree.  The
 * scanner (toml_scan.c) reads the one token the parser stands at - a
 * string, a number, a date or time, a boolean, the end of a line with its
 * comment - checks it against TOML 1.0 and decodes it into a node.  Both
 * move the same cursor and report errors the same way: the function that
 * finds one fills `err` with line:col and a message and returns -1 (or
 * NULL), and every caller passes the failure up.
 */
#ifndef PAIRTOK_TOML_SCAN_H
#define PAIRTOK_TOML_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toml_text.h"
#include "toml_tree.h"

/* toml_parse_harvest's state (toml_parse.c). */
typedef struct harvest harvest;

typedef struct parser {
    const char *p;          /* next byte to read */
    const char *end;        /* one past the last byte */
    const char *line_start; /* first byte of the current line */
    uint32_t line;          /* current line, 1-based */
    toml_doc *doc;
    toml_error *err;
    toml_node *table; /* where key/value lines go: root or last header's table */
    harvest *hv;      /* NULL unless harvesting */
} parser;

typedef struct src_pos {
    uint32_t line;
    uint32_t col;
} src_pos;

static inline src_pos pos_at(const parser *ps, const char *at)
{
    return (src_pos){ps->line, (uint32_t)(at - ps->line_start) + 1u};
}

/* Fill ps->err with the message and `pos`; returns -1. */
PT_HIDDEN int toml_fail_pos(parser *ps, src_pos pos, const char *fmt, ...) PT_PRINTF(3, 4);

#define fail_at(ps, at, ...) toml_fail_pos((ps), pos_at((ps), (at)), __VA_ARGS__)

/* Fill ps->err for an allocation failure; returns -1. */
PT_HIDDEN int toml_fail_oom(parser *ps);
/* "expected <expected>, found <the character at `at`>", and -1. */
PT_HIDDEN int toml_fail_unexpected(parser *ps, const char *at, const char *expected);

static inline void note_newline(parser *ps, const char *next_line)
{
    ps->line++;
    ps->line_start = next_line;
}

static inline void skip_blank(parser *ps)
{
    const char *p = ps->p;
    while (p < ps->end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    ps->p = p;
}

static inline bool at_char(const parser *ps, char c)
{
    return ps->p < ps->end && *ps->p == c;
}

/* The scanner.  Each reads from ps->p, leaves ps->p after what it read and
 * returns 0, or fails (-1). */

/* The rest of a line: blank space, an optional comment, then the newline
 * if one is next (*newline says whether). */
PT_HIDDEN int toml_scan_line_end(parser *ps, bool *newline);
/* A "basic" or 'literal' string on one line (a quoted key): its unescaped
 * bytes, in the input or (when decoded) in the document's arena. */
PT_HIDDEN int toml_scan_line_string(parser *ps, const char **out, uint32_t *out_len);
/* A value other than an array or inline table into the node `n`, which
 * gets its kind: a string, a boolean, a number, inf, nan, a date or time. */
PT_HIDDEN int toml_scan_scalar(parser *ps, toml_node *n);

#endif /* PAIRTOK_TOML_SCAN_H */
