/* SPDX-License-Identifier: ISC */
/*
 * toml_parse.c - the parser of the TOML reader: the structure of a
 * document (key/value lines, dotted keys, [tables] and [[arrays of
 * tables]], arrays and inline tables) and the rules on which tables may
 * be defined or extended where, building the tree as it goes; the tokens
 * themselves are the scanner's (toml_scan.c).  Also toml_parse_harvest(),
 * which hands the elements of one root array to the caller as they
 * complete.  DESIGN.md has a tour.
 */
#include "toml_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handing the elements of one root array of tables to the caller as they
 * are completed (toml_parse_harvest).  An element is complete when the next
 * [[key]] header starts: only the last element of an array of tables can
 * be extended.  A dropped element's memory is reused when everything
 * allocated since it began belongs to it. */
struct harvest {
    const char *key;
    size_t key_len;
    toml_harvest_fn fn;
    void *ctx;
    size_t handed;           /* elements handed to fn so far */
    bool pending;            /* the array's last element is not handed yet */
    bool clean;              /* only the pending element allocated since its marks */
    arena_mark nodes_mark;   /* before the pending element's table node */
    arena_mark items_mark;   /* before its slot in the array and its children */
    arena_mark header_nodes; /* at the start of the header being parsed */
    arena_mark header_items;
};

/* A key as read: unescaped bytes (in the input or the arena) and where. */
typedef struct key_ref {
    const char *ptr;
    uint32_t len;
    src_pos pos;
    bool bare; /* can be written without quotes */
} key_ref;

/* ---- keys ---- */

/* One key: bare, "basic" or 'literal'.  The length is checked here so that
 * it fits the node. */
static int parse_simple_key(parser *ps, key_ref *key)
{
    const char *start = ps->p;
    key->pos = pos_at(ps, start);
    if (start < ps->end && has_class(*start, C_BARE)) {
        const char *p = skip_bare(start + 1, ps->end);
        key->ptr = start;
        key->len = (uint32_t)(p - start);
        key->bare = true;
        ps->p = p;
    } else if (start < ps->end && (*start == '"' || *start == '\'')) {
        if (toml_scan_line_string(ps, &key->ptr, &key->len) != 0) {
            return -1;
        }
        key->bare = toml_is_bare_key(key->ptr, key->len);
    } else {
        return toml_fail_unexpected(ps, start, "a key");
    }
    if (key->len > KEY_LEN_MAX) {
        return toml_fail_pos(ps, key->pos, "key is longer than %u bytes", KEY_LEN_MAX);
    }
    return 0;
}

static const char *kind_name(unsigned kind)
{
    static const char *const names[] = {
        "a table",         "a table",      "a table",
        "an inline table", "an array",     "an array of tables",
        "a string",        "an integer",   "a float",
        "a boolean",       "a date-time",  "a local date-time",
        "a local date",    "a local time",
    };
    return names[kind];
}

static inline toml_node *new_node(parser *ps, const key_ref *key, unsigned kind, unsigned depth)
{
    toml_node *n = arena_alloc(&ps->doc->nodes, sizeof *n);
    if (n == NULL) {
        toml_fail_oom(ps);
        return NULL;
    }
    node_init(n, key ? key->ptr : NULL, key ? key->len : 0, key && key->bare, kind, depth);
    return n;
}

static void set_pos(toml_node *n, src_pos pos)
{
    n->line = pos.line;
    n->col_kind = pos.col << 5 | (n->col_kind & 31u);
}

/* A new table or array named `key` in `parent`, or NULL after an error. */
static toml_node *add_container(parser *ps, toml_node *parent, const key_ref *key, unsigned kind)
{
    unsigned depth = node_depth(parent) + 1u;
    if (depth > TOML_MAX_DEPTH) {
        toml_fail_pos(ps, key->pos, "nesting is deeper than %d levels", TOML_MAX_DEPTH);
        return NULL;
    }
    toml_node *n = new_node(ps, key, kind, depth);
    if (n == NULL) {
        return NULL;
    }
    set_pos(n, key->pos);
    if (container_append(ps->doc, parent, n) != 0) {
        toml_fail_oom(ps);
        return NULL;
    }
    return n;
}

/* Where the existing `node` came from, for messages. */
static const char *defined_at(char *buf, size_t cap, const toml_node *n)
{
    if (n->line == 0) {
        return "";
    }
    snprintf(buf, cap, " (first defined at %u:%u)", (unsigned)n->line, (unsigned)node_col(n));
    return buf;
}

