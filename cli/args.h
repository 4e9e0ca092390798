/* SPDX-License-Identifier: ISC */
/*
 * args.h - argument parsing for pairtok commands.
 *
 * Hand-rolled rather than getopt_long because of one rule getopt cannot
 * express: a pair token may begin with '-', so an argument that is exactly
 * a token's shape (32 characters of [A-Za-z0-9_-]) is always an operand.
 * Options may follow operands (`pairtok issue alice --ttl 60`), `--` ends
 * options, and the global --store/--home are accepted after the command too.
 */
#ifndef PAIRTOK_CLI_ARGS_H
#define PAIRTOK_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

/* One long option of a command; a table ends with a zeroed entry. */
typedef struct cli_option {
    const char *name;   /* without the leading "--" */
    const char **value; /* receives the option's argument; NULL for a flag */
    bool *flag;         /* set to true when a flag is given */
} cli_option;

#define CLI_MAX_OPERANDS 4

typedef struct cli_operands {
    char *items[CLI_MAX_OPERANDS];
    size_t count;
} cli_operands;

/*
 * Parse argv[1..argc-1] of the command ctx->command against `options` plus
 * the global ones (--store, --home, --help/-h, --version).  At most
 * `max_operands` operands are accepted.
 *
 * Returns true when the command should run.  Returns false when it is
 * already finished - help or version printed, or a usage error reported -
 * with the exit status in *status.
 */
bool cli_parse_args(cli_ctx *ctx, int argc, char **argv, const cli_option *options,
                    size_t max_operands, cli_operands *out, int *status);

/* True if `arg` has exactly the shape of a pair token. */
bool cli_is_token_shaped(const char *arg);

/* True if `principal` matches [A-Za-z0-9_-]{1,64}, the reserved name
 * `anonymous` included: a filter (list, revoke) may name it, only issue
 * may not. */
bool cli_principal_is_well_formed(const char *principal);

/* True if `arg` holds a long run of token characters - probably a token,
 * maybe mistyped or glued to an option name - which an error message must
 * not echo. */
bool cli_might_be_token(const char *arg);

/* Report the unknown option `arg` (unless it may be a token, without
 * echoing it); returns CLI_EXIT_USAGE. */
int cli_unknown_option(const cli_ctx *ctx, const char *arg);

#endif /* PAIRTOK_CLI_ARGS_H */
