/* SPDX-License-Identifier: ISC */
/*
 * report.c - error messages and exit statuses of pairtok.
 *
 * Every message is one line on stderr, `pairtok: <command>: <why>`, where
 * <why> is the library's own message when there is one: it already names
 * the path, the line:col and the fix.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "escape.h"

int cli_exit_status(pairtok_status status)
{
    switch (status) {
    case PAIRTOK_OK:
        return CLI_EXIT_OK;
    case PAIRTOK_EDENIED:
        return CLI_EXIT_REFUSED;
    case PAIRTOK_EINVAL:
    case PAIRTOK_ENOTFOUND:
    case PAIRTOK_EAMBIGUOUS:
        return CLI_EXIT_USAGE;
    case PAIRTOK_EIO:
    case PAIRTOK_EPARSE:
    case PAIRTOK_EUNSAFE:
    case PAIRTOK_ESCHEMA:
    case PAIRTOK_ELIMIT:
    case PAIRTOK_EBUSY:
    case PAIRTOK_ENOMEM:
    case PAIRTOK_EABORTED:
    case PAIRTOK_ERANDOM:
        break;
    }
    return CLI_EXIT_STORE;
}

/* Messages can quote a store path, a key of a hand-edited store file or an
 * argument: all untrusted, so the whole line is escaped before it reaches
 * the terminal. */
static void vwarn(const cli_ctx *ctx, const char *fmt, va_list ap)
{
    char line[2 * PAIRTOK_MESSAGE_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    bool plain = true; /* printable ASCII only: print as is, backslashes too */
    for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++) {
        plain = plain && *p >= 0x20 && *p < 0x7f;
    }
    char *safe = plain ? line : cli_escape(line);
    if (ctx->command != NULL) {
        fprintf(stderr, "pairtok: %s: ", ctx->command);
    } else {
        fputs("pairtok: ", stderr);
    }
    fputs(safe != NULL ? safe : "(message lost: out of memory)", stderr);
    fputc('\n', stderr);
    if (safe != line) {
        free(safe);
    }
}

void cli_warn(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(ctx, fmt, ap);
    va_end(ap);
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(ctx, fmt, ap);
    va_end(ap);
    if (ctx->command != NULL) {
        fprintf(stderr, "Try 'pairtok %s --help'.\n", ctx->command);
    } else {
        fputs("Try 'pairtok --help'.\n", stderr);
    }
    return CLI_EXIT_USAGE;
}

int cli_fail(const cli_ctx *ctx, const pairtok_error *err)
{
    /* A library that left the message empty still gets a readable line. */
    cli_warn(ctx, "%s", err->message[0] != '\0' ? err->message : pairtok_strerror(err->code));
    return cli_exit_status(err->code);
}