/* Step through `key` of a dotted key (a.b = 1) into its table, creating it. */
static toml_node *descend_dotted(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *child = toml_table_lookup(table, key->ptr, key->len);
    if (child == NULL) {
        return add_container(ps, table, key, KIND_TABLE_DOTTED);
    }
    unsigned kind = node_kind(child);
    if (kind == KIND_TABLE_DOTTED) {
        return child;
    }
    if (kind == KIND_TABLE_IMPLICIT) {
        /* Only created as a parent by a header: dotted keys may define it,
         * after which no [header] can. */
        set_kind(child, KIND_TABLE_DOTTED);
        return child;
    }
    char name[64], where[48];
    toml_describe_key(name, sizeof name, key->ptr, key->len);
    defined_at(where, sizeof where, child);
    if (kind == KIND_TABLE_DEFINED) {
        toml_fail_pos(ps, key->pos,
                      "cannot add to table %s with a dotted key: it has its own [header]%s", name,
                      where);
    } else {
        toml_fail_pos(ps, key->pos, "cannot use %s as a table: it is already %s%s", name,
                      kind_name(kind), where);
    }
    return NULL;
}

/* After the first part of a dotted key in `*key`: step through each `.part`
 * with `descend`, leaving the last part in `*key`.  Returns the table that
 * last part belongs in, or NULL after an error. */
typedef toml_node *(*descend_fn)(parser *ps, toml_node *table, const key_ref *key);
static toml_node *walk_dotted_key(parser *ps, toml_node *table, key_ref *key, descend_fn descend)
{
    skip_blank(ps);
    while (at_char(ps, '.')) {
        ps->p++;
        skip_blank(ps);
        table = descend(ps, table, key);
        if (table == NULL || parse_simple_key(ps, key) != 0) {
            return NULL;
        }
        skip_blank(ps);
    }
    return table;
}

/* "duplicate key ...", and NULL.  Out of line and cold, so that its
 * message buffers do not weigh on add_key, which every key/value goes
 * through. */
__attribute__((cold)) static toml_node *fail_duplicate_key(parser *ps, const key_ref *key,
                                                           const toml_node *old)
{
    char name[64], where[48];
    toml_fail_pos(ps, key->pos, "duplicate key %s%s",
                  toml_describe_key(name, sizeof name, key->ptr, key->len),
                  defined_at(where, sizeof where, old));
    return NULL;
}

/* Add a placeholder for `key` to `table`, refusing duplicates. */
static inline toml_node *add_key(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *old = toml_table_lookup(table, key->ptr, key->len);
    if (old != NULL) {
        return fail_duplicate_key(ps, key, old);
    }
    toml_node *n = new_node(ps, key, KIND_BOOLEAN, 0);
    if (n != NULL && container_append(ps->doc, table, n) != 0) {
        toml_fail_oom(ps);
        return NULL;
    }
    return n;
}

static int parse_value(parser *ps, toml_node *n, unsigned parent_depth);

/* key = value, into `table` (the current section or an inline table). */
static int parse_keyval(parser *ps, toml_node *table)
{
    key_ref key;
    if (parse_simple_key(ps, &key) != 0) {
        return -1;
    }
    const char *p = ps->p;
    if (ps->end - p > 3 && p[0] == ' ' && p[1] == '=' && p[2] == ' ' && p[3] != ' ' &&
        p[3] != '\t') {
        ps->p = p + 3; /* the usual spelling, "key = value", in one look */
        toml_node *n = add_key(ps, table, &key);
        return n == NULL ? -1 : parse_value(ps, n, node_depth(table));
    }
    if ((table = walk_dotted_key(ps, table, &key, descend_dotted)) == NULL) {
        return -1;
    }
    if (!at_char(ps, '=')) {
        return toml_fail_unexpected(ps, ps->p, "'=' after the key");
    }
    ps->p++;
    skip_blank(ps);
    toml_node *n = add_key(ps, table, &key);
    if (n == NULL) {
        return -1;
    }
    return parse_value(ps, n, node_depth(table));
}

/* ---- values ---- */

static int check_depth(parser *ps, unsigned depth)
{
    if (depth > TOML_MAX_DEPTH) {
        return fail_at(ps, ps->p, "nesting is deeper than %d levels", TOML_MAX_DEPTH);
    }
    return 0;
}

