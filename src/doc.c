/* SPDX-License-Identifier: ISC */
/* doc.c - the store file's document: reading records into compact form,
 * editing them, and writing the document back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"

#define K_RECORDS "pair_token"
#define K_SCHEMA "schema_version"

/* The fields a record may have, in the order this library (and the Rust
 * one) writes them. */
enum { F_HASH, F_PRINCIPAL, F_EXPIRES, F_ISSUED, F_LABEL, F_RESERVED, F_COUNT };

static const struct {
    const char *name;
    size_t len;
} known[F_COUNT] = {
    {"token_hash", 10},      {"principal", 9}, {"expires_at_epoch", 16},
    {"issued_at_epoch", 15}, {"label", 5},     {"reserved_at_epoch", 17},
};

static int known_index(const char *key, size_t len)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (known[f].len == len && memcmp(known[f].name, key, len) == 0) {
            return f;
        }
    }
    return -1;
}

static bool is_known_key(const char *key, size_t len)
{
    return known_index(key, len) >= 0;
}

/* ---------------------------------------------------------------------- */
/* Hashes: raw in memory, hex in the file.                                */
/* ---------------------------------------------------------------------- */

/* libsodium's hex functions run in constant time, which makes them slow
 * enough to be a large part of reading a big store (bench/results.md).
 * These hashes are not secrets (they are
 * what the file holds, and redeem compares them with sodium_memcmp), so
 * plain table lookups are used.  The input is checked to be 64 lowercase
 * hex digits before it gets here. */
/* clang-format off */
#define HEX_DIGIT(n) ((char)((n) < 10 ? '0' + (n) : 'a' + (n) - 10))
#define HEX_PAIR(b) {HEX_DIGIT((b) >> 4), HEX_DIGIT((b) & 15)}
#define HEX_ROW(h)                                                                 \
    HEX_PAIR(h),      HEX_PAIR(h + 1),  HEX_PAIR(h + 2),  HEX_PAIR(h + 3),         \
    HEX_PAIR(h + 4),  HEX_PAIR(h + 5),  HEX_PAIR(h + 6),  HEX_PAIR(h + 7),         \
    HEX_PAIR(h + 8),  HEX_PAIR(h + 9),  HEX_PAIR(h + 10), HEX_PAIR(h + 11),        \
    HEX_PAIR(h + 12), HEX_PAIR(h + 13), HEX_PAIR(h + 14), HEX_PAIR(h + 15)
/* clang-format on */

/* The two digits of every byte: one lookup per byte, as every write
 * converts the hash of every record. */
static const char hex_pairs[256][2] = {
    HEX_ROW(0x00), HEX_ROW(0x10), HEX_ROW(0x20), HEX_ROW(0x30), HEX_ROW(0x40), HEX_ROW(0x50),
    HEX_ROW(0x60), HEX_ROW(0x70), HEX_ROW(0x80), HEX_ROW(0x90), HEX_ROW(0xa0), HEX_ROW(0xb0),
    HEX_ROW(0xc0), HEX_ROW(0xd0), HEX_ROW(0xe0), HEX_ROW(0xf0),
};

/* The value of each hex digit (the input is checked before): a lookup,
 * not a branch, which random digits would mispredict. */
#define DIGITS_0_9                                                                                 \
    ['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5, ['6'] = 6, ['7'] = 7,        \
    ['8'] = 8, ['9'] = 9
static const unsigned char hex_values[256] = {
    DIGITS_0_9, ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
};

void pt_hash_from_hex(unsigned char out[32], const char *hex)
{
    const unsigned char *h = (const unsigned char *)hex;
    for (size_t i = 0; i < HASH_BYTES; i++) {
        out[i] = (unsigned char)(hex_values[h[2 * i]] << 4 | hex_values[h[2 * i + 1]]);
    }
}

uint64_t pt_hash_prefix(const char *hex)
{
    const unsigned char *h = (const unsigned char *)hex;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        v = v << 4 | hex_values[h[i]];
    }
    return v;
}

void rec_hash_hex(const srec *rec, char out[PAIRTOK_HASH_LEN + 1])
{
    for (size_t i = 0; i < HASH_BYTES; i++) {
        memcpy(out + 2 * i, hex_pairs[rec->hash[i]], 2);
    }
    out[PAIRTOK_HASH_LEN] = '\0';
}

/* ---------------------------------------------------------------------- */
/* The string pool: records' principals and labels, never moved.          */
/* ---------------------------------------------------------------------- */

#define POOL_BLOCK (64u * 1024u)

