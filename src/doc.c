/* doc.c - the store file's document: validation and record access. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"

#define F_HASH "token_hash"
#define F_PRINCIPAL "principal"
#define F_EXPIRES "expires_at_epoch"
#define F_ISSUED "issued_at_epoch"
#define F_LABEL "label"
#define F_RESERVED "reserved_at_epoch"
#define K_RECORDS "pair_token"
#define K_SCHEMA "schema_version"

static toml_node *field(const toml_node *table, const char *name)
{
    return toml_table_get(table, name, strlen(name));
}

/* A record's field, tried first at `pos`, where this library (and the Rust
 * one) writes it: redeem and prune read four fields of every record, and
 * this turns most lookups into one key comparison. */
static toml_node *known_field(const toml_node *rec, size_t pos, const char *name, size_t len)
{
    const char *key;
    size_t key_len;
    if (pos < toml_table_len(rec)) {
        toml_node *v = toml_table_at(rec, pos, &key, &key_len);
        if (key_len == len && memcmp(key, name, len) == 0) {
            return v;
        }
    }
    return toml_table_get(rec, name, len);
}

#define KNOWN(rec, pos, name) known_field(rec, pos, name, sizeof name - 1)

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

/* `path:line:col: pair_token[i].name: problem` at the position of `at`. */
static pairtok_status field_fail(pairtok_error *err, const char *path, const toml_node *at,
                                 size_t index, const char *name, const char *problem)
{
    return pairtok_fail(err, PAIRTOK_EPARSE, 0, "%s:%u:%u: %s[%zu].%s: %s", path,
                        toml_node_line(at), toml_node_col(at), K_RECORDS, index, name, problem);
}

static pairtok_status check_string(const toml_node *rec, size_t index, const char *name,
                                   bool required, const char *path, pairtok_error *err)
{
    const toml_node *v = field(rec, name);
    if (v == NULL) {
        return required ? field_fail(err, path, rec, index, name, "missing") : PAIRTOK_OK;
    }
    if (toml_node_type(v) != TOML_STRING) {
        char problem[64];
        snprintf(problem, sizeof problem, "expected a string, found %s",
                 type_name(toml_node_type(v)));
        return field_fail(err, path, v, index, name, problem);
    }
    return PAIRTOK_OK;
}

static pairtok_status check_epoch(const toml_node *rec, size_t index, const char *name,
                                  bool required, const char *path, pairtok_error *err)
{
    const toml_node *v = field(rec, name);
    if (v == NULL) {
        return required ? field_fail(err, path, rec, index, name, "missing") : PAIRTOK_OK;
    }
    if (toml_node_type(v) != TOML_INTEGER) {
        char problem[64];
        snprintf(problem, sizeof problem, "expected an integer, found %s",
                 type_name(toml_node_type(v)));
        return field_fail(err, path, v, index, name, problem);
    }
    if (toml_integer(v) < 0) {
        return field_fail(err, path, v, index, name, "must not be negative");
    }
    return PAIRTOK_OK;
}

static pairtok_status check_record(const toml_node *rec, size_t index, const char *path,
                                   pairtok_error *err)
{
    pairtok_status st;
    if ((st = check_string(rec, index, F_HASH, true, path, err)) != PAIRTOK_OK ||
        (st = check_string(rec, index, F_PRINCIPAL, true, path, err)) != PAIRTOK_OK ||
        (st = check_epoch(rec, index, F_EXPIRES, true, path, err)) != PAIRTOK_OK ||
        (st = check_epoch(rec, index, F_ISSUED, true, path, err)) != PAIRTOK_OK ||
        (st = check_string(rec, index, F_LABEL, false, path, err)) != PAIRTOK_OK ||
        (st = check_epoch(rec, index, F_RESERVED, false, path, err)) != PAIRTOK_OK) {
        return st;
    }
    size_t len;
    const toml_node *v = field(rec, F_HASH);
    const char *text = toml_string(v, &len);
    const char *problem = pairtok_hash_problem(text, len);
    if (problem != NULL) {
        return field_fail(err, path, v, index, F_HASH, problem);
    }
    v = field(rec, F_PRINCIPAL);
    text = toml_string(v, &len);
    if ((problem = pairtok_principal_problem(text, len)) != NULL) {
        return field_fail(err, path, v, index, F_PRINCIPAL, problem);
    }
    v = field(rec, F_LABEL);
    if (v != NULL) {
        text = toml_string(v, &len);
        if (len > PAIRTOK_LABEL_MAX) {
            return field_fail(err, path, v, index, F_LABEL, "longer than 4096 bytes");
        }
        if (memchr(text, '\0', len) != NULL) {
            return field_fail(err, path, v, index, F_LABEL, "contains a NUL character");
        }
    }
    return PAIRTOK_OK;
}

