/* SPDX-License-Identifier: ISC */
/*
 * args.c - argument parsing for pairtok commands (see args.h).
 */
#include "args.h"

#include <string.h>

#include "help.h"

#define TOKEN_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

bool cli_is_token_shaped(const char *arg)
{
    size_t len = strnlen(arg, PAIRTOK_TOKEN_LEN + 1);
    return len == PAIRTOK_TOKEN_LEN && pairtok_token_is_well_formed(arg, len);
}

bool cli_principal_is_well_formed(const char *principal)
{
    /* The library's "valid" is well-formed and not reserved. */
    return pairtok_principal_is_valid(principal) || strcmp(principal, "anonymous") == 0;
}

bool cli_might_be_token(const char *arg)
{
    /* Any run of token characters long enough to be a good part of one:
     * `--token=<token>`, `<token>.` and a mistyped token all qualify. */
    for (const char *p = arg; *p != '\0'; p += strcspn(p, TOKEN_ALPHABET)) {
        size_t run = strspn(p, TOKEN_ALPHABET);
        if (run >= PAIRTOK_TOKEN_LEN / 2) {
            return true;
        }
        p += run;
    }
    return false;
}

static bool is_operand(const char *arg)
{
    return arg[0] != '-' || strcmp(arg, "-") == 0 || cli_is_token_shaped(arg);
}

static const cli_option *find_in(const cli_option *table, const char *name, size_t len)
{
    for (const cli_option *o = table; o->name != NULL; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
            return o;
        }
    }
    return NULL;
}

/* The command's own option named by the first `len` bytes of `name`, else
 * a global one, else NULL. */
static const cli_option *find_option(const cli_option *options, const cli_option *globals,
                                     const char *name, size_t len)
{
    const cli_option *o = find_in(options, name, len);
    return o != NULL ? o : find_in(globals, name, len);
}

int cli_unknown_option(const cli_ctx *ctx, const char *arg)
{
    if (cli_might_be_token(arg)) {
        return cli_usage_error(ctx, "unrecognised argument beginning with '-' (a pair token is "
                                    "exactly 32 characters of [A-Za-z0-9_-])");
    }
    return cli_usage_error(ctx, "unknown option '%s'", arg);
}

static bool report_unknown(const cli_ctx *ctx, const char *arg, int *status)
{
    *status = cli_unknown_option(ctx, arg);
    return false;
}

/* Handle the long option argv[*i]; may consume argv[*i + 1] as its value. */
static bool parse_long(cli_ctx *ctx, int argc, char **argv, int *i, const cli_option *options,
                       int *status)
{
    const cli_option globals[] = {
        {"store", &ctx->store_opt, NULL},
        {"home", &ctx->home_opt, NULL},
        {"audit-log", &ctx->audit_log_opt, NULL},
        {"no-syslog", NULL, &ctx->no_syslog},
        {NULL, NULL, NULL},
    };
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const cli_option *o = find_option(options, globals, name, len);
    if (o == NULL) {
        return report_unknown(ctx, arg, status);
    }
    if (o->value == NULL) {
        if (eq != NULL) {
            *status = cli_usage_error(ctx, "option '--%s' takes no argument", o->name);
            return false;
        }
        *o->flag = true;
        return true;
    }
    if (eq != NULL) {
        *o->value = eq + 1;
    } else if (*i + 1 < argc) {
        *o->value = argv[++*i];
    } else {
        *status = cli_usage_error(ctx, "option '--%s' needs an argument", o->name);
        return false;
    }
    return true;
}

static bool add_operand(const cli_ctx *ctx, char *arg, size_t max_operands, cli_operands *out,
                        int *status)
{
    if (out->count >= max_operands || out->count >= CLI_MAX_OPERANDS) {
        /* Not echoed: the extra argument may be a token. */
        *status = cli_usage_error(ctx, "too many arguments");
        return false;
    }
    out->items[out->count++] = arg;
    return true;
}

bool cli_parse_args(cli_ctx *ctx, int argc, char **argv, const cli_option *options,
                    size_t max_operands, cli_operands *out, int *status)
{
    bool options_done = false;
    out->count = 0;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (options_done || is_operand(arg)) {
            if (!add_operand(ctx, arg, max_operands, out, status)) {
                return false;
            }
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_print_help(stdout, ctx->command);
            *status = cli_finish_stdout(ctx, CLI_EXIT_OK);
            return false;
        } else if (strcmp(arg, "--version") == 0) {
            cli_print_version();
            *status = cli_finish_stdout(ctx, CLI_EXIT_OK);
            return false;
        } else if (arg[1] != '-') {
            return report_unknown(ctx, arg, status);
        } else if (!parse_long(ctx, argc, argv, &i, options, status)) {
            return false;
        }
    }
    return true;
}