struct pool_block {
    pool_block *next;
    size_t used, size;
    char data[];
};

/* A NUL-terminated copy of `len` bytes, or NULL when out of memory.  Edits
 * leave old strings behind; the store re-reads its file before they add up
 * (see doc_release in store.c). */
static const char *pool_copy(sdoc *doc, const char *s, size_t len)
{
    pool_block *b = doc->pool;
    if (b == NULL || b->size - b->used < len + 1) {
        size_t size = len + 1 > POOL_BLOCK ? len + 1 : POOL_BLOCK;
        b = malloc(sizeof *b + size);
        if (b == NULL) {
            return NULL;
        }
        b->next = doc->pool;
        b->used = 0;
        b->size = size;
        doc->pool = b;
    }
    char *copy = b->data + b->used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    b->used += len + 1;
    return copy;
}

/* ---------------------------------------------------------------------- */
/* Documents.                                                             */
/* ---------------------------------------------------------------------- */

sdoc *doc_new(void)
{
    sdoc *doc = calloc(1, sizeof *doc);
    if (doc != NULL && (doc->rest = toml_new()) == NULL) {
        free(doc);
        doc = NULL;
    }
    return doc;
}

void doc_free(sdoc *doc)
{
    if (doc == NULL) {
        return;
    }
    toml_free(doc->rest);
    fsafe_text_free(&doc->text);
    pages_free(&doc->recs_mem);
    for (pool_block *b = doc->pool, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(doc);
}

/* Room for at least `count` records. */
static bool doc_reserve(sdoc *doc, size_t count)
{
    if (count <= doc->cap) {
        return true;
    }
    if (count > SIZE_MAX / sizeof *doc->recs ||
        !pages_grow(&doc->recs_mem, count * sizeof *doc->recs)) {
        return false;
    }
    doc->recs = doc->recs_mem.data;
    doc->cap = doc->recs_mem.size / sizeof *doc->recs;
    return true;
}

/* Room for one more record. */
static srec *doc_push(sdoc *doc)
{
    if (doc->count == doc->cap && !doc_reserve(doc, doc->cap * 2 + 16)) {
        return NULL;
    }
    srec *rec = &doc->recs[doc->count++];
    memset(rec, 0, sizeof *rec);
    return rec;
}

/* ---------------------------------------------------------------------- */
/* Reading.                                                               */
/* ---------------------------------------------------------------------- */

static const char *type_name(toml_type type)
{
    switch (type) {
    case TOML_TABLE:
        return "a table";
    case TOML_ARRAY:
        return "an array";
    case TOML_STRING:
        return "a string";
    case TOML_INTEGER:
        return "an integer";
    case TOML_FLOAT:
        return "a float";
    case TOML_BOOLEAN:
        return "a boolean";
    default:
        return "a date or time";
    }
}

/* What the harvester carries between records.  The first problem is kept
 * and reported only once the whole file parsed: a syntax error further on,
 * or a schema_version, takes precedence, as it would for a file read whole. */
typedef struct reader {
    sdoc *doc;
    const char *path;
    bool failed;
    bool kept; /* some record table stays in the tree */
    pairtok_error first;
} reader;

/* `path:line:col: pair_token[i].name: problem` at the position of `at`. */
static bool field_fail(reader *rd, const toml_node *at, size_t index, int f, const char *problem)
{
    pt_fail(&rd->first, PAIRTOK_EPARSE, 0, "%s:%u:%u: " K_RECORDS "[%zu].%s: %s", rd->path,
            toml_node_line(at), toml_node_col(at), index, known[f].name, problem);
    rd->failed = true;
    return true;
}

/* Type checks, in the order of the fields; true if one failed. */
static bool check_types(reader *rd, const toml_node *table, const toml_node *const v[F_COUNT],
                        size_t index)
{
    static const bool required[F_COUNT] = {true, true, true, true, false, false};
    for (int f = 0; f < F_COUNT; f++) {
        bool epoch = f == F_EXPIRES || f == F_ISSUED || f == F_RESERVED;
        toml_type want = epoch ? TOML_INTEGER : TOML_STRING;
        if (v[f] == NULL) {
            if (required[f]) {
                return field_fail(rd, table, index, f, "missing");
            }
        } else if (toml_node_type(v[f]) != want) {
            char problem[64];
            snprintf(problem, sizeof problem, "expected %s, found %s",
                     epoch ? "an integer" : "a string", type_name(toml_node_type(v[f])));
            return field_fail(rd, v[f], index, f, problem);
        } else if (epoch && toml_integer(v[f]) < 0) {
            return field_fail(rd, v[f], index, f, "must not be negative");
        }
    }
    return false;
}

/* Value checks; true if one failed. */
static bool check_values(reader *rd, const toml_node *const v[F_COUNT], size_t index)
{
    size_t len;
    const char *text = toml_string(v[F_HASH], &len);
    const char *problem = pt_hash_problem(text, len);
    if (problem != NULL) {
        return field_fail(rd, v[F_HASH], index, F_HASH, problem);
    }
    text = toml_string(v[F_PRINCIPAL], &len);
    if ((problem = pt_principal_problem(text, len)) != NULL) {
        return field_fail(rd, v[F_PRINCIPAL], index, F_PRINCIPAL, problem);
    }
    if (v[F_LABEL] != NULL) {
        text = toml_string(v[F_LABEL], &len);
        if (len > PAIRTOK_LABEL_MAX) {
            return field_fail(rd, v[F_LABEL], index, F_LABEL, "longer than 4096 bytes");
        }
        if (memchr(text, '\0', len) != NULL) {
            return field_fail(rd, v[F_LABEL], index, F_LABEL, "contains a NUL character");
        }
    }
    return false;
}

static bool out_of_memory(reader *rd)
{
    pt_fail(&rd->first, PAIRTOK_ENOMEM, 0, "out of memory");
    rd->failed = true;
    return true;
}

/* Copy a validated record table into a new srec. */
static bool convert(reader *rd, const toml_node *table, const toml_node *const v[F_COUNT],
                    bool extra)
{
    sdoc *doc = rd->doc;
    srec *rec = doc_push(doc);
    if (rec == NULL) {
        return false;
    }
    size_t len;
    pt_hash_from_hex(rec->hash, toml_string(v[F_HASH], &len));
    const char *text = toml_string(v[F_PRINCIPAL], &len);
    rec->principal = pool_copy(doc, text, len);
    rec->principal_len = (uint8_t)len;
    if (v[F_LABEL] != NULL) {
        text = toml_string(v[F_LABEL], &len);
        rec->label = pool_copy(doc, text, len);
        rec->label_len = (uint16_t)len;
    }
    rec->expires = (uint64_t)toml_integer(v[F_EXPIRES]);
    rec->issued = (uint64_t)toml_integer(v[F_ISSUED]);
    if (v[F_RESERVED] != NULL) {
        rec->flags |= REC_RESERVED;
        rec->reserved_at = (uint64_t)toml_integer(v[F_RESERVED]);
    }
    rec->extra = extra ? table : NULL;
    rec->line = toml_node_line(table);
    rec->col = toml_node_col(table);
    if (rec->principal == NULL || (v[F_LABEL] != NULL && rec->label == NULL)) {
        doc->count--;
        return false;
    }
    return true;
}

/* The harvester: validate and convert one record table.  Returns true to
 * keep the table in the tree: when it has unknown keys, and once anything
 * failed (the document is about to be thrown away). */
static bool harvest_record(toml_node *table, size_t index, void *ctx)
{
    reader *rd = ctx;
    if (rd->failed) {
        return true;
    }
    if (toml_node_type(table) != TOML_TABLE) {
        pt_fail(&rd->first, PAIRTOK_EPARSE, 0,
                "%s:%u:%u: " K_RECORDS "[%zu]: expected a table, found %s", rd->path,
                toml_node_line(table), toml_node_col(table), index,
                type_name(toml_node_type(table)));
        rd->failed = true;
        return true;
    }
    const toml_node *v[F_COUNT] = {NULL};
    bool extra = false;
    size_t n = toml_table_len(table);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t key_len;
        const toml_node *value = toml_table_at(table, i, &key, &key_len);
        int f = known_index(key, key_len);
        if (f >= 0) {
            v[f] = value;
        } else {
            extra = true;
        }
    }
    if (check_types(rd, table, v, index) || check_values(rd, v, index)) {
        return true;
    }
    if (!convert(rd, table, v, extra)) {
        return out_of_memory(rd);
    }
    rd->kept |= extra;
    return extra;
}

