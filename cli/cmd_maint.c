/* SPDX-License-Identifier: ISC */
/*
 * cmd_maint.c - the upkeep commands: `pairtok prune`, `pairtok path`,
 * `pairtok check` and `pairtok init`.
 */
#include <stdio.h>

#include "args.h"
#include "cli.h"

static const cli_option no_options[] = {{NULL, NULL, NULL}};

/* Parse a command that takes no arguments and open its store. */
static bool start(cli_ctx *ctx, int argc, char **argv, pairtok_store **store, int *status)
{
    cli_operands ops;
    if (!cli_parse_args(ctx, argc, argv, no_options, 0, &ops, status)) {
        return false;
    }
    *status = cli_open_store(ctx, store);
    return *status == CLI_EXIT_OK;
}

int cmd_prune(cli_ctx *ctx, int argc, char **argv)
{
    pairtok_store *store;
    int status;
    if (!start(ctx, argc, argv, &store, &status)) {
        return status;
    }
    size_t removed = 0;
    pairtok_error err;
    if (pairtok_prune(store, &removed, &err) != PAIRTOK_OK) {
        status = cli_fail(ctx, &err);
    } else {
        printf("pruned %zu expired token%s\n", removed, removed == 1 ? "" : "s");
        status = cli_finish_stdout(ctx, CLI_EXIT_OK);
    }
    pairtok_store_close(store);
    return status;
}

/* The store's location as the library shows it: a path, or a URI with its
 * password masked.  Opening a handle reads and connects to nothing. */
int cmd_path(cli_ctx *ctx, int argc, char **argv)
{
    pairtok_store *store;
    int status;
    if (!start(ctx, argc, argv, &store, &status)) {
        return status;
    }
    puts(pairtok_store_path(store));
    pairtok_store_close(store);
    return cli_finish_stdout(ctx, CLI_EXIT_OK);
}

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    pairtok_store *store;
    int status;
    if (!start(ctx, argc, argv, &store, &status)) {
        return status;
    }
    pairtok_error err;
    if (pairtok_store_init(store, &err) != PAIRTOK_OK) {
        status = cli_fail(ctx, &err);
    } else {
        printf("initialised %s\n", pairtok_store_path(store));
        status = cli_finish_stdout(ctx, CLI_EXIT_OK);
    }
    pairtok_store_close(store);
    return status;
}

static void report_problem(const pairtok_error *problem, void *ctx)
{
    cli_warn(ctx, "%s", problem->message);
}

int cmd_check(cli_ctx *ctx, int argc, char **argv)
{
    pairtok_store *store;
    int status;
    if (!start(ctx, argc, argv, &store, &status)) {
        return status;
    }
    size_t problems = 0;
    pairtok_error err;
    if (pairtok_check(store, report_problem, ctx, &problems, &err) != PAIRTOK_OK) {
        /* The check itself could not run: that is a store problem too. */
        cli_warn(ctx, "%s", err.message);
        status = CLI_EXIT_STORE;
    } else if (problems == 0) {
        puts("ok");
        status = cli_finish_stdout(ctx, CLI_EXIT_OK);
    } else {
        printf("%zu problem%s found\n", problems, problems == 1 ? "" : "s");
        status = cli_finish_stdout(ctx, CLI_EXIT_STORE);
    }
    pairtok_store_close(store);
    return status;
}