/* Blank space, newlines and comments, as allowed between array elements. */
static int skip_array_space(parser *ps)
{
    bool newline = true;
    while (newline) {
        if (toml_scan_line_end(ps, &newline) != 0) {
            return -1;
        }
    }
    return 0;
}

/* [ ... ] and { ... } (below) are kept out of line: inlined into
 * parse_value, their frames would weigh on every scalar value too. */
__attribute__((noinline)) static int parse_array(parser *ps, toml_node *n, unsigned depth)
{
    if (check_depth(ps, depth) != 0) {
        return -1;
    }
    n->key_len_depth = (n->key_len_depth & ~255u) | depth;
    set_kind(n, KIND_ARRAY_STATIC);
    n->v.items = NULL;
    ps->p++;
    for (;;) {
        if (skip_array_space(ps) != 0) {
            return -1;
        }
        if (at_char(ps, ']')) {
            ps->p++;
            return 0;
        }
        toml_node *item = new_node(ps, NULL, KIND_BOOLEAN, 0);
        if (item == NULL) {
            return -1;
        }
        if (container_append(ps->doc, n, item) != 0) {
            return toml_fail_oom(ps);
        }
        if (parse_value(ps, item, depth) != 0 || skip_array_space(ps) != 0) {
            return -1;
        }
        if (at_char(ps, ',')) {
            ps->p++;
        } else if (!at_char(ps, ']')) {
            return toml_fail_unexpected(ps, ps->p, "',' or ']' after an array element");
        }
    }
}

__attribute__((noinline)) static int parse_inline_table(parser *ps, toml_node *n, unsigned depth)
{
    if (check_depth(ps, depth) != 0) {
        return -1;
    }
    n->key_len_depth = (n->key_len_depth & ~255u) | depth;
    set_kind(n, KIND_TABLE_DEFINED); /* open to its own dotted keys until '}' */
    n->v.items = NULL;
    ps->p++;
    skip_blank(ps);
    if (at_char(ps, '}')) {
        ps->p++;
        set_kind(n, KIND_TABLE_INLINE);
        return 0;
    }
    for (;;) {
        if (parse_keyval(ps, n) != 0) {
            return -1;
        }
        skip_blank(ps);
        if (at_char(ps, '}')) {
            ps->p++;
            set_kind(n, KIND_TABLE_INLINE);
            return 0;
        }
        if (!at_char(ps, ',')) {
            return toml_fail_unexpected(
                ps, ps->p, "',' or '}' in an inline table (which must fit on one line)");
        }
        const char *comma = ps->p++;
        skip_blank(ps);
        if (at_char(ps, '}')) {
            return fail_at(ps, comma, "trailing comma is not allowed in an inline table");
        }
    }
}

/* Any value at ps->p into the placeholder `n`, whose container is at
 * `parent_depth`: arrays and inline tables here, the rest is the
 * scanner's. */
static int parse_value(parser *ps, toml_node *n, unsigned parent_depth)
{
    set_pos(n, pos_at(ps, ps->p));
    if (at_char(ps, '[')) {
        return parse_array(ps, n, parent_depth + 1u);
    }
    if (at_char(ps, '{')) {
        return parse_inline_table(ps, n, parent_depth + 1u);
    }
    return toml_scan_scalar(ps, n);
}

/* ---- table headers ---- */

/* Step through `key` of a header path into its table: tables of any origin
 * but inline, and the last element of an array of tables. */
static toml_node *descend_header(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *child = toml_table_lookup(table, key->ptr, key->len);
    if (child == NULL) {
        return add_container(ps, table, key, KIND_TABLE_IMPLICIT);
    }
    unsigned kind = node_kind(child);
    if (kind_is_table(kind) && kind != KIND_TABLE_INLINE) {
        return child;
    }
    if (kind == KIND_ARRAY_TABLES && child->len > 0) {
        return child->v.items[child->len - 1u];
    }
    char name[64], where[48];
    toml_fail_pos(ps, key->pos, "cannot use %s as a table in a header: it is %s%s",
                  toml_describe_key(name, sizeof name, key->ptr, key->len), kind_name(kind),
                  defined_at(where, sizeof where, child));
    return NULL;
}