static pairtok_status check_rest(const sdoc *doc, const char *path, pairtok_error *err)
{
    const toml_node *root = toml_root(doc->rest);
    const toml_node *schema = toml_table_get(root, K_SCHEMA, strlen(K_SCHEMA));
    if (schema != NULL) {
        return pt_fail(err, PAIRTOK_ESCHEMA, 0,
                       "%s:%u:%u: " K_SCHEMA " is set: the file was written in a newer "
                       "format that this version of pairtok does not read; it was left "
                       "untouched (upgrade pairtok)",
                       path, toml_node_line(schema), toml_node_col(schema));
    }
    const toml_node *records = toml_table_get(root, K_RECORDS, strlen(K_RECORDS));
    if (records != NULL && toml_node_type(records) != TOML_ARRAY) {
        return pt_fail(err, PAIRTOK_EPARSE, 0,
                       "%s:%u:%u: " K_RECORDS ": expected an array of tables "
                       "([[" K_RECORDS "]]), found %s",
                       path, toml_node_line(records), toml_node_col(records),
                       type_name(toml_node_type(records)));
    }
    return PAIRTOK_OK;
}

/* Parse into `doc`; the records go to doc->recs as they are read. */
static pairtok_status parse_into(sdoc *doc, const char *path, pairtok_error *err)
{
    reader rd = {.doc = doc, .path = path};
    /* Room for as many records as the text could hold (no record is
     * shorter than 128 bytes): pages past the last record are never
     * touched, so they cost no memory. */
    if (!doc_reserve(doc, doc->text.len / 128 + 16)) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "%s: out of memory parsing", path);
    }
    toml_error terr;
    if (toml_parse_harvest(doc->text.data, doc->text.len, K_RECORDS, strlen(K_RECORDS),
                           harvest_record, &rd, &doc->rest, &terr) != 0) {
        if (terr.oom) {
            return pt_fail(err, PAIRTOK_ENOMEM, 0, "%s: out of memory parsing", path);
        }
        return pt_fail(err, PAIRTOK_EPARSE, 0, "%s:%u:%u: %s", path, terr.line, terr.col,
                       terr.message);
    }
    pairtok_status st = check_rest(doc, path, err);
    if (st == PAIRTOK_OK && rd.failed) {
        st = pt_fail(err, rd.first.code, 0, "%s", rd.first.message);
    }
    if (st != PAIRTOK_OK) {
        return st;
    }
    /* The records are written from the srecs: take them out of the tree.
     * The array node stays allocated, as the parent of kept tables. */
    toml_node *root = toml_root(doc->rest);
    doc->array = rd.kept ? toml_table_get(root, K_RECORDS, strlen(K_RECORDS)) : NULL;
    toml_table_remove(root, K_RECORDS, strlen(K_RECORDS));
    if (!rd.kept && toml_table_len(root) == 0) {
        fsafe_text_free(&doc->text); /* nothing points into it any more */
    }
    return PAIRTOK_OK;
}

