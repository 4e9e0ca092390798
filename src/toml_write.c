/* SPDX-License-Identifier: ISC */
/*
 * toml_write.c - the canonical writer: a tree as TOML text, streamed
 * through the caller's sink in chunks of up to WRITE_CHUNK bytes, and the
 * emitters through which the store appends its records after the tree
 * (toml_write_more).  The layout is in toml.h: within each table the plain
 * key/values first, then sub-tables and arrays of tables as sections, in
 * insertion order; bare keys where possible; basic strings with every
 * control character escaped.
 */
#include "toml_text.h"
#include "toml_tree.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_CHUNK (64u * 1024u)

typedef struct toml_emitter writer;
struct toml_emitter {
    char *buf;
    size_t len;
    size_t cap;
    toml_sink_fn sink;
    void *ctx;
    bool failed;
    bool started; /* something was written: headers need a blank line */
    unsigned path_len;
    const toml_node *path[TOML_MAX_DEPTH + 1]; /* tables/arrays from the root */
};

/* Make room: hand what the buffer holds to the sink. */
static bool w_flush(writer *w)
{
    if (w->failed) {
        return false;
    }
    if (w->len > 0 && w->sink(w->buf, w->len, w->ctx) != 0) {
        w->failed = true;
        return false;
    }
    w->len = 0;
    return true;
}

/* Room for `n` bytes (n <= WRITE_CHUNK), or NULL once writing failed. */
static char *w_reserve(writer *w, size_t n)
{
    while (w->cap - w->len < n) {
        if (!w_flush(w)) {
            return NULL;
        }
    }
    return w->failed ? NULL : w->buf + w->len;
}

static void w_put_slow(writer *w, const char *s, size_t n)
{
    while (n > 0 && !w->failed) {
        if (w->len == w->cap && !w_flush(w)) {
            return;
        }
        size_t chunk = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, chunk);
        w->len += chunk;
        s += chunk;
        n -= chunk;
    }
}

/* Inline so that the many short, constant-length pieces are plain stores. */
static inline void w_put(writer *w, const char *s, size_t n)
{
    if (n <= w->cap - w->len) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    } else {
        w_put_slow(w, s, n);
    }
}

static inline void w_char(writer *w, char c)
{
    if (w->len < w->cap) {
        w->buf[w->len++] = c;
    } else {
        w_put_slow(w, &c, 1);
    }
}

#define w_literal(w, s) w_put((w), (s), sizeof(s) - 1u)

static void w_escape(writer *w, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = w_reserve(w, 6);
    if (p == NULL) {
        return;
    }
    p[0] = '\\';
    char letter = toml_escape_letter((char)c);
    if (letter != 0) {
        p[1] = letter;
        w->len += 2;
    } else {
        memcpy(p + 1, "u00", 3);
        p[4] = hex[c >> 4];
        p[5] = hex[c & 15u];
        w->len += 6;
    }
}

static void w_string(writer *w, const char *s, size_t len)
{
    const char *end = s + len;
    w_char(w, '"');
    while (s < end) {
        const char *stop = skip_plain(s, end, '"', true, false); /* UTF-8 passes */
        w_put(w, s, (size_t)(stop - s));
        if (stop == end) {
            break;
        }
        w_escape(w, (unsigned char)*stop);
        s = stop + 1;
    }
    w_char(w, '"');
}

static void w_key(writer *w, const toml_node *n)
{
    size_t len = node_key_len(n);
    if ((n->col_kind & NODE_BARE_KEY) != 0) {
        w_put(w, n->key, len);
    } else {
        w_string(w, n->key, len);
    }
}

static void w_integer(writer *w, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    while (u >= 100u) { /* two digits per division */
        i -= 2;
        memcpy(tmp + i, pairs + u % 100u * 2u, 2);
        u /= 100u;
    }
    if (u >= 10u) {
        i -= 2;
        memcpy(tmp + i, pairs + u * 2u, 2);
    } else {
        tmp[--i] = (char)('0' + u);
    }
    if (v < 0) {
        tmp[--i] = '-';
    }
    w_put(w, tmp + i, sizeof tmp - i);
}

/* The shortest of %.15g..%.17g that reads back exactly, in the C locale,
 * with ".0" added when it would otherwise read as an integer. */
