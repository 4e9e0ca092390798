/* SPDX-License-Identifier: ISC */
/*
 * token_input.h - take a pair token from an argument or from stdin.
 *
 * Reading it from stdin keeps the token out of shell history and out of
 * the process list, where an argument is visible to every local user.
 */
#ifndef PAIRTOK_CLI_TOKEN_INPUT_H
#define PAIRTOK_CLI_TOKEN_INPUT_H

#include <stddef.h>

#include "pairtok.h"

/* Most bytes read from stdin looking for the token's line. */
#define CLI_TOKEN_LINE_MAX 4096

typedef enum cli_token_result {
    CLI_TOKEN_OK,
    CLI_TOKEN_EMPTY,     /* nothing but whitespace */
    CLI_TOKEN_MALFORMED, /* not exactly 32 characters of [A-Za-z0-9_-] */
    CLI_TOKEN_TOO_LONG,  /* no end of line within CLI_TOKEN_LINE_MAX bytes */
    CLI_TOKEN_IO,        /* read failed; errno says why */
} cli_token_result;

/* Trim surrounding whitespace from the `len` bytes at `text` and copy them
 * to `out` if they are exactly a token.  NUL bytes count as junk. */
cli_token_result cli_token_from(const char *text, size_t len, char out[PAIRTOK_TOKEN_LEN + 1]);

/* The token on the first line of `fd`, read with read(2) so that no stdio
 * buffer keeps a copy.  Every buffer is wiped; `out` is the caller's to
 * wipe. */
cli_token_result cli_token_read(int fd, char out[PAIRTOK_TOKEN_LEN + 1]);

/* A short English reason for a failed result. */
const char *cli_token_strerror(cli_token_result result);

#endif /* PAIRTOK_CLI_TOKEN_INPUT_H */