/* The table that [header] names: new, or implicit until now. */
static toml_node *define_table(parser *ps, toml_node *parent, const key_ref *key, src_pos at)
{
    toml_node *child = toml_table_lookup(parent, key->ptr, key->len);
    if (child == NULL) {
        child = add_container(ps, parent, key, KIND_TABLE_DEFINED);
    } else if (node_kind(child) == KIND_TABLE_IMPLICIT) {
        set_kind(child, KIND_TABLE_DEFINED);
    } else {
        char name[64], where[48];
        unsigned kind = node_kind(child);
        toml_describe_key(name, sizeof name, key->ptr, key->len);
        defined_at(where, sizeof where, child);
        if (kind == KIND_TABLE_DEFINED) {
            toml_fail_pos(ps, at, "table %s is defined twice%s", name, where);
        } else if (kind == KIND_TABLE_DOTTED) {
            toml_fail_pos(ps, at, "table %s was already created by dotted keys%s", name, where);
        } else {
            toml_fail_pos(ps, at, "cannot define %s as a table: it is already %s%s", name,
                          kind_name(kind), where);
        }
        return NULL;
    }
    if (child != NULL) {
        set_pos(child, at);
    }
    return child;
}

/* Hand the pending (now complete) last element of `array` to the caller.
 * When it is dropped and nothing but it was allocated since it began - no
 * other header in between, no decoded key in the header being read - its
 * memory is given back. */
static void harvest_pending(parser *ps, toml_node *array)
{
    harvest *hv = ps->hv;
    if (!hv->pending) {
        return;
    }
    hv->pending = false;
    toml_node *element = array->v.items[array->len - 1u];
    if (hv->fn(element, hv->handed++, hv->ctx)) {
        return;
    }
    array->len--;
    toml_doc *doc = ps->doc;
    if (hv->clean && arena_unchanged_since(&doc->nodes, hv->header_nodes) &&
        arena_unchanged_since(&doc->items, hv->header_items)) {
        arena_rewind(&doc->nodes, hv->nodes_mark);
        arena_rewind(&doc->items, hv->items_mark);
    }
}

/* A new element of the array of tables that [[header]] names. */
static toml_node *define_array_element(parser *ps, toml_node *parent, const key_ref *key,
                                       src_pos at)
{
    toml_node *array = toml_table_lookup(parent, key->ptr, key->len);
    if (array == NULL) {
        array = add_container(ps, parent, key, KIND_ARRAY_TABLES);
        if (array == NULL) {
            return NULL;
        }
        set_pos(array, at);
    } else if (node_kind(array) != KIND_ARRAY_TABLES) {
        char name[64], where[48];
        toml_fail_pos(ps, at, "cannot append to %s with [[...]]: it is %s%s",
                      toml_describe_key(name, sizeof name, key->ptr, key->len),
                      kind_name(node_kind(array)), defined_at(where, sizeof where, array));
        return NULL;
    }
    key_ref none = {NULL, 0, at, false};
    harvest *hv = ps->hv;
    if (hv == NULL || parent != &ps->doc->root || !key_equals(array, hv->key, hv->key_len)) {
        return add_container(ps, array, &none, KIND_TABLE_DEFINED);
    }
    harvest_pending(ps, array);
    /* Marks before the element and its slot in the array: when it is
     * dropped, the array is back to the length it had, and the next
     * append takes the same slot again (or, when the slot needed a bigger
     * block, asks for the same block at the same place) instead of
     * copying the array of kept elements once per dropped one. */
    hv->nodes_mark = arena_get_mark(&ps->doc->nodes);
    hv->items_mark = arena_get_mark(&ps->doc->items);
    toml_node *element = add_container(ps, array, &none, KIND_TABLE_DEFINED);
    hv->pending = element != NULL;
    hv->clean = true;
    return element;
}

static bool same_key(const key_ref *key, const char *name, size_t len)
{
    return key->len == len && (len == 0 || memcmp(key->ptr, name, len) == 0);
}