static void w_float(writer *w, double d)
{
    if (isnan(d)) {
        w_literal(w, "nan");
        return;
    }
    if (isinf(d)) {
        w_put(w, d < 0 ? "-inf" : "inf", d < 0 ? 4u : 3u);
        return;
    }
    char tmp[40];
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        w->failed = true;
        return;
    }
    locale_t old = uselocale(c_locale);
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    uselocale(old);
    freelocale(c_locale);
    w_put(w, tmp, strlen(tmp));
    if (strpbrk(tmp, ".e") == NULL) {
        w_literal(w, ".0");
    }
}

static void w_2digits(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10u);
    p[1] = (char)('0' + v % 10u);
}

static void w_datetime(writer *w, unsigned kind, const toml_datetime *dt)
{
    char tmp[48];
    size_t n = 0;
    if (kind != KIND_TIME_LOCAL) {
        unsigned year = (unsigned)dt->year;
        w_2digits(tmp, year / 100u % 100u);
        w_2digits(tmp + 2, year % 100u);
        tmp[4] = '-';
        w_2digits(tmp + 5, dt->month);
        tmp[7] = '-';
        w_2digits(tmp + 8, dt->day);
        n = 10;
        if (kind == KIND_DATE_LOCAL) {
            w_put(w, tmp, n);
            return;
        }
        tmp[n++] = 'T';
    }
    w_2digits(tmp + n, dt->hour);
    tmp[n + 2] = ':';
    w_2digits(tmp + n + 3, dt->minute);
    tmp[n + 5] = ':';
    w_2digits(tmp + n + 6, dt->second);
    n += 8;
    if (dt->frac_digits > 0) {
        unsigned digits = dt->frac_digits > 9 ? 9u : dt->frac_digits;
        uint32_t frac = dt->nanosecond;
        tmp[n++] = '.';
        for (unsigned i = digits; i < 9; i++) {
            frac /= 10u;
        }
        for (unsigned i = digits; i > 0; i--) {
            tmp[n + i - 1] = (char)('0' + frac % 10u);
            frac /= 10u;
        }
        n += digits;
    }
    if (kind == KIND_DATETIME) {
        int off = dt->offset_minutes;
        if (off == 0) {
            tmp[n++] = 'Z';
        } else {
            unsigned a = (unsigned)(off < 0 ? -off : off);
            tmp[n] = off < 0 ? '-' : '+';
            w_2digits(tmp + n + 1, a / 60u % 100u);
            tmp[n + 3] = ':';
            w_2digits(tmp + n + 4, a % 60u);
            n += 6;
        }
    }
    w_put(w, tmp, n);
}

static void w_value(writer *w, const toml_node *n);

static void w_inline_table(writer *w, const toml_node *t)
{
    if (t->len == 0) {
        w_literal(w, "{}");
        return;
    }
    w_literal(w, "{ ");
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        if (i > 0) {
            w_literal(w, ", ");
        }
        w_key(w, t->v.items[i]);
        w_literal(w, " = ");
        w_value(w, t->v.items[i]);
    }
    w_literal(w, " }");
}

static void w_inline_array(writer *w, const toml_node *a)
{
    w_char(w, '[');
    for (uint32_t i = 0; i < a->len && !w->failed; i++) {
        if (i > 0) {
            w_literal(w, ", ");
        }
        w_value(w, a->v.items[i]);
    }
    w_char(w, ']');
}

/* A value on the right of '=' (or inside an inline array or table). */
static void w_value(writer *w, const toml_node *n)
{
    unsigned kind = node_kind(n);
    switch (kind) {
    case KIND_STRING:
        w_string(w, n->v.str, n->len);
        break;
    case KIND_INTEGER:
        w_integer(w, n->v.integer);
        break;
    case KIND_FLOAT:
        w_float(w, n->v.number);
        break;
    case KIND_BOOLEAN:
        if (n->v.boolean) {
            w_literal(w, "true");
        } else {
            w_literal(w, "false");
        }
        break;
    case KIND_ARRAY_STATIC:
    case KIND_ARRAY_TABLES:
        w_inline_array(w, n);
        break;
    case KIND_DATETIME:
    case KIND_DATETIME_LOCAL:
    case KIND_DATE_LOCAL:
    case KIND_TIME_LOCAL:
        w_datetime(w, kind, n->v.datetime);
        break;
    default:
        w_inline_table(w, n);
        break;
    }
}

/* Written as [[path]] sections: a non-empty array of tables only. */
static bool is_array_of_tables(const toml_node *n)
{
    if (!is_array(n) || n->len == 0) {
        return false;
    }
    for (uint32_t i = 0; i < n->len; i++) {
        if (!is_table(n->v.items[i])) {
            return false;
        }
    }
    return true;
}

