/* SPDX-License-Identifier: ISC */
/*
 * doc.h - the store file's document: records in compact form, everything
 * else as a TOML tree (internal to libpairtok).
 *
 * A store holds up to 100,000s of records, each written as a [[pair_token]]
 * table.  As TOML trees they would take more memory than the file, on top
 * of the file text the tree points into; as `srec`s they take about half
 * of it, and the text can be freed (bench/results.md has the figures).  So the reader hands each record table
 * to a harvester as soon as it is complete (toml_parse_harvest), which
 * validates it, converts it, and lets the parser reuse its memory: reading
 * never holds more than one record as a tree.
 *
 * Nothing is lost: a record table with keys this library does not know
 * stays in the tree (`extra`), and is written back with them; keys and
 * tables outside the records stay in `rest`.  A record's known fields are
 * always those of the srec.
 */
#ifndef PAIRTOK_DOC_H
#define PAIRTOK_DOC_H

#include "fsafe.h"
#include "internal.h"
#include "toml.h"

#define HASH_BYTES 32

enum {
    REC_RESERVED = 1, /* has reserved_at_epoch: a redeem is (or was) under way */
    REC_GONE = 2      /* scratch mark of redeem and save: delete (rec_is_gone) */
};

/* One record.  Strings live in the document's pool, NUL-terminated. */
typedef struct srec {
    unsigned char hash[HASH_BYTES]; /* SHA-256 of the token, raw */
    uint64_t expires;
    uint64_t issued;
    uint64_t reserved_at; /* when flags & REC_RESERVED */
    const char *principal;
    const char *label;      /* NULL when the record has none */
    const toml_node *extra; /* the record's table if it has unknown keys */
    uint32_t line, col;     /* where it was read; 0 for records added since */
    uint16_t label_len;
    uint8_t principal_len;
    uint8_t flags;
} srec;

typedef struct pool_block pool_block;

typedef struct sdoc {
    toml_doc *rest;         /* the document without its records */
    const toml_node *array; /* the `pair_token` array read (extras' parent), or NULL */
    fsafe_text text;        /* the file text, kept while `rest` points into it */
    srec *recs;             /* in recs_mem */
    size_t count, cap;
    pages recs_mem;
    pool_block *pool; /* strings of the records, newest block first */
} sdoc;

/* A new empty document, or NULL when out of memory. */
PT_HIDDEN sdoc *doc_new(void);
/* Parse and validate `text` (the document takes it over, also on
 * failure).  Errors: PAIRTOK_EPARSE (`path:line:col:
 * message`, for records `pair_token[i].field: problem`), PAIRTOK_ESCHEMA
 * (schema_version set: a newer format), PAIRTOK_ENOMEM. */
PT_HIDDEN pairtok_status doc_parse(fsafe_text *text, const char *path, sdoc **out,
                                   pairtok_error *err);
PT_HIDDEN void doc_free(sdoc *doc);

/* Write the canonical text: the rest, then one [[pair_token]] per record
 * (fields in the seed's order, then the record's unknown keys).  -1 as soon
 * as `sink` fails or memory runs out. */
PT_HIDDEN int doc_write(const sdoc *doc, toml_sink_fn sink, void *ctx);

static inline size_t doc_count(const sdoc *doc)
{
    return doc->count;
}

static inline srec *doc_at(const sdoc *doc, size_t i)
{
    return &doc->recs[i];
}

/* The record's hash as 64 lowercase hex digits. */
PT_HIDDEN void rec_hash_hex(const srec *rec, char out[PAIRTOK_HASH_LEN + 1]);
/* True if the record may be redeemed at `now`: unexpired, lifetime within
 * the cap, not reserved, principal not `anonymous`. */
PT_HIDDEN bool rec_redeemable(const srec *rec, uint64_t now);

/* Copy a record into `out` (label duplicated). */
PT_HIDDEN pairtok_status rec_export(const srec *rec, pairtok_record *out, pairtok_error *err);

/* Append a record (fields already validated). */
PT_HIDDEN pairtok_status doc_append(sdoc *doc, const pairtok_record *rec, pairtok_error *err);

/* Overwrite the known fields of `rec` with `with`, which has the same hash
 * (it was found by it), keeping its unknown keys; *changed tells whether
 * anything differed (else nothing is done). */
PT_HIDDEN pairtok_status rec_update(sdoc *doc, srec *rec, const pairtok_record *with, bool *changed,
                                    pairtok_error *err);

/* Remove, keeping order, every record for which `drop` is true; returns how
 * many were removed. */
typedef bool (*doc_pred)(const srec *rec, const void *ctx);
PT_HIDDEN size_t doc_remove_where(sdoc *doc, doc_pred drop, const void *ctx);

/* Predicates for doc_remove_where: the principal is the string at ctx;
 * expired at *(const uint64_t *)ctx; marked REC_GONE (ctx unused). */
PT_HIDDEN bool rec_has_principal(const srec *rec, const void *principal);
PT_HIDDEN bool rec_is_expired(const srec *rec, const void *now);
PT_HIDDEN bool rec_is_gone(const srec *rec, const void *unused);

#endif /* PAIRTOK_DOC_H */
