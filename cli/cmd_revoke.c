/* SPDX-License-Identifier: ISC */
/*
 * cmd_revoke.c - `pairtok revoke ID | --principal P`: delete tokens before
 * they expire.
 *
 * An id that matches nothing, or more than one token, is reported as an
 * invalid argument (exit status 2): the caller named something that does
 * not identify one token.  A principal without tokens is not an error -
 * "none of alice's tokens remain" is already true.
 */
#include <stdio.h>

#include "args.h"
#include "cli.h"

static int revoke(const cli_ctx *ctx, pairtok_store *store, const char *id, const char *principal)
{
    size_t removed = 0;
    pairtok_error err;
    pairtok_status st = principal != NULL
                            ? pairtok_revoke_principal(store, principal, &removed, &err)
                            : pairtok_revoke_id(store, id, &removed, &err);
    if (st != PAIRTOK_OK) {
        return cli_fail(ctx, &err);
    }
    printf("revoked %zu token%s\n", removed, removed == 1 ? "" : "s");
    return cli_finish_stdout(ctx, CLI_EXIT_OK);
}

int cmd_revoke(cli_ctx *ctx, int argc, char **argv)
{
    const char *principal = NULL;
    const cli_option options[] = {
        {"principal", &principal, NULL},
        {NULL, NULL, NULL},
    };
    cli_operands ops;
    int status;
    if (!cli_parse_args(ctx, argc, argv, options, 1, &ops, &status)) {
        return status;
    }
    if ((ops.count == 1) == (principal != NULL)) {
        return cli_usage_error(ctx, "give either an ID or --principal P");
    }
    /* As for list: any well-formed principal, `anonymous` included. */
    if (principal != NULL && !cli_principal_is_well_formed(principal)) {
        return cli_usage_error(ctx, "--principal: not a valid principal ([A-Za-z0-9_-]{1,64})");
    }
    pairtok_store *store;
    status = cli_open_store(ctx, &store);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    status = revoke(ctx, store, ops.count == 1 ? ops.items[0] : NULL, principal);
    pairtok_store_close(store);
    return status;
}
