/* SPDX-License-Identifier: ISC */
/*
 * escape.c - make untrusted text safe to print on a terminal (escape.h).
 */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one escape, `\\u10ffff` at most, with its NUL. */
#define ESCAPE_MAX 12

/* Length of the UTF-8 sequence that starts with `lead`, 0 if it cannot. */
static size_t utf8_length(unsigned char lead)
{
    if (lead < 0x80) {
        return 1;
    }
    if ((lead & 0xE0) == 0xC0) {
        return 2;
    }
    if ((lead & 0xF0) == 0xE0) {
        return 3;
    }
    return (lead & 0xF8) == 0xF0 ? 4 : 0;
}

/* Decode one UTF-8 sequence at `s` (`len` bytes left).  Returns its length
 * and the code point in *cp, or 0 when it is not valid UTF-8 (overlong,
 * surrogate, beyond U+10FFFF, truncated). */
static size_t decode_utf8(const unsigned char *s, size_t len, uint32_t *cp)
{
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    static const unsigned char lead_bits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    size_t n = utf8_length(s[0]);
    if (n == 0 || n > len) {
        return 0;
    }
    uint32_t c = s[0] & lead_bits[n];
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min_for_len[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        return 0;
    }
    *cp = c;
    return n;
}

/* Code points above ASCII that change how a terminal lays text out: C1
 * controls, and the bidi and separator marks of "Trojan Source" fame. */
static bool is_invisible_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Escape of an ASCII byte, or NULL when it prints as itself. */
static const char *ascii_escape(unsigned char c, char buf[ESCAPE_MAX])
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
        snprintf(buf, ESCAPE_MAX, "\\x%02x", c);
        return buf;
    }
    return NULL;
}

char *cli_escape(const char *in)
{
    size_t len = strlen(in);
    /* Worst case: every byte becomes the four characters `\xHH`. */
    char *out = len < (SIZE_MAX - 1) / 4 ? malloc(4 * len + 1) : NULL;
    if (out == NULL) {
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)in;
    char *o = out;
    for (size_t i = 0; i < len;) {
        char buf[ESCAPE_MAX];
        uint32_t cp;
        size_t n = decode_utf8(s + i, len - i, &cp);
        const char *esc = n == 1 ? ascii_escape(s[i], buf) : NULL;
        if (n == 0) {
            snprintf(buf, sizeof buf, "\\x%02x", s[i]);
            esc = buf;
            n = 1;
        } else if (n > 1 && is_invisible_control(cp)) {
            snprintf(buf, sizeof buf, "\\u%04x", (unsigned)cp);
            esc = buf;
        }
        if (esc != NULL) {
            size_t elen = strlen(esc);
            memcpy(o, esc, elen);
            o += elen;
        } else {
            memcpy(o, s + i, n);
            o += n;
        }
        i += n;
    }
    *o = '\0';
    return out;
}

size_t cli_text_width(const char *s)
{
    size_t width = 0;
    for (; *s != '\0'; s++) {
        /* Count every byte that is not a UTF-8 continuation byte. */
        width += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return width;
}
