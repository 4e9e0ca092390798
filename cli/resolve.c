/* SPDX-License-Identifier: ISC */
/*
 * resolve.c - which store a command works on, and opening it.
 *
 * Precedence: --store FILE|URI, then --home DIR (DIR/etc/pair-tokens.toml),
 * then $PAIRTOK_STORE (a path or a postgresql:// URI), then $ASTRID_HOME,
 * then $HOME/.astrid - the last two through the library so the tool and
 * the runtime always agree.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

static int take_location(cli_ctx *ctx, const char *what, const char *location)
{
    size_t len = strlen(location);
    if (len == 0 || len >= sizeof ctx->path) {
        cli_warn(ctx, "%s: %s", what, len == 0 ? "empty" : "too long");
        return CLI_EXIT_USAGE;
    }
    memcpy(ctx->path, location, len + 1);
    return CLI_EXIT_OK;
}

int cli_resolve_path(cli_ctx *ctx)
{
    pairtok_error err;
    pairtok_status st;
    if (ctx->store_opt != NULL) {
        return take_location(ctx, "--store", ctx->store_opt);
    }
    const char *env = getenv("PAIRTOK_STORE");
    if (ctx->home_opt != NULL) {
        st = pairtok_path_for(ctx->home_opt, ctx->path, sizeof ctx->path, &err);
    } else if (env != NULL && env[0] != '\0') {
        return take_location(ctx, "PAIRTOK_STORE", env);
    } else {
        st = pairtok_default_path(ctx->path, sizeof ctx->path, &err);
    }
    return st == PAIRTOK_OK ? CLI_EXIT_OK : cli_fail(ctx, &err);
}

/* The commands whose changes are audited. */
static bool changes_store(const char *command)
{
    static const char *const writers[] = {"issue", "redeem", "revoke", "prune"};
    for (size_t i = 0; command != NULL && i < sizeof writers / sizeof writers[0]; i++) {
        if (strcmp(command, writers[i]) == 0) {
            return true;
        }
    }
    return false;
}

int cli_open_store(cli_ctx *ctx, pairtok_store **out)
{
    pairtok_error err;
    int status = cli_resolve_path(ctx);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    pairtok_options opts = {0};
    if (changes_store(ctx->command)) {
        /* Once the store has changed, a reader that went away must get an
         * answer (exit 3, "could not be written"), not a signal death. */
        signal(SIGPIPE, SIG_IGN);
        if ((status = cli_audit_start(ctx, &ctx->audit)) != CLI_EXIT_OK) {
            return status;
        }
        ctx->audit.started = true;
        opts.on_event = cli_audit_event;
        opts.event_ctx = &ctx->audit;
    }
    if (pairtok_store_open(ctx->path, &opts, out, &err) != PAIRTOK_OK) {
        return cli_fail(ctx, &err);
    }
    return CLI_EXIT_OK;
}
