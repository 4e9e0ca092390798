/* SPDX-License-Identifier: ISC */
/* store.h - the store handle (internal to libpairtok). */
#ifndef PAIRTOK_STORE_H
#define PAIRTOK_STORE_H

#include "backend.h"
#include "internal.h"

struct pairtok_store {
    backend *backend;
    pairtok_options opts;
};

static inline backend *pt_store_backend(pairtok_store *store)
{
    return store->backend;
}

/* One run of an operation between begin and end, with the time and
 * whether the store exists from begin; BACKEND_RETRY asks to be run
 * again. */
typedef pairtok_status (*txn_body)(pairtok_store *s, uint64_t now, bool exists, void *ctx,
                                   pairtok_error *err);

/* begin, body, end; again (a few times, after a random pause) while the
 * body returns BACKEND_RETRY.  `now` may be BACKEND_NOW. */
PT_HIDDEN pairtok_status store_run_txn(pairtok_store *s, backend_mode mode,
                                       const char *lock_principal, uint64_t now, txn_body body,
                                       void *ctx, pairtok_error *err);

/* audit.c: report `kind` to the caller's on_event, if any, after the change
 * is committed.  `rec` is the record concerned or NULL; `now` may be
 * BACKEND_NOW (then the local clock dates the event). */
PT_HIDDEN void audit_emit(const pairtok_store *s, pairtok_event_kind kind, uint64_t now,
                          const pairtok_record *rec, size_t count);

/* save.c: remember the list's hashes as its origin (what it was filled
 * with), for a later pairtok_store_save(). */
PT_HIDDEN pairtok_status list_origin_set(pairtok_record_list *list, pairtok_error *err);

#endif /* PAIRTOK_STORE_H */
