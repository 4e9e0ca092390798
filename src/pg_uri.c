/* SPDX-License-Identifier: ISC */
/*
 * pg_uri.c - PostgreSQL locations: which are ours, their display form
 * with the password masked, and scrubbing passwords out of messages.
 *
 * A URI may carry a password in two places: `scheme://user:secret@host`
 * and `?password=secret` (the key may be percent-encoded).  Both are
 * replaced by "****" in the display form.  libpq's own parse errors quote
 * pieces of the URI, up to all of it, so every message that comes from
 * libpq is scrubbed too: copies of the URI become its display form, and
 * copies of a password (as written, or percent-decoded) become "****".
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg.h"

#define MASK "****"
/* Password spans a URI may hold; more is refused (libpq would use the
 * last, but each would have to be masked). */
#define MAX_SPANS 8

typedef struct span {
    size_t off;
    size_t len;
} span;

bool backend_pg_claims(const char *location)
{
    return strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decode s[0..len) into out (at most out_size - 1 bytes, NUL
 * terminated); a malformed escape is copied as written. */
static void decode(const char *s, size_t len, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < out_size; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* The password in the user info: after the first ':' of what lies between
 * "://" and the last '@' before any '?'.  (libpq stops looking for the '@'
 * at the first '/'; taking the last '@' masks at least as much.) */
static size_t userinfo_password(const char *uri, span *out)
{
    const char *start = strstr(uri, "://");
    if (start == NULL) {
        return 0;
    }
    start += 3;
    size_t end = strcspn(start, "?");
    const char *at = NULL;
    for (size_t i = 0; i < end; i++) {
        if (start[i] == '@') {
            at = start + i;
        }
    }
    if (at == NULL) {
        return 0;
    }
    const char *colon = memchr(start, ':', (size_t)(at - start));
    if (colon == NULL || colon + 1 == at) {
        return 0;
    }
    out->off = (size_t)(colon + 1 - uri);
    out->len = (size_t)(at - colon - 1);
    return 1;
}

/* The values of `password=` in the query string. */
static size_t query_passwords(const char *uri, span *out, size_t max)
{
    const char *q = strchr(uri, '?');
    size_t n = 0;
    while (q != NULL) {
        const char *key = q + 1;
        size_t len = strcspn(key, "&");
        const char *eq = memchr(key, '=', len);
        if (eq != NULL) {
            char name[16];
            decode(key, (size_t)(eq - key), name, sizeof name);
            if (strcmp(name, "password") == 0 && eq + 1 < key + len) {
                if (n == max) {
                    return max + 1;
                }
                out[n].off = (size_t)(eq + 1 - uri);
                out[n].len = (size_t)(key + len - eq - 1);
                n++;
            }
        }
        q = key[len] == '&' ? key + len : NULL;
    }
    return n;
}

/* The spans, in order (the user info ends before the query starts);
 * max + 1 when there are more than max. */
static size_t password_spans(const char *uri, span *out, size_t max)
{
    size_t n = userinfo_password(uri, out);
    return n + query_passwords(uri, out + n, max - n);
}

/* `uri` with every span replaced by MASK; false if it does not fit. */
static bool mask(const char *uri, const span *spans, size_t n, char *out, size_t out_size)
{
    size_t o = 0, i = 0, len = strlen(uri);
    for (size_t s = 0; s <= n; s++) {
        size_t stop = s < n ? spans[s].off : len;
        size_t chunk = stop - i;
        size_t add = s < n ? sizeof MASK - 1 : 0;
        if (o + chunk + add >= out_size) {
            return false;
        }
        memcpy(out + o, uri + i, chunk);
        memcpy(out + o + chunk, MASK, add);
        o += chunk + add;
        i = s < n ? spans[s].off + spans[s].len : len;
    }
    out[o] = '\0';
    return true;
}

/* Replace every copy of the non-empty `needle` in msg by `with`, in
 * place, cutting what no longer fits. */
static void replace_all(char *msg, size_t msg_size, const char *needle, const char *with)
{
    size_t len = strlen(needle), with_len = strlen(with), o = 0;
    char out[PAIRTOK_MESSAGE_MAX + PAIRTOK_PATH_MAX];
    if (len == 0 || msg_size > PAIRTOK_MESSAGE_MAX || strstr(msg, needle) == NULL) {
        return;
    }
    for (const char *p = msg; *p != '\0' && o + 1 < msg_size;) {
        if (strncmp(p, needle, len) == 0) {
            size_t put = with_len < msg_size - 1 - o ? with_len : msg_size - 1 - o;
            memcpy(out + o, with, put);
            o += put;
            p += len;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    memcpy(msg, out, o + 1);
}

static void replace_span(char *msg, size_t msg_size, const char *text, size_t len)
{
    char copy[PAIRTOK_PATH_MAX];
    if (len == 0 || len >= sizeof copy) {
        return;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    replace_all(msg, msg_size, copy, MASK);
    char plain[PAIRTOK_PATH_MAX];
    decode(text, len, plain, sizeof plain);
    replace_all(msg, msg_size, plain, MASK);
}

/* One line of printable text: line breaks and other controls become
 * spaces, runs of spaces one, no trailing space. */
static void one_line(char *msg)
{
    size_t o = 0;
    for (size_t i = 0; msg[i] != '\0'; i++) {
        unsigned char c = (unsigned char)msg[i];
        char put = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        if (put == ' ' && (o == 0 || msg[o - 1] == ' ')) {
            continue;
        }
        msg[o++] = put;
    }
    while (o > 0 && msg[o - 1] == ' ') {
        o--;
    }
    msg[o] = '\0';
}

void pg_scrub(const char *uri, const char *display, char *msg, size_t msg_size)
{
    replace_all(msg, msg_size, uri, display);
    span spans[MAX_SPANS];
    size_t n = password_spans(uri, spans, MAX_SPANS);
    for (size_t i = 0; i < n && i < MAX_SPANS; i++) {
        replace_span(msg, msg_size, uri + spans[i].off, spans[i].len);
    }
    one_line(msg);
}

pairtok_status pg_uri_check(const char *uri, char *display, size_t display_size, pairtok_error *err)
{
    span spans[MAX_SPANS];
    size_t n = password_spans(uri, spans, MAX_SPANS);
    if (n > MAX_SPANS) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "PostgreSQL URI: more than %d passwords",
                       MAX_SPANS - 1);
    }
    if (!mask(uri, spans, n, display, display_size)) {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "PostgreSQL URI: longer than %zu bytes",
                       display_size - 1);
    }
    char *reason = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &reason);
    if (opts == NULL) {
        /* libpq gives no reason only when it ran out of memory. */
        pairtok_status code = reason != NULL ? PAIRTOK_EINVAL : PAIRTOK_ENOMEM;
        char msg[PAIRTOK_MESSAGE_MAX];
        snprintf(msg, sizeof msg, "%s", reason != NULL ? reason : "out of memory");
        PQfreemem(reason);
        pg_scrub(uri, display, msg, sizeof msg);
        return pt_fail(err, code, 0, "%.300s: not a valid PostgreSQL URI: %s", display, msg);
    }
    PQconninfoFree(opts);
    return PAIRTOK_OK;
}