/* [a.b.c] or [[a.b.c]]: ps->p at the first '['. */
static int parse_header(parser *ps)
{
    const src_pos at = pos_at(ps, ps->p);
    const bool array = ps->end - ps->p >= 2 && ps->p[1] == '[';
    ps->p += array ? 2 : 1;
    skip_blank(ps);
    toml_node *table = &ps->doc->root;
    key_ref key;
    if (ps->hv != NULL) {
        ps->hv->header_nodes = arena_get_mark(&ps->doc->nodes);
        ps->hv->header_items = arena_get_mark(&ps->doc->items);
    }
    if (parse_simple_key(ps, &key) != 0) {
        return -1;
    }
    if (ps->hv != NULL && !same_key(&key, ps->hv->key, ps->hv->key_len)) {
        ps->hv->clean = false; /* a table outside the harvested array */
    }
    if ((table = walk_dotted_key(ps, table, &key, descend_header)) == NULL) {
        return -1;
    }
    if (!at_char(ps, ']') || (array && (ps->end - ps->p < 2 || ps->p[1] != ']'))) {
        return toml_fail_unexpected(ps, ps->p,
                                    array ? "']]' to close the header" : "']' to close the header");
    }
    ps->p += array ? 2 : 1;
    table = array ? define_array_element(ps, table, &key, at) : define_table(ps, table, &key, at);
    if (table == NULL) {
        return -1;
    }
    ps->table = table;
    return 0;
}

/* ---- document ---- */

/* After a key/value or header: blank, an optional comment, then a newline
 * or the end of the input. */
static int finish_line(parser *ps, const char *after)
{
    if (at_char(ps, '\n')) { /* the usual case */
        note_newline(ps, ++ps->p);
        return 0;
    }
    bool newline;
    if (toml_scan_line_end(ps, &newline) != 0) {
        return -1;
    }
    if (!newline && ps->p != ps->end) {
        char what[80];
        return fail_at(ps, ps->p, "expected a newline after %s, found %s", after,
                       toml_describe_char(what, sizeof what, ps->p, ps->end));
    }
    return 0;
}

static int parse_document(parser *ps)
{
    for (;;) {
        skip_blank(ps);
        if (ps->p == ps->end) {
            return 0;
        }
        char c = *ps->p;
        if (c == '\n' || c == '\r' || c == '#') { /* a blank line, or a comment alone */
            if (finish_line(ps, "a comment") != 0) {
                return -1;
            }
        } else if (c == '[') {
            if (parse_header(ps) != 0 || finish_line(ps, "a table header") != 0) {
                return -1;
            }
        } else if (parse_keyval(ps, ps->table) != 0 || finish_line(ps, "a value") != 0) {
            return -1;
        }
    }
}

/* At the end of the input: hand over what is left of the harvested array -
 * the last element of [[key]], or every element of a `key = [...]` array
 * (which no header can complete earlier). */
static void harvest_rest(parser *ps)
{
    harvest *hv = ps->hv;
    toml_node *array = toml_table_lookup(&ps->doc->root, hv->key, hv->key_len);
    if (array == NULL || !is_array(array)) {
        return;
    }
    uint32_t start = node_kind(array) == KIND_ARRAY_TABLES ? array->len - hv->pending : 0u;
    uint32_t kept = start;
    for (uint32_t i = start; i < array->len; i++) {
        toml_node *element = array->v.items[i];
        if (hv->fn(element, hv->handed++, hv->ctx)) {
            array->v.items[kept++] = element;
        }
    }
    array->len = kept;
    hv->pending = false;
}

int toml_parse(const char *data, size_t len, toml_doc **out, toml_error *err)
{
    return toml_parse_harvest(data, len, NULL, 0, NULL, NULL, out, err);
}

int toml_parse_harvest(const char *data, size_t len, const char *key, size_t key_len,
                       toml_harvest_fn fn, void *ctx, toml_doc **out, toml_error *err)
{
    toml_error scratch;
    if (err == NULL) {
        err = &scratch;
    }
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (len > TOML_MAX_INPUT) {
        snprintf(err->message, sizeof err->message, "input is larger than %u bytes",
                 TOML_MAX_INPUT);
        return -1;
    }
    toml_doc *doc = toml_new();
    if (doc == NULL) {
        err->oom = true;
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    if (data == NULL) {
        data = "";
        len = 0;
    }
    harvest hv = {.key = key, .key_len = key_len, .fn = fn, .ctx = ctx};
    parser ps = {data, data + len, data, 1, doc, err, &doc->root, fn != NULL ? &hv : NULL};
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        ps.p += 3;
    }
    if (parse_document(&ps) != 0) {
        toml_free(doc);
        return -1;
    }
    if (ps.hv != NULL) {
        harvest_rest(&ps);
    }
    *out = doc;
    return 0;
}