pairtok_status doc_validate(const toml_doc *doc, const char *path, pairtok_error *err)
{
    const toml_node *root = toml_root(doc);
    const toml_node *schema = field(root, K_SCHEMA);
    if (schema != NULL) {
        return pairtok_fail(err, PAIRTOK_ESCHEMA, 0,
                            "%s:%u:%u: " K_SCHEMA " is set: the file was written in a newer "
                            "format that this version of pairtok does not read; it was left "
                            "untouched (upgrade pairtok)",
                            path, toml_node_line(schema), toml_node_col(schema));
    }
    const toml_node *records = field(root, K_RECORDS);
    if (records == NULL) {
        return PAIRTOK_OK;
    }
    if (toml_node_type(records) != TOML_ARRAY) {
        return pairtok_fail(err, PAIRTOK_EPARSE, 0,
                            "%s:%u:%u: " K_RECORDS ": expected an array of tables "
                            "([[" K_RECORDS "]]), found %s",
                            path, toml_node_line(records), toml_node_col(records),
                            type_name(toml_node_type(records)));
    }
    size_t n = toml_array_len(records);
    for (size_t i = 0; i < n; i++) {
        const toml_node *rec = toml_array_at(records, i);
        if (toml_node_type(rec) != TOML_TABLE) {
            return pairtok_fail(
                err, PAIRTOK_EPARSE, 0, "%s:%u:%u: " K_RECORDS "[%zu]: expected a table, found %s",
                path, toml_node_line(rec), toml_node_col(rec), i, type_name(toml_node_type(rec)));
        }
        pairtok_status st = check_record(rec, i, path, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
    }
    return PAIRTOK_OK;
}

toml_node *doc_records(toml_doc *doc, bool create)
{
    toml_node *root = toml_root(doc);
    toml_node *records = field(root, K_RECORDS);
    if (records == NULL && create) {
        records = toml_table_add_array(doc, root, K_RECORDS, strlen(K_RECORDS));
    }
    return records;
}

size_t doc_count(const toml_node *records)
{
    return records ? toml_array_len(records) : 0;
}

const char *rec_hash(const toml_node *rec)
{
    size_t len;
    return toml_string(KNOWN(rec, 0, F_HASH), &len);
}

const char *rec_principal(const toml_node *rec, size_t *len)
{
    return toml_string(KNOWN(rec, 1, F_PRINCIPAL), len);
}

uint64_t rec_expires(const toml_node *rec)
{
    return (uint64_t)toml_integer(KNOWN(rec, 2, F_EXPIRES));
}

uint64_t rec_issued(const toml_node *rec)
{
    return (uint64_t)toml_integer(KNOWN(rec, 3, F_ISSUED));
}

bool rec_reserved(const toml_node *rec)
{
    /* Four required fields and maybe a label leave no room for the mark:
     * the common case, answered without searching for an absent key. */
    size_t len = toml_table_len(rec);
    if (len == 4 || (len == 5 && KNOWN(rec, 4, F_LABEL) != NULL)) {
        return false;
    }
    return KNOWN(rec, 5, F_RESERVED) != NULL;
}

const char *rec_label(const toml_node *rec, size_t *len)
{
    const toml_node *label = KNOWN(rec, 4, F_LABEL);
    *len = 0;
    return label != NULL ? toml_string(label, len) : NULL;
}

bool rec_redeemable(const toml_node *rec, uint64_t now)
{
    uint64_t expires = rec_expires(rec);
    uint64_t issued = rec_issued(rec);
    size_t plen;
    const char *principal = rec_principal(rec, &plen);
    return expires > now && expires >= issued && expires - issued <= PAIRTOK_MAX_EXPIRY_SECS &&
           !rec_reserved(rec) && !pairtok_principal_is_reserved(principal, plen);
}

bool rec_is_expired(const toml_node *rec, const void *now)
{
    return rec_expires(rec) <= *(const uint64_t *)now;
}

pairtok_status rec_export(const toml_node *rec, pairtok_record *out, pairtok_error *err)
{
    memset(out, 0, sizeof *out);
    memcpy(out->token_hash, rec_hash(rec), PAIRTOK_HASH_LEN);
    size_t len;
    const char *principal = rec_principal(rec, &len);
    memcpy(out->principal, principal, len);
    out->expires_at_epoch = rec_expires(rec);
    out->issued_at_epoch = rec_issued(rec);
    const char *text = rec_label(rec, &len);
    if (text != NULL) {
        out->label = malloc(len + 1);
        if (out->label == NULL) {
            return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
        }
        memcpy(out->label, text, len);
        out->label[len] = '\0';
    }
    return PAIRTOK_OK;
}

static int add_fields(toml_doc *doc, toml_node *table, const pairtok_record *rec)
{
    if (toml_table_add_string(doc, table, F_HASH, strlen(F_HASH), rec->token_hash,
                              strlen(rec->token_hash)) != 0 ||
        toml_table_add_string(doc, table, F_PRINCIPAL, strlen(F_PRINCIPAL), rec->principal,
                              strlen(rec->principal)) != 0 ||
        toml_table_add_integer(doc, table, F_EXPIRES, strlen(F_EXPIRES),
                               (int64_t)rec->expires_at_epoch) != 0 ||
        toml_table_add_integer(doc, table, F_ISSUED, strlen(F_ISSUED),
                               (int64_t)rec->issued_at_epoch) != 0) {
        return -1;
    }
    if (rec->label != NULL && toml_table_add_string(doc, table, F_LABEL, strlen(F_LABEL),
                                                    rec->label, strlen(rec->label)) != 0) {
        return -1;
    }
    return 0;
}

pairtok_status doc_append(toml_doc *doc, const pairtok_record *rec, pairtok_error *err)
{
    toml_node *records = doc_records(doc, true);
    toml_node *table = records ? toml_array_append_table(doc, records) : NULL;
    if (table == NULL || add_fields(doc, table, rec) != 0) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

/* True if the five known fields of `table` already hold `rec`. */
static bool rec_equals(const toml_node *table, const pairtok_record *rec)
{
    size_t len;
    const char *principal = rec_principal(table, &len);
    if (len != strlen(rec->principal) || memcmp(principal, rec->principal, len) != 0 ||
        rec_expires(table) != rec->expires_at_epoch || rec_issued(table) != rec->issued_at_epoch ||
        memcmp(rec_hash(table), rec->token_hash, PAIRTOK_HASH_LEN) != 0) {
        return false;
    }
    const char *text = rec_label(table, &len);
    if (text == NULL || rec->label == NULL) {
        return text == NULL && rec->label == NULL;
    }
    return len == strlen(rec->label) && memcmp(text, rec->label, len) == 0;
}

pairtok_status rec_update(toml_doc *doc, toml_node *table, const pairtok_record *rec, bool *changed,
                          pairtok_error *err)
{
    *changed = !rec_equals(table, rec);
    if (!*changed) {
        return PAIRTOK_OK; /* the common case: rewriting what was loaded */
    }
    static const char *const known[] = {F_HASH, F_PRINCIPAL, F_EXPIRES, F_ISSUED, F_LABEL};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        toml_table_remove(table, known[i], strlen(known[i]));
    }
    if (add_fields(doc, table, rec) != 0) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

typedef struct drop_ctx {
    doc_pred drop;
    const void *ctx;
} drop_ctx;

static bool kept(const toml_node *rec, const void *c)
{
    const drop_ctx *d = c;
    return !d->drop(rec, d->ctx);
}

size_t doc_remove_where(toml_node *records, doc_pred drop, const void *ctx)
{
    if (records == NULL) {
        return 0;
    }
    drop_ctx d = {drop, ctx};
    return toml_array_retain(records, kept, &d);
}

typedef struct marked_ctx {
    const unsigned char *gone;
    size_t next;
} marked_ctx;

static bool not_marked(const toml_node *rec, const void *c)
{
    (void)rec;
    marked_ctx *m = (marked_ctx *)(uintptr_t)c; /* toml_array_retain visits in order, once each */
    return !m->gone[m->next++];
}

size_t doc_remove_marked(toml_node *records, const unsigned char *gone)
{
    if (records == NULL) {
        return 0;
    }
    marked_ctx m = {gone, 0};
    return toml_array_retain(records, not_marked, &m);
}
