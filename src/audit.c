/* SPDX-License-Identifier: ISC */
/*
 * audit.c - the audit events of pairtok_options.on_event, built the same
 * way for every backend.  Called by store.c only after the change an event
 * reports is committed; never with a raw token.
 */
#include <string.h>

#include "store.h"

void audit_emit(const pairtok_store *s, pairtok_event_kind kind, uint64_t now,
                const pairtok_record *rec, size_t count)
{
    if (s->opts.on_event == NULL) {
        return;
    }
    char id[PAIRTOK_ID_DISPLAY_LEN + 1] = "";
    pairtok_event event = {kind, now == BACKEND_NOW ? pairtok_now_epoch() : now, NULL, NULL, NULL,
                           count};
    if (rec != NULL) {
        memcpy(id, rec->token_hash, PAIRTOK_ID_DISPLAY_LEN);
        event.id = id;
        event.principal = rec->principal;
        event.label = rec->label;
    }
    s->opts.on_event(&event, s->opts.event_ctx);
}