pairtok_status doc_parse(fsafe_text *text, const char *path, sdoc **out, pairtok_error *err)
{
    *out = NULL;
    sdoc *doc = calloc(1, sizeof *doc);
    if (doc == NULL) {
        fsafe_text_free(text);
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    doc->text = *text;
    *text = (fsafe_text){0};
    pairtok_status st = parse_into(doc, path, err);
    if (st != PAIRTOK_OK) {
        doc_free(doc);
        return st;
    }
    *out = doc;
    return PAIRTOK_OK;
}

/* ---------------------------------------------------------------------- */
/* Writing.                                                               */
/* ---------------------------------------------------------------------- */

#define EMIT_STRING(e, f, text, n) toml_emit_string(e, known[f].name, known[f].len, text, n)
#define EMIT_EPOCH(e, f, v) toml_emit_integer(e, known[f].name, known[f].len, (int64_t)(v))

static void emit_record(toml_emitter *e, const sdoc *doc, const srec *rec)
{
    char hex[PAIRTOK_HASH_LEN + 1];
    rec_hash_hex(rec, hex);
    toml_emit_array_header(e, K_RECORDS, strlen(K_RECORDS));
    EMIT_STRING(e, F_HASH, hex, PAIRTOK_HASH_LEN);
    EMIT_STRING(e, F_PRINCIPAL, rec->principal, rec->principal_len);
    EMIT_EPOCH(e, F_EXPIRES, rec->expires);
    EMIT_EPOCH(e, F_ISSUED, rec->issued);
    if (rec->label != NULL) {
        EMIT_STRING(e, F_LABEL, rec->label, rec->label_len);
    }
    if (rec->flags & REC_RESERVED) {
        EMIT_EPOCH(e, F_RESERVED, rec->reserved_at);
    }
    if (rec->extra != NULL) {
        toml_emit_table_rest(e, doc->array, rec->extra, is_known_key);
    }
}

static int emit_records(toml_emitter *e, void *ctx)
{
    const sdoc *doc = ctx;
    for (size_t i = 0; i < doc->count && !toml_emit_failed(e); i++) {
        emit_record(e, doc, &doc->recs[i]);
    }
    return toml_emit_failed(e) ? -1 : 0;
}

int doc_write(const sdoc *doc, toml_sink_fn sink, void *ctx)
{
    return toml_write_more(doc->rest, emit_records, (void *)(uintptr_t)doc, sink, ctx);
}

/* ---------------------------------------------------------------------- */
/* Records.                                                               */
/* ---------------------------------------------------------------------- */

bool rec_redeemable(const srec *rec, uint64_t now)
{
    return rec->expires > now && rec->expires >= rec->issued &&
           (rec->issued <= now || rec->issued - now <= PAIRTOK_CLOCK_SKEW_SECS) &&
           rec->expires - rec->issued <= PAIRTOK_MAX_EXPIRY_SECS && !(rec->flags & REC_RESERVED) &&
           !pt_principal_is_reserved(rec->principal, rec->principal_len);
}

bool rec_has_principal(const srec *rec, const void *principal)
{
    return strcmp(rec->principal, principal) == 0;
}

bool rec_is_expired(const srec *rec, const void *now)
{
    return rec->expires <= *(const uint64_t *)now;
}

bool rec_is_gone(const srec *rec, const void *unused)
{
    (void)unused;
    return (rec->flags & REC_GONE) != 0;
}

pairtok_status rec_export(const srec *rec, pairtok_record *out, pairtok_error *err)
{
    memset(out, 0, sizeof *out);
    rec_hash_hex(rec, out->token_hash);
    memcpy(out->principal, rec->principal, rec->principal_len);
    out->expires_at_epoch = rec->expires;
    out->issued_at_epoch = rec->issued;
    if (rec->label != NULL) {
        out->label = malloc((size_t)rec->label_len + 1);
        if (out->label == NULL) {
            return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
        }
        memcpy(out->label, rec->label, (size_t)rec->label_len + 1);
    }
    return PAIRTOK_OK;
}

/* Set the known fields of `rec` from `from`; on failure `rec` is unchanged. */
static bool assign(sdoc *doc, srec *rec, const pairtok_record *from)
{
    size_t plen = strlen(from->principal);
    size_t llen = from->label ? strlen(from->label) : 0;
    const char *principal = rec->principal;
    if (principal == NULL || strcmp(principal, from->principal) != 0) {
        principal = pool_copy(doc, from->principal, plen);
    }
    const char *label = rec->label;
    if (from->label != NULL && (label == NULL || strcmp(label, from->label) != 0)) {
        label = pool_copy(doc, from->label, llen);
    }
    if (principal == NULL || (from->label != NULL && label == NULL)) {
        return false;
    }
    pt_hash_from_hex(rec->hash, from->token_hash);
    rec->principal = principal;
    rec->principal_len = (uint8_t)plen;
    rec->label = from->label ? label : NULL;
    rec->label_len = (uint16_t)llen;
    rec->expires = from->expires_at_epoch;
    rec->issued = from->issued_at_epoch;
    return true;
}

pairtok_status doc_append(sdoc *doc, const pairtok_record *rec, pairtok_error *err)
{
    srec *added = doc_push(doc);
    if (added == NULL || !assign(doc, added, rec)) {
        if (added != NULL) {
            doc->count--;
        }
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

/* True if the known fields of `rec` already hold `with` (same hash: see
 * rec_update). */
static bool rec_equals(const srec *rec, const pairtok_record *with)
{
    if (strcmp(rec->principal, with->principal) != 0 || rec->expires != with->expires_at_epoch ||
        rec->issued != with->issued_at_epoch) {
        return false;
    }
    if (rec->label == NULL || with->label == NULL) {
        return rec->label == NULL && with->label == NULL;
    }
    return strcmp(rec->label, with->label) == 0;
}

pairtok_status rec_update(sdoc *doc, srec *rec, const pairtok_record *with, bool *changed,
                          pairtok_error *err)
{
    *changed = !rec_equals(rec, with);
    if (*changed && !assign(doc, rec, with)) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

size_t doc_remove_where(sdoc *doc, doc_pred drop, const void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < doc->count; i++) {
        if (!drop(&doc->recs[i], ctx)) {
            doc->recs[kept++] = doc->recs[i];
        }
    }
    size_t removed = doc->count - kept;
    doc->count = kept;
    return removed;
}
