/* SPDX-License-Identifier: ISC */
/*
 * toml_text.h - bytes and characters, for the reader and the writer alike
 * (internal to src/toml_*.c): character classes, UTF-8, the letter
 * escapes, the messages' way of showing a character or a key, and the
 * scanners that test sixteen (SSE2) or eight bytes at a time.
 *
 * One class table (toml_char_class) and plain_stops() are the one rule for
 * which bytes of a string need a closer look: the reader stops at them to
 * check them, the writer to escape them.
 */
#ifndef PAIRTOK_TOML_TEXT_H
#define PAIRTOK_TOML_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "internal.h"

/* ---- character classes ---- */

enum {
    C_BARE = 1,       /* A-Z a-z 0-9 _ - */
    C_VALUE_END = 2,  /* what may follow a value: space tab CR LF # , ] } */
    C_CONTROL = 4,    /* 0x00-0x1F and DEL */
    C_DQUOTE = 8,     /* " */
    C_SQUOTE = 16,    /* ' */
    C_BACKSLASH = 32, /* \ */
    C_HIGH = 64       /* 0x80-0xFF, the bytes of UTF-8 sequences */
};

PT_HIDDEN extern const uint8_t toml_char_class[256];

static inline bool has_class(char c, unsigned cls)
{
    return (toml_char_class[(unsigned char)c] & cls) != 0;
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not well formed:
 * overlongs, surrogates and code points above U+10FFFF are refused. */
PT_HIDDEN unsigned toml_utf8_length(const char *p, const char *end);
/* A key that can be written without quotes: [A-Za-z0-9_-]+. */
PT_HIDDEN bool toml_is_bare_key(const char *key, size_t len);

/* The escapes with a letter of their own (\b \t \n \f \r \" \\), both ways:
 * the byte a letter after a backslash stands for, and the letter that
 * escapes a byte; 0 when there is none. */
PT_HIDDEN char toml_unescape_letter(char letter);
PT_HIDDEN char toml_escape_letter(char byte);

/* Describe the character at p for a message: 'x', a newline, U+3000, ... */
PT_HIDDEN const char *toml_describe_char(char *buf, size_t cap, const char *p, const char *end);
/* A key for a message: quoted, escaped where not printable, cut after about
 * 40 bytes (at a character boundary).  `cap` must be at least 64. */
PT_HIDDEN const char *toml_describe_key(char *buf, size_t cap, const char *key, size_t len);

/* ---- many bytes at a time ---- */

/* Eight bytes at a time: each helper is non-zero when some byte of `v`
 * matches (the classic zero-byte test; exact when no byte matches). */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t has_byte(uint64_t v, unsigned char b)
{
    uint64_t x = v ^ (ONES * b);
    return (x - ONES) & ~x & HIGHS;
}

/* Index of the first flagged byte of a non-zero mask from the helpers
 * above: borrows only ever flag bytes after a real match, so the lowest
 * flag is exact.  Byte order matters; other orders go byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_FLAGGED(mask) ((size_t)__builtin_ctzll(mask) >> 3)
#endif

/* The classes that end a run of plain text: control characters (the tab
 * too) and DEL, `quote` (a double or single quote, or 0 for none), the
 * backslash if `backslash` and, if `stop_high`, every byte from 0x80 up.
 * The one rule of both the reader, which looks closer at what it stops at
 * (a tab or well-formed UTF-8 goes on), and the writer, which escapes it
 * (UTF-8 passes: the tree holds only valid UTF-8). */
static inline unsigned plain_stops(char quote, bool backslash, bool stop_high)
{
    return C_CONTROL | (quote == '"' ? C_DQUOTE : 0u) | (quote == '\'' ? C_SQUOTE : 0u) |
           (backslash ? C_BACKSLASH : 0u) | (stop_high ? C_HIGH : 0u);
}

static inline bool ends_plain(unsigned char c, char quote, bool backslash, bool stop_high)
{
    return (toml_char_class[c] & plain_stops(quote, backslash, stop_high)) != 0;
}

#ifdef __SSE2__
/* ends_plain() for sixteen bytes at a time where SSE2 is there (every
 * x86-64): the mask of the bytes at p in the classes plain_stops() names. */
static inline unsigned ends_plain16(const char *p, char quote, bool backslash, bool stop_high)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i below = _mm_set1_epi8(0x1F);
    __m128i m = stop_high ? _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)) /* signed: 0x80 up too */
                          : _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
    if (quote != 0) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(quote)));
    }
    if (backslash) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    }
    return (unsigned)_mm_movemask_epi8(m);
}

/* Bytes of v from lo to hi (unsigned), as 0xFF. */
static inline __m128i in_range16(__m128i v, char lo, char hi)
{
    __m128i span = _mm_set1_epi8((char)(hi - lo));
    return _mm_cmpeq_epi8(_mm_max_epu8(_mm_sub_epi8(v, _mm_set1_epi8(lo)), span), span);
}

/* The mask of the sixteen bytes at p that cannot be in a bare key. */
static inline unsigned not_bare16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i letter = in_range16(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
    __m128i bare = _mm_or_si128(letter, in_range16(v, '0', '9'));
    bare = _mm_or_si128(bare, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    bare = _mm_or_si128(bare, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    return ~(unsigned)_mm_movemask_epi8(bare) & 0xFFFFu;
}
#endif

/* The first byte at or after p that cannot be in a bare key, or end. */
static inline const char *skip_bare(const char *p, const char *end)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned stop = not_bare16(p);
        if (stop != 0) {
            return p + __builtin_ctz(stop);
        }
        p += 16;
    }
#endif
    while (end - p >= 4 &&
           (toml_char_class[(unsigned char)p[0]] & toml_char_class[(unsigned char)p[1]] &
            toml_char_class[(unsigned char)p[2]] & toml_char_class[(unsigned char)p[3]] & C_BARE) !=
               0) {
        p += 4;
    }
    while (p < end && has_class(*p, C_BARE)) {
        p++;
    }
    return p;
}

/* The first byte at or after p that ends_plain(), or end: sixteen or
 * eight bytes at a time, then byte by byte. */
__attribute__((always_inline)) static inline const char *
skip_plain(const char *p, const char *end, char quote, bool backslash, bool stop_high)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned stop = ends_plain16(p, quote, backslash, stop_high);
        if (stop != 0) {
            return p + __builtin_ctz(stop);
        }
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t v = load8(p);
        uint64_t stop = ((v - ONES * 0x20u) & ~v) | has_byte(v, 0x7F); /* controls, DEL */
        if (stop_high) {
            stop |= v;
        }
        if (quote != 0) {
            stop |= has_byte(v, (unsigned char)quote);
        }
        if (backslash) {
            stop |= has_byte(v, '\\');
        }
        stop &= HIGHS;
        if (stop != 0) {
#ifdef FIRST_FLAGGED
            return p + FIRST_FLAGGED(stop);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && !ends_plain((unsigned char)*p, quote, backslash, stop_high)) {
        p++;
    }
    return p;
}

#endif /* PAIRTOK_TOML_TEXT_H */
