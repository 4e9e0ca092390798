/*
 * doc.h - the store file's document: validation and record access
 * (internal to libpairtok).
 *
 * Records are the tables of the root array `pair_token`.  doc_validate()
 * checks every record once; the accessors assume a validated document.
 */
#ifndef PAIRTOK_DOC_H
#define PAIRTOK_DOC_H

#include "internal.h"
#include "toml.h"

/* Check the whole document: no `schema_version` (PAIRTOK_ESCHEMA), and
 * `pair_token`, if present, an array of valid record tables (PAIRTOK_EPARSE
 * with `path:line:col: pair_token[i].field: problem`). */
PAIRTOK_HIDDEN pairtok_status doc_validate(const toml_doc *doc, const char *path,
                                           pairtok_error *err);

/* The records array, or NULL when the document has none.  With `create`,
 * adds an empty one (NULL only on allocation failure). */
PAIRTOK_HIDDEN toml_node *doc_records(toml_doc *doc, bool create);
PAIRTOK_HIDDEN size_t doc_count(const toml_node *records);

/* Field access on a validated record table. */
PAIRTOK_HIDDEN const char *rec_hash(const toml_node *rec);
PAIRTOK_HIDDEN const char *rec_principal(const toml_node *rec, size_t *len);
PAIRTOK_HIDDEN uint64_t rec_expires(const toml_node *rec);
PAIRTOK_HIDDEN uint64_t rec_issued(const toml_node *rec);
PAIRTOK_HIDDEN bool rec_reserved(const toml_node *rec);
/* The label and its length, or NULL when the record has none. */
PAIRTOK_HIDDEN const char *rec_label(const toml_node *rec, size_t *len);
/* True if the record may be redeemed at `now`: unexpired, lifetime within
 * the cap, not reserved, principal not `anonymous`. */
PAIRTOK_HIDDEN bool rec_redeemable(const toml_node *rec, uint64_t now);

/* Copy a record into `out` (label duplicated). */
PAIRTOK_HIDDEN pairtok_status rec_export(const toml_node *rec, pairtok_record *out,
                                         pairtok_error *err);

/* Append a new record table with the five fields, in the seed's order. */
PAIRTOK_HIDDEN pairtok_status doc_append(toml_doc *doc, const pairtok_record *rec,
                                         pairtok_error *err);

/* Overwrite the five known fields of `table` with `rec`, keeping its other
 * keys; *changed tells whether anything differed (else nothing is done). */
PAIRTOK_HIDDEN pairtok_status rec_update(toml_doc *doc, toml_node *table, const pairtok_record *rec,
                                         bool *changed, pairtok_error *err);

/* Remove, keeping order, every record for which `drop` is true; returns how
 * many were removed. */
typedef bool (*doc_pred)(const toml_node *rec, const void *ctx);
PAIRTOK_HIDDEN size_t doc_remove_where(toml_node *records, doc_pred drop, const void *ctx);

/* Remove, keeping order, record i for every i with gone[i] != 0 (gone has
 * one byte per record); returns how many were removed. */
PAIRTOK_HIDDEN size_t doc_remove_marked(toml_node *records, const unsigned char *gone);

/* Predicate for doc_remove_where: expired at *(const uint64_t *)ctx. */
PAIRTOK_HIDDEN bool rec_is_expired(const toml_node *rec, const void *now);

#endif /* PAIRTOK_DOC_H */
