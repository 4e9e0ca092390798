/* SPDX-License-Identifier: ISC */
/*
 * resolve.c - which store file a command works on.
 *
 * Precedence: --store FILE, then --home DIR (DIR/etc/pair-tokens.toml),
 * then $ASTRID_HOME, then $HOME/.astrid - the last two through the
 * library so the tool and the runtime always agree.
 */
#include <string.h>

#include "cli.h"

int cli_resolve_path(cli_ctx *ctx)
{
    pairtok_error err;
    pairtok_status st;
    if (ctx->store_opt != NULL) {
        size_t len = strlen(ctx->store_opt);
        if (len == 0 || len >= sizeof ctx->path) {
            cli_warn(ctx, "--store: %s", len == 0 ? "empty path" : "path too long");
            return CLI_EXIT_USAGE;
        }
        memcpy(ctx->path, ctx->store_opt, len + 1);
        return CLI_EXIT_OK;
    }
    if (ctx->home_opt != NULL) {
        st = pairtok_path_for(ctx->home_opt, ctx->path, sizeof ctx->path, &err);
    } else {
        st = pairtok_default_path(ctx->path, sizeof ctx->path, &err);
    }
    return st == PAIRTOK_OK ? CLI_EXIT_OK : cli_fail(ctx, &err);
}

int cli_open_store(cli_ctx *ctx, pairtok_store **out)
{
    pairtok_error err;
    int status = cli_resolve_path(ctx);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    if (pairtok_store_open(ctx->path, NULL, out, &err) != PAIRTOK_OK) {
        return cli_fail(ctx, &err);
    }
    return CLI_EXIT_OK;
}
