/* SPDX-License-Identifier: ISC */
/*
 * toml_text.c - bytes and characters for the reader and the writer: the
 * class table, UTF-8, the letter escapes and how messages show a
 * character or a key (declared, with the scanners, in toml_text.h).
 */
#include "toml_text.h"

#include <stdio.h>

/* The classes of every byte (see toml_text.h). */
const uint8_t toml_char_class[256] = {
    /* clang-format off */
     4,  4,  4,  4,  4,  4,  4,  4,  4,  6,  6,  4,  4,  6,  4,  4, /* 0x00 */
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4, /* 0x10 */
     2,  0,  8,  2,  0,  0,  0, 16,  0,  0,  0,  0,  2,  1,  0,  0, /* 0x20 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0,  0,  0,  0,  0,  0, /* 0x30 */
     0,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x40 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0, 32,  2,  0,  1, /* 0x50 */
     0,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x60 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0,  0,  2,  0,  4, /* 0x70 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0x80 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0x90 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xA0 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xB0 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xC0 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xD0 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xE0 */
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, /* 0xF0 */
    /* clang-format on */
};

unsigned toml_utf8_length(const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t room = (size_t)(end - p);
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    unsigned need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0xC2) {
        return 0;
    } else if (c < 0xE0) {
        need = 1;
    } else if (c < 0xF0) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c < 0xF5) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (room <= need || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (unsigned i = 2; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return need + 1;
}

static uint32_t utf8_decode(const char *p, unsigned len)
{
    const unsigned char *s = (const unsigned char *)p;
    static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = s[0] & lead_mask[len];
    for (unsigned i = 1; i < len; i++) {
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    return cp;
}

bool toml_is_bare_key(const char *key, size_t len)
{
    unsigned all = len > 0 ? C_BARE : 0;
    for (size_t i = 0; i < len; i++) {
        all &= toml_char_class[(unsigned char)key[i]];
    }
    return all != 0;
}

/* The reader decodes these, the writer uses them for these bytes (and
 * \u00XX for other control characters). */
static const struct short_escape {
    char letter, byte;
} short_escapes[] = {{'b', '\b'}, {'t', '\t'}, {'n', '\n'}, {'f', '\f'},
                     {'r', '\r'}, {'"', '"'},  {'\\', '\\'}};

char toml_unescape_letter(char letter)
{
    for (size_t i = 0; i < sizeof short_escapes / sizeof short_escapes[0]; i++) {
        if (short_escapes[i].letter == letter) {
            return short_escapes[i].byte;
        }
    }
    return 0;
}

char toml_escape_letter(char byte)
{
    for (size_t i = 0; i < sizeof short_escapes / sizeof short_escapes[0]; i++) {
        if (short_escapes[i].byte == byte) {
            return short_escapes[i].letter;
        }
    }
    return 0;
}

const char *toml_describe_char(char *buf, size_t cap, const char *p, const char *end)
{
    if (p >= end) {
        return "end of file";
    }
    unsigned char c = (unsigned char)*p;
    if (c == '\n') {
        return "a newline";
    }
    if (c == '\r') {
        return "a carriage return";
    }
    if (c == '\t') {
        return "a tab";
    }
    if (c >= 0x20 && c < 0x7F) {
        snprintf(buf, cap, "'%c'", c);
    } else if (c < 0x80) {
        snprintf(buf, cap, "control character U+%04X", c);
    } else {
        unsigned n = toml_utf8_length(p, end);
        if (n == 0) {
            snprintf(buf, cap, "invalid UTF-8 byte 0x%02X", c);
        } else if (utf8_decode(p, n) == 0xFEFF) {
            snprintf(buf, cap, "a byte order mark (only allowed at the start of the file)");
        } else {
            snprintf(buf, cap, "U+%04X", (unsigned)utf8_decode(p, n));
        }
    }
    return buf;
}

const char *toml_describe_key(char *buf, size_t cap, const char *key, size_t len)
{
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (o > 40 && (c & 0xC0) != 0x80) {
            break;
        }
        if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04X", c);
        } else {
            if (c == '"' || c == '\\') {
                buf[o++] = '\\';
            }
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