static inline bool is_section(const toml_node *n)
{
    unsigned kind = node_kind(n);
    return kind_is_table(kind) || (kind_is_array(kind) && is_array_of_tables(n));
}

/* A table needs its own [header] if it has key/values, or nothing at all
 * (else it would vanish); one with only sub-sections is created by theirs. */
static bool needs_header(const toml_node *t)
{
    for (uint32_t i = 0; i < t->len; i++) {
        if (!is_section(t->v.items[i])) {
            return true;
        }
    }
    return t->len == 0;
}

static void w_header(writer *w, bool array)
{
    if (w->started) {
        w_char(w, '\n');
    }
    w->started = true;
    w_put(w, "[[", array ? 2u : 1u);
    for (unsigned i = 0; i < w->path_len; i++) {
        if (i > 0) {
            w_char(w, '.');
        }
        w_key(w, w->path[i]);
    }
    if (array) {
        w_literal(w, "]]\n");
    } else {
        w_literal(w, "]\n");
    }
}

static void w_table_body(writer *w, const toml_node *t, toml_skip_key_fn skip);

static void w_section(writer *w, const toml_node *n)
{
    w->path[w->path_len++] = n;
    if (is_table(n)) {
        if (needs_header(n)) {
            w_header(w, false);
        }
        w_table_body(w, n, NULL);
    } else {
        for (uint32_t i = 0; i < n->len && !w->failed; i++) {
            w_header(w, true);
            w_table_body(w, n->v.items[i], NULL);
        }
    }
    w->path_len--;
}

static bool skipped(const toml_node *n, toml_skip_key_fn skip)
{
    return skip != NULL && skip(n->key, node_key_len(n));
}

/* Key/values of `t` in order, then its sub-tables and arrays of tables;
 * with `skip`, only the entries of `t` for which it is false. */
static void w_table_body(writer *w, const toml_node *t, toml_skip_key_fn skip)
{
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        const toml_node *n = t->v.items[i];
        if (!is_section(n) && !skipped(n, skip)) {
            w->started = true;
            w_key(w, n);
            w_literal(w, " = ");
            w_value(w, n);
            w_char(w, '\n');
        }
    }
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        const toml_node *n = t->v.items[i];
        if (is_section(n) && !skipped(n, skip)) {
            w_section(w, n);
        }
    }
}

int toml_write(const toml_doc *doc, toml_sink_fn sink, void *ctx)
{
    return toml_write_more(doc, NULL, NULL, sink, ctx);
}

int toml_write_more(const toml_doc *doc, toml_emit_fn more, void *more_ctx, toml_sink_fn sink,
                    void *ctx)
{
    if (doc == NULL || sink == NULL) {
        return -1;
    }
    writer w = {.sink = sink, .ctx = ctx, .cap = WRITE_CHUNK};
    w.buf = malloc(w.cap);
    if (w.buf == NULL) {
        return -1;
    }
    w_table_body(&w, &doc->root, NULL);
    if (more != NULL && !w.failed && more(&w, more_ctx) != 0) {
        w.failed = true;
    }
    w_flush(&w);
    free(w.buf);
    return w.failed ? -1 : 0;
}

bool toml_emit_failed(const toml_emitter *e)
{
    return e->failed;
}

void toml_emit_array_header(toml_emitter *e, const char *key, size_t key_len)
{
    if (e->started) {
        w_char(e, '\n');
    }
    e->started = true;
    w_literal(e, "[[");
    w_put(e, key, key_len);
    w_literal(e, "]]\n");
}

/* `key = ` for a key the caller knows to be bare. */
static void w_bare_key(writer *w, const char *key, size_t key_len)
{
    w->started = true;
    w_put(w, key, key_len);
    w_literal(w, " = ");
}

void toml_emit_string(toml_emitter *e, const char *key, size_t key_len, const char *s, size_t len)
{
    w_bare_key(e, key, key_len);
    w_string(e, s, len);
    w_char(e, '\n');
}

void toml_emit_integer(toml_emitter *e, const char *key, size_t key_len, int64_t v)
{
    w_bare_key(e, key, key_len);
    w_integer(e, v);
    w_char(e, '\n');
}

void toml_emit_table_rest(toml_emitter *e, const toml_node *array, const toml_node *table,
                          toml_skip_key_fn skip)
{
    e->path[0] = array;
    e->path_len = 1;
    w_table_body(e, table, skip);
    e->path_len = 0;
}
