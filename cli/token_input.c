/* SPDX-License-Identifier: ISC */
/*
 * token_input.c - take a pair token from an argument or from stdin.
 */
#include "token_input.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

cli_token_result cli_token_from(const char *text, size_t len, char out[PAIRTOK_TOKEN_LEN + 1])
{
    out[0] = '\0';
    while (len > 0 && is_space(text[0])) {
        text++;
        len--;
    }
    while (len > 0 && is_space(text[len - 1])) {
        len--;
    }
    if (len == 0) {
        return CLI_TOKEN_EMPTY;
    }
    if (!pairtok_token_is_well_formed(text, len)) {
        return CLI_TOKEN_MALFORMED;
    }
    memcpy(out, text, PAIRTOK_TOKEN_LEN);
    out[PAIRTOK_TOKEN_LEN] = '\0';
    return CLI_TOKEN_OK;
}

/* Read until a newline, end of input or a full buffer; returns the number
 * of bytes read, or -1 with errno set. */
static ssize_t read_line(int fd, char *buf, size_t cap, bool *eof)
{
    size_t got = 0;
    *eof = false;
    while (got < cap && memchr(buf, '\n', got) == NULL) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            *eof = true;
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

cli_token_result cli_token_read(int fd, char out[PAIRTOK_TOKEN_LEN + 1])
{
    char buf[CLI_TOKEN_LINE_MAX];
    bool eof;
    cli_token_result result;
    out[0] = '\0';
    ssize_t got = read_line(fd, buf, sizeof buf, &eof);
    if (got < 0) {
        result = CLI_TOKEN_IO;
    } else {
        const char *nl = memchr(buf, '\n', (size_t)got);
        if (nl == NULL && !eof) {
            result = CLI_TOKEN_TOO_LONG;
        } else {
            size_t len = nl != NULL ? (size_t)(nl - buf) : (size_t)got;
            result = cli_token_from(buf, len, out);
        }
    }
    int saved = errno;
    sodium_memzero(buf, sizeof buf);
    errno = saved;
    return result;
}

const char *cli_token_strerror(cli_token_result result)
{
    switch (result) {
    case CLI_TOKEN_OK:
        return "ok";
    case CLI_TOKEN_EMPTY:
        return "no pair token given";
    case CLI_TOKEN_MALFORMED:
        return "malformed pair token (expected 32 characters of [A-Za-z0-9_-])";
    case CLI_TOKEN_TOO_LONG:
        return "malformed pair token (line longer than 4096 bytes)";
    case CLI_TOKEN_IO:
        return "cannot read standard input";
    }
    return "malformed pair token";
}
