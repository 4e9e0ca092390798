/* SPDX-License-Identifier: ISC */
/*
 * cmd_issue.c - `pairtok issue PRINCIPAL [--label TEXT] [--ttl DURATION]
 * [--json] [--qr]`: mint a token and show it, once.
 *
 * Standard output carries the token (or the JSON object) and nothing else,
 * so `T=$(pairtok issue alice --qr)` captures exactly the token; everything
 * meant for eyes - the QR code, the context line - goes to standard error.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "args.h"
#include "cli.h"
#include "duration.h"
#include "json_out.h"
#include "qr.h"
#include "timefmt.h"

typedef struct issue_request {
    const char *principal;
    const char *label;
    uint32_t ttl;
    bool json;
    bool qr;
} issue_request;

static void print_context(const pairtok_record *rec)
{
    char expires[CLI_TIME_MAX], left[CLI_TIME_MAX];
    cli_format_utc(rec->expires_at_epoch, expires);
    cli_format_duration(rec->expires_at_epoch - rec->issued_at_epoch, left);
    fprintf(stderr, "pairtok: single-use pair token for %s (id %.*s), expires %s (in %s)\n",
            rec->principal, PAIRTOK_ID_DISPLAY_LEN, rec->token_hash, expires, left);
}

static int write_token(const char *token, const pairtok_record *rec, bool json)
{
    if (json) {
        json_t *obj = cli_json_record(rec, token, CLI_JSON_ISSUE);
        if (obj == NULL) {
            errno = ENOMEM;
            return -1;
        }
        int rc = cli_json_write(STDOUT_FILENO, obj);
        json_decref(obj);
        return rc;
    }
    char line[PAIRTOK_TOKEN_LEN + 2];
    memcpy(line, token, PAIRTOK_TOKEN_LEN);
    line[PAIRTOK_TOKEN_LEN] = '\n';
    int rc = cli_write_all(STDOUT_FILENO, line, sizeof line - 1);
    int saved = errno;
    sodium_memzero(line, sizeof line);
    errno = saved;
    return rc;
}

/* QR and context first, token last: on a terminal the token ends up right
 * above the prompt. */
static int show(const cli_ctx *ctx, const issue_request *req, const char *token,
                const pairtok_record *rec)
{
    bool tty = isatty(STDERR_FILENO) == 1;
    if (req->qr && cli_qr_draw(STDERR_FILENO, token, tty) != 0) {
        cli_warn(ctx, "cannot draw the QR code: %s", strerror(errno));
        return CLI_EXIT_STORE;
    }
    if (tty && !req->json) {
        print_context(rec);
    }
    if (write_token(token, rec, req->json) != 0) {
        cli_warn(ctx, "cannot write the token: %s", strerror(errno));
        return CLI_EXIT_STORE;
    }
    return CLI_EXIT_OK;
}

/* A token nobody saw must not stay redeemable. */
static void withdraw(const cli_ctx *ctx, pairtok_store *store, const pairtok_record *rec)
{
    size_t removed = 0;
    pairtok_error err;
    if (pairtok_revoke_id(store, rec->token_hash, &removed, &err) == PAIRTOK_OK) {
        cli_warn(ctx, "the token was not shown, so it was revoked");
    } else {
        cli_warn(ctx, "the token was not shown and could not be revoked (id %.*s): %s",
                 PAIRTOK_ID_DISPLAY_LEN, rec->token_hash, err.message);
    }
}

static int issue(const cli_ctx *ctx, pairtok_store *store, const issue_request *req)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_record rec = {0};
    pairtok_error err;
    if (pairtok_issue(store, req->principal, req->label, req->ttl, token, &rec, &err) !=
        PAIRTOK_OK) {
        return cli_fail(ctx, &err);
    }
    int status = show(ctx, req, token, &rec);
    sodium_memzero(token, sizeof token);
    if (status != CLI_EXIT_OK) {
        withdraw(ctx, store, &rec);
    }
    pairtok_record_clear(&rec);
    return status;
}

int cmd_issue(cli_ctx *ctx, int argc, char **argv)
{
    issue_request req = {.ttl = PAIRTOK_DEFAULT_EXPIRY_SECS};
    const char *ttl_text = NULL;
    const cli_option options[] = {
        {"label", &req.label, NULL}, {"ttl", &ttl_text, NULL}, {"json", NULL, &req.json},
        {"qr", NULL, &req.qr},       {NULL, NULL, NULL},
    };
    cli_operands ops;
    int status;
    if (!cli_parse_args(ctx, argc, argv, options, 1, &ops, &status)) {
        return status;
    }
    if (ops.count != 1) {
        return cli_usage_error(ctx, "missing PRINCIPAL");
    }
    req.principal = ops.items[0];
    cli_duration_result ttl =
        ttl_text != NULL ? cli_duration_parse(ttl_text, &req.ttl) : CLI_DURATION_OK;
    if (ttl != CLI_DURATION_OK) {
        return cli_usage_error(ctx, "--ttl: '%s' %s; %s",
                               cli_might_be_token(ttl_text) ? "(not shown)" : ttl_text,
                               cli_duration_strerror(ttl), CLI_DURATION_FORMS);
    }
    /* A closed pipe must fail the write, not kill us before withdraw(). */
    signal(SIGPIPE, SIG_IGN);
    pairtok_store *store;
    status = cli_open_store(ctx, &store);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    status = issue(ctx, store, &req);
    pairtok_store_close(store);
    return status;
}
