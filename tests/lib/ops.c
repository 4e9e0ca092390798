/* SPDX-License-Identifier: ISC */
/* ops.c - the store operations the fault and allocation suites run on
 * tu_base_store(); see testutil.h. */
#include "testutil.h"
#include "internal.h"

#include <string.h>

pairtok_status tu_op_issue(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    pairtok_record rec;
    pairtok_record *out = c->want_record ? &rec : NULL;
    c->token[0] = '?'; /* a failed issue must empty it */
    pairtok_status st = pairtok_issue_at(s, "alice", "new phone", 300, c->token, out, TU_T0, err);
    if (st == PAIRTOK_OK) {
        if (out != NULL && (rec.label == NULL || strcmp(rec.label, "new phone") != 0)) {
            tu_fail("issue: record_out label");
        }
    } else if (c->token[0] != '\0' || (out != NULL && rec.label != NULL)) {
        tu_fail("failed issue left output");
    }
    if (out != NULL) {
        pairtok_record_clear(&rec);
    }
    return st;
}

pairtok_status tu_op_redeem(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    pairtok_record rec;
    pairtok_record *out = c->want_record ? &rec : NULL;
    pairtok_status st = pairtok_redeem_at(s, tu_tokens[0], NULL, NULL, out, TU_T0, err);
    if (out != NULL) {
        if (st == PAIRTOK_OK && (rec.label == NULL || strcmp(rec.principal, "alice") != 0)) {
            tu_fail("redeem: record_out");
        }
        pairtok_record_clear(&rec);
    }
    return st;
}

pairtok_status tu_op_redeem_bind(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    c->bind.result = 0;
    return pairtok_redeem_at(s, tu_tokens[0], tu_bind, &c->bind, NULL, TU_T0, err);
}

pairtok_status tu_op_redeem_abort(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    c->bind.result = c->refusal;
    return pairtok_redeem_at(s, tu_tokens[0], tu_bind, &c->bind, NULL, TU_T0, err);
}

pairtok_status tu_op_revoke_id(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    char id[PAIRTOK_ID_DISPLAY_LEN + 1];
    memcpy(id, tu_hash_of(1), PAIRTOK_ID_DISPLAY_LEN);
    id[PAIRTOK_ID_DISPLAY_LEN] = '\0';
    size_t removed = 0;
    pairtok_status st = pairtok_revoke_id(s, id, &removed, err);
    if (st == PAIRTOK_OK && removed != 1) {
        tu_fail("revoke_id removed %zu", removed);
    }
    return st;
}

pairtok_status tu_op_revoke_principal(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    size_t removed = 0;
    return pairtok_revoke_principal(s, c->revokee, &removed, err);
}

pairtok_status tu_op_prune(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t removed = 0;
    return pairtok_prune_at(s, &removed, TU_T0, err);
}

pairtok_status tu_op_save(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    char label[] = "bob's tablet";
    pairtok_record items[2] = {
        {.expires_at_epoch = TU_T0 + 3000, .issued_at_epoch = TU_T0 - 100, .label = label},
        {.expires_at_epoch = TU_T0 + 60, .issued_at_epoch = TU_T0},
    };
    strcpy(items[0].token_hash, tu_hash_of(1));
    strcpy(items[0].principal, "bob");
    strcpy(items[1].token_hash, tu_hash_of(3));
    strcpy(items[1].principal, "dave");
    pairtok_record_list list = {items, 2, 2, NULL};
    pairtok_status st = pairtok_store_save(s, &list, err);
    list_origin_free(list.origin); /* the items are on the stack */
    return st;
}

/* A listing of `want` records on success, of none on failure. */
static void check_count(const char *what, pairtok_status st, pairtok_record_list *list, size_t want)
{
    size_t count = list->count;
    pairtok_record_list_free(list);
    if (st == PAIRTOK_OK && count != want) {
        tu_fail("%s: %zu records", what, count);
    }
    if (st != PAIRTOK_OK && count != 0) {
        tu_fail("failed %s left %zu records", what, count);
    }
}

pairtok_status tu_op_load(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_store_load(s, &list, err);
    check_count("load", st, &list, 3);
    return st;
}

pairtok_status tu_op_list(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_list_at(s, NULL, &list, TU_T0, err);
    check_count("list", st, &list, 2);
    return st;
}

pairtok_status tu_op_check(pairtok_store *s, tu_op_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t problems;
    pairtok_status st = pairtok_check_at(s, NULL, NULL, &problems, TU_T0, err);
    if (st == PAIRTOK_OK && problems != 0) {
        tu_fail("check: %zu problems", problems);
    }
    return st;
}

bool tu_op_succeeded(pairtok_status st, pairtok_status ok, const pairtok_error *err)
{
    return st == ok && (st != PAIRTOK_EABORTED || strstr(err->message, "still redeemable") != NULL);
}

pairtok_status tu_op_failed_status(pairtok_status ok, const tu_op_ctx *c, pairtok_status fault)
{
    return ok == PAIRTOK_EABORTED && c->bind.calls > 0 ? PAIRTOK_EABORTED : fault;
}
