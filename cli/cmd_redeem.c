/* SPDX-License-Identifier: ISC */
/*
 * cmd_redeem.c - `pairtok redeem [TOKEN | -] [--json]`: use up a token once
 * and print the principal it was issued for.
 *
 * The token never appears in any message.  Every refusal - unknown,
 * expired, used - is the library's one message and exit status 1, so the
 * output cannot tell an attacker which it was.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "args.h"
#include "cli.h"
#include "json_out.h"
#include "noecho.h"
#include "token_input.h"

/* Prompt for the token at the terminal on stdin and read it with echo off,
 * so that it does not stay on the screen.  Returns an exit status. */
static int read_at_terminal(const cli_ctx *ctx, char token[PAIRTOK_TOKEN_LEN + 1],
                            cli_token_result *result)
{
    cli_noecho noecho;
    /* Echo off before the prompt shows: nothing typed after it echoes. */
    if (cli_noecho_begin(STDIN_FILENO, &noecho) != 0) {
        cli_warn(ctx,
                 "cannot turn off echo on the terminal: %s (give the token on stdin "
                 "through a pipe instead)",
                 strerror(errno));
        return CLI_EXIT_STORE;
    }
    fputs("pair token: ", stderr);
    *result = cli_token_read(STDIN_FILENO, token);
    int saved = errno;
    int restored = cli_noecho_end(&noecho);
    fputc('\n', stderr); /* the Enter was not echoed */
    if (restored != 0) {
        cli_warn(ctx, "cannot turn echo back on: %s (try 'stty echo')", strerror(errno));
    }
    errno = saved;
    return CLI_EXIT_OK;
}

/* Take the token from `arg`, or from stdin when `arg` is NULL or "-". */
static int take_token(const cli_ctx *ctx, char *arg, char token[PAIRTOK_TOKEN_LEN + 1])
{
    cli_token_result result;
    if (arg == NULL || strcmp(arg, "-") == 0) {
        if (isatty(STDIN_FILENO) != 1) {
            result = cli_token_read(STDIN_FILENO, token);
        } else if (read_at_terminal(ctx, token, &result) != CLI_EXIT_OK) {
            return CLI_EXIT_STORE;
        }
    } else {
        size_t len = strlen(arg);
        result = cli_token_from(arg, len, token);
        /* Shortens the time the token shows in /proc/<pid>/cmdline. */
        sodium_memzero(arg, len);
    }
    if (result == CLI_TOKEN_IO) {
        cli_warn(ctx, "%s: %s", cli_token_strerror(result), strerror(errno));
        return CLI_EXIT_STORE;
    }
    if (result != CLI_TOKEN_OK) {
        cli_warn(ctx, "%s", cli_token_strerror(result));
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int write_record(const pairtok_record *rec, bool json)
{
    if (!json) {
        /* A principal is [A-Za-z0-9_-]{1,64}: nothing to escape. */
        char line[PAIRTOK_PRINCIPAL_MAX + 2];
        int len = snprintf(line, sizeof line, "%s\n", rec->principal);
        return cli_write_all(STDOUT_FILENO, line, (size_t)len);
    }
    json_t *obj = cli_json_record(rec, NULL, CLI_JSON_REDEEM);
    if (obj == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int rc = cli_json_write(STDOUT_FILENO, obj);
    int saved = errno;
    json_decref(obj);
    errno = saved;
    return rc;
}

/* The token is used up by now, whatever happens to the output: a script
 * must learn that from the exit status and the message. */
static int print_record(const cli_ctx *ctx, const pairtok_record *rec, bool json)
{
    if (write_record(rec, json) != 0 || cli_close_stdout() != 0) {
        cli_warn(ctx, "the token was used, but the result could not be written: %s",
                 strerror(errno));
        return CLI_EXIT_STORE;
    }
    return CLI_EXIT_OK;
}

static int redeem(cli_ctx *ctx, const char *token, bool json)
{
    pairtok_store *store;
    pairtok_record rec = {0};
    pairtok_error err;
    int status = cli_open_store(ctx, &store);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    if (pairtok_redeem(store, token, NULL, NULL, &rec, &err) == PAIRTOK_OK) {
        status = print_record(ctx, &rec, json);
    } else {
        status = cli_fail(ctx, &err);
    }
    pairtok_record_clear(&rec);
    pairtok_store_close(store);
    return status;
}

int cmd_redeem(cli_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const cli_option options[] = {
        {"json", NULL, &json},
        {NULL, NULL, NULL},
    };
    cli_operands ops;
    int status;
    char token[PAIRTOK_TOKEN_LEN + 1];
    /* A reader that went away must fail the write of the result, so that
     * redeem can say the token was used, not kill us after using it. */
    signal(SIGPIPE, SIG_IGN);
    if (!cli_parse_args(ctx, argc, argv, options, 1, &ops, &status)) {
        return status;
    }
    status = take_token(ctx, ops.count == 1 ? ops.items[0] : NULL, token);
    if (status == CLI_EXIT_OK) {
        status = redeem(ctx, token, json);
    }
    sodium_memzero(token, sizeof token);
    return status;
}
