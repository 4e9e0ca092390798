/* SPDX-License-Identifier: ISC */
/*
 * toml_scan.c - the scanner of the TOML reader: one token at a time, where
 * the parser (toml_parse.c) stands - newlines and comments, strings and
 * their escapes, integers, floats, dates and times, booleans - checked
 * against TOML 1.0 and decoded into a node (toml_scan.h says how the two
 * halves share the work).
 *
 * Fast where a store needs it: strings and keys without escapes point into
 * the input (zero copy); plain text is skipped sixteen or eight bytes at a
 * time (skip_plain, toml_text.h) and decimal digits eight at a time.
 */
#include "toml_scan.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

int toml_fail_pos(parser *ps, src_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
    va_end(ap);
    ps->err->line = pos.line;
    ps->err->col = pos.col;
    return -1;
}

int toml_fail_oom(parser *ps)
{
    ps->err->oom = true;
    ps->err->line = 0;
    ps->err->col = 0;
    snprintf(ps->err->message, sizeof ps->err->message, "out of memory");
    return -1;
}

int toml_fail_unexpected(parser *ps, const char *at, const char *expected)
{
    char what[80];
    return fail_at(ps, at, "expected %s, found %s", expected,
                   toml_describe_char(what, sizeof what, at, ps->end));
}

/* ---- newlines and comments ---- */

/* Consume a newline (LF or CRLF) if one is next. */
static int take_newline(parser *ps, bool *taken)
{
    const char *p = ps->p;
    *taken = false;
    if (p < ps->end && *p == '\n') {
        ps->p = p + 1;
    } else if (p < ps->end && *p == '\r') {
        if (ps->end - p < 2 || p[1] != '\n') {
            return fail_at(ps, p, "carriage return not followed by a line feed");
        }
        ps->p = p + 2;
    } else {
        return 0;
    }
    note_newline(ps, ps->p);
    *taken = true;
    return 0;
}

/* Check the non-plain byte at p inside a string or comment; returns the
 * byte after it or NULL.  Newlines are the caller's business; `escapable`
 * says whether the message may suggest a \\u escape. */
static const char *check_special(parser *ps, const char *p, const char *what, bool escapable)
{
    unsigned char c = (unsigned char)*p;
    if (c >= 0x80) {
        unsigned n = toml_utf8_length(p, ps->end);
        if (n == 0) {
            fail_at(ps, p, "invalid UTF-8 byte 0x%02X in %s", c, what);
            return NULL;
        }
        return p + n;
    }
    if (c == '\t') {
        return p + 1;
    }
    if (c == '\r') {
        fail_at(ps, p, "carriage return not followed by a line feed in %s", what);
        return NULL;
    }
    if (escapable) {
        fail_at(ps, p, "control character U+%04X is not allowed in %s; write it as \\u%04X", c,
                what, c);
    } else {
        fail_at(ps, p, "control character U+%04X is not allowed in %s", c, what);
    }
    return NULL;
}

/* '#' to the end of the line (the newline itself is left). */
static int parse_comment(parser *ps)
{
    const char *p = ps->p + 1;
    for (;;) {
        p = skip_plain(p, ps->end, 0, false, true);
        if (p == ps->end || *p == '\n' || (*p == '\r' && ps->end - p >= 2 && p[1] == '\n')) {
            ps->p = p;
            return 0;
        }
        p = check_special(ps, p, "a comment", false);
        if (p == NULL) {
            return -1;
        }
    }
}

int toml_scan_line_end(parser *ps, bool *newline)
{
    skip_blank(ps);
    if (at_char(ps, '#') && parse_comment(ps) != 0) {
        return -1;
    }
    return take_newline(ps, newline);
}

/* ---- strings ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* Skip the whitespace and newlines after a line-ending backslash in a
 * multi-line basic string; p is at the backslash. */
static const char *skip_line_continuation(parser *ps, const char *p)
{
    const char *q = p + 1;
    while (q < ps->end && (*q == ' ' || *q == '\t')) {
        q++;
    }
    if (q == ps->end || (*q != '\n' && *q != '\r')) {
        fail_at(ps, p, "a backslash followed by whitespace must end the line");
        return NULL;
    }
    for (;;) {
        while (q < ps->end && (*q == ' ' || *q == '\t')) {
            q++;
        }
        ps->p = q;
        bool newline;
        if (take_newline(ps, &newline) != 0) {
            return NULL;
        }
        if (!newline) {
            return q;
        }
        q = ps->p;
    }
}

/* Check \uXXXX or \UXXXXXXXX at p (the backslash). */
static const char *check_unicode_escape(parser *ps, const char *p, unsigned digits)
{
    if ((size_t)(ps->end - p) < 2u + digits) {
        fail_at(ps, p, "\\%c needs %u hex digits", p[1], digits);
        return NULL;
    }
    uint32_t cp = 0;
    for (unsigned i = 0; i < digits; i++) {
        int h = hex_value(p[2 + i]);
        if (h < 0) {
            fail_at(ps, p, "\\%c needs %u hex digits", p[1], digits);
            return NULL;
        }
        cp = cp << 4 | (uint32_t)h;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        fail_at(ps, p, "\\%c%0*X is not a Unicode scalar value", p[1], (int)digits, (unsigned)cp);
        return NULL;
    }
    return p + 2 + digits;
}

/* Check the escape sequence at p (a backslash); returns the byte after it. */
static const char *check_escape(parser *ps, const char *p, bool multiline)
{
    if (ps->end - p < 2) {
        fail_at(ps, p, "unfinished escape sequence at end of file");
        return NULL;
    }
    if (toml_unescape_letter(p[1]) != 0) {
        return p + 2;
    }
    switch (p[1]) {
    case 'u':
        return check_unicode_escape(ps, p, 4);
    case 'U':
        return check_unicode_escape(ps, p, 8);
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        if (multiline) {
            return skip_line_continuation(ps, p);
        }
        break;
    default:
        break;
    }
    char what[80];
    fail_at(ps, p, "invalid escape sequence: backslash followed by %s",
            toml_describe_char(what, sizeof what, p + 1, ps->end));
    return NULL;
}

static size_t utf8_encode(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the already checked body [s, e) of a basic string into dst;
 * returns the decoded length.  Never longer than the body. */
static size_t decode_basic(char *dst, const char *s, const char *e)
{
    char *o = dst;
    while (s < e) {
        const char *run = s;
        while (s < e && *s != '\\' && *s != '\r') {
            s++;
        }
        memcpy(o, run, (size_t)(s - run));
        o += s - run;
        if (s == e) {
            break;
        }
        if (*s == '\r') { /* CRLF in a multi-line string reads as LF */
            s++;
            continue;
        }
        char c = s[1];
        if (c == 'u' || c == 'U') {
            unsigned digits = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (unsigned i = 0; i < digits; i++) {
                cp = cp << 4 | (uint32_t)hex_value(s[2 + i]);
            }
            o += utf8_encode(o, cp);
            s += 2 + digits;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            s++; /* line-ending backslash: drop all whitespace up to the text */
            while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
                s++;
            }
        } else {
            *o++ = toml_unescape_letter(c);
            s += 2;
        }
    }
    return (size_t)(o - dst);
}

/* Drop the CRs of CRLFs in the body [s, e) of a multi-line literal string. */
static size_t decode_crlf(char *dst, const char *s, const char *e)
{
    char *o = dst;
    for (; s < e; s++) {
        if (*s != '\r') {
            *o++ = *s;
        }
    }
    return (size_t)(o - dst);
}

/* Finish a string whose body is [s, e): point into the input when nothing
 * needs decoding, else decode into the arena. */
static int finish_string(parser *ps, const char *s, const char *e, bool decode, bool basic,
                         const char **out, uint32_t *out_len)
{
    size_t raw = (size_t)(e - s);
    if (!decode) {
        *out = s;
        *out_len = (uint32_t)raw;
        return 0;
    }
    char *dst = arena_alloc(&ps->doc->nodes, raw);
    if (dst == NULL) {
        return toml_fail_oom(ps);
    }
    size_t len = basic ? decode_basic(dst, s, e) : decode_crlf(dst, s, e);
    arena_shrink(&ps->doc->nodes, dst, raw, len);
    *out = dst;
    *out_len = (uint32_t)len;
    return 0;
}

/* skip_plain() for the text of a basic or literal string, each with its
 * own constants so that both loops are specialised. */
static const char *skip_string_text(const char *p, const char *end, bool basic)
{
    if (basic) {
        return skip_plain(p, end, '"', true, true);
    }
    return skip_plain(p, end, '\'', false, true);
}

/* The byte at p that skip_string_text() stopped at, inside a string: an
 * escape (basic strings; sets *decoded) or a byte to check.  Returns where
 * to go on scanning, or NULL after an error. */
static const char *check_string_byte(parser *ps, const char *p, const char *what, bool basic,
                                     bool multiline, bool *decoded)
{
    if (*p == '\\' && basic) {
        *decoded = true;
        return check_escape(ps, p, multiline);
    }
    return check_special(ps, p, what, basic);
}

/* "..." or '...' on one line; ps->p is at the opening quote. */
int toml_scan_line_string(parser *ps, const char **out, uint32_t *out_len)
{
    const char *open = ps->p;
    const char quote = *open;
    const bool basic = quote == '"';
    const char *what = basic ? "a string" : "a literal string";
    const char *s = open + 1;
    const char *p = s;
    bool escaped = false;
    for (;;) {
        p = skip_string_text(p, ps->end, basic);
        if (p == ps->end || *p == '\n' || (*p == '\r' && ps->end - p >= 2 && p[1] == '\n')) {
            return fail_at(ps, open, "%s is not closed on its line (missing %c)",
                           basic ? "string" : "literal string", quote);
        }
        if (*p == quote) {
            break;
        }
        if ((p = check_string_byte(ps, p, what, basic, false, &escaped)) == NULL) {
            return -1;
        }
    }
    ps->p = p + 1;
    return finish_string(ps, s, p, escaped, basic, out, out_len);
}

/* """...""" or '''...'''; ps->p is at the opening delimiter. */
static int parse_multiline_string(parser *ps, const char **out, uint32_t *out_len)
{
    const src_pos open = pos_at(ps, ps->p);
    const char quote = *ps->p;
    const bool basic = quote == '"';
    const char *what = basic ? "a multi-line string" : "a multi-line literal string";
    bool decode = false, newline;
    ps->p += 3;
    if (take_newline(ps, &newline) != 0) { /* a newline right after the opening is dropped */
        return -1;
    }
    const char *s = ps->p;
    const char *p = s;
    for (;;) {
        p = skip_string_text(p, ps->end, basic);
        if (p == ps->end) {
            return toml_fail_pos(ps, open, "%s is never closed (missing %c%c%c)", what, quote,
                                 quote, quote);
        }
        if (*p == quote) {
            const char *run = p;
            while (p < ps->end && *p == quote) {
                p++;
            }
            size_t quotes = (size_t)(p - run);
            if (quotes < 3) {
                continue;
            }
            if (quotes > 5) {
                return fail_at(ps, run + 5, "too many quotes at the end of %s", what);
            }
            ps->p = p;
            return finish_string(ps, s, p - 3, decode, basic, out, out_len);
        }
        if (*p == '\n' || *p == '\r') {
            if (*p == '\r') {
                decode = true;
            }
            ps->p = p;
            if (take_newline(ps, &newline) != 0) {
                return -1;
            }
            p = ps->p;
            continue;
        }
        if ((p = check_string_byte(ps, p, what, basic, true, &decode)) == NULL) {
            return -1;
        }
    }
}

static bool at_triple_quote(const parser *ps)
{
    const char *p = ps->p;
    return ps->end - p >= 3 && p[1] == p[0] && p[2] == p[0];
}

static int parse_string_value(parser *ps, toml_node *n)
{
    set_kind(n, KIND_STRING);
    if (at_triple_quote(ps)) {
        return parse_multiline_string(ps, &n->v.str, &n->len);
    }
    return toml_scan_line_string(ps, &n->v.str, &n->len);
}

/* ---- numbers ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool value_ends_at(const parser *ps, const char *p)
{
    return p == ps->end || has_class(*p, C_VALUE_END);
}

static int fail_bad_number(parser *ps, const char *at)
{
    char what[80];
    return fail_at(ps, at, "invalid number: %s is not allowed here",
                   toml_describe_char(what, sizeof what, at, ps->end));
}

/* Digits of `base` with single underscores between them, from ps->p.
 * Accumulates into *value (setting *overflow past `limit`) and counts
 * the digits. */
static int scan_digits(parser *ps, unsigned base, uint64_t limit, uint64_t *value, bool *overflow,
                       unsigned *count)
{
    const char *p = ps->p;
    uint64_t v = 0;
    unsigned n = 0;
    for (; p < ps->end; p++) {
        int d = hex_value(*p);
        if (d < 0 || (unsigned)d >= base) {
            if (*p == '_') {
                int next = p + 1 < ps->end ? hex_value(p[1]) : -1;
                if (n == 0 || p[-1] == '_' || next < 0 || (unsigned)next >= base) {
                    return fail_at(ps, p, "an underscore in a number must be between two digits");
                }
                continue;
            }
            if (d >= 0 && base < 10 && d < 10) {
                return fail_at(ps, p, "'%c' is not a digit in base %u", *p, base);
            }
            break;
        }
        uint64_t next;
        if (__builtin_mul_overflow(v, base, &next) ||
            __builtin_add_overflow(next, (uint64_t)d, &next) || next > limit) {
            *overflow = true;
        } else {
            v = next;
        }
        n++;
    }
    if (n == 0) {
        return toml_fail_unexpected(ps, p, "a digit");
    }
    ps->p = p;
    *value = v;
    *count = n;
    return 0;
}

/* If the eight bytes at p are all digits, their value.  SWAR: check every
 * byte is 0x30-0x39, then combine neighbours: pairs, quads, the eight
 * (little-endian order; elsewhere the caller's byte loop does it). */
static bool eight_digits(const char *p, uint64_t *value)
{
#ifdef FIRST_FLAGGED
    const uint64_t high_nibbles = 0xF0F0F0F0F0F0F0F0u, zeros = 0x3030303030303030u;
    uint64_t v = load8(p);
    if ((v & high_nibbles) != zeros || ((v + 0x0606060606060606u) & high_nibbles) != zeros) {
        return false;
    }
    v -= zeros;
    v = (v * 10u + (v >> 8)) & 0x00FF00FF00FF00FFu;   /* 2-digit groups */
    v = (v * 100u + (v >> 16)) & 0x0000FFFF0000FFFFu; /* 4-digit groups */
    *value = (v * 10000u + (v >> 32)) & 0xFFFFFFFFu;
    return true;
#else
    (void)p;
    (void)value;
    return false;
#endif
}

/* The common case of scan_digits(): up to 18 digits and no underscore,
 * which cannot overflow.  False (nothing consumed) for anything else. */
static bool scan_plain_decimal(parser *ps, uint64_t *value, unsigned *count)
{
    const char *start = ps->p;
    const char *stop = ps->end - start > 18 ? start + 18 : ps->end;
    const char *p = start;
    uint64_t v = 0;
    if (stop - p >= 8 && eight_digits(p, &v)) {
        p += 8;
    }
    while (p < stop && is_digit(*p)) {
        v = v * 10u + (uint64_t)(*p - '0');
        p++;
    }
    if (p == start || (p < ps->end && (is_digit(*p) || *p == '_'))) {
        return false;
    }
    ps->p = p;
    *value = v;
    *count = (unsigned)(p - start);
    return true;
}

/* strtod() in the C locale on [s, e) without underscores. */
static int convert_float(parser *ps, const char *s, const char *e, double *out)
{
    char small[64];
    size_t len = (size_t)(e - s);
    char *buf = len < sizeof small ? small : arena_alloc(&ps->doc->nodes, len + 1u);
    if (buf == NULL) {
        return toml_fail_oom(ps);
    }
    size_t o = 0;
    for (const char *p = s; p < e; p++) {
        if (*p != '_') {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        return toml_fail_oom(ps);
    }
    locale_t old = uselocale(c_locale);
    errno = 0;
    *out = strtod(buf, NULL);
    int saved = errno;
    uselocale(old);
    freelocale(c_locale);
    if (saved == ERANGE && isinf(*out)) {
        return fail_at(ps, s, "float is out of range for a 64-bit float");
    }
    return 0;
}

static int parse_inf_nan(parser *ps, toml_node *n, const char *start, const char *p, bool neg)
{
    bool inf = ps->end - p >= 3 && memcmp(p, "inf", 3) == 0;
    bool nan = ps->end - p >= 3 && memcmp(p, "nan", 3) == 0;
    if ((!inf && !nan) || !value_ends_at(ps, p + 3)) {
        return fail_at(ps, start, "invalid value (did you mean inf or nan?)");
    }
    set_kind(n, KIND_FLOAT);
    n->v.number = inf ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
    ps->p = p + 3;
    return 0;
}

/* 0x..., 0o..., 0b...: ps->p at the 0. */
static int parse_prefixed(parser *ps, toml_node *n)
{
    const char *start = ps->p;
    unsigned base = start[1] == 'x' ? 16 : start[1] == 'o' ? 8 : 2;
    ps->p += 2;
    uint64_t v;
    bool overflow = false;
    unsigned count;
    if (scan_digits(ps, base, (uint64_t)INT64_MAX, &v, &overflow, &count) != 0) {
        return -1;
    }
    if (!value_ends_at(ps, ps->p)) {
        return fail_bad_number(ps, ps->p);
    }
    if (overflow) {
        return fail_at(ps, start, "integer does not fit in 64 bits (max 0x7FFFFFFFFFFFFFFF)");
    }
    set_kind(n, KIND_INTEGER);
    n->v.integer = (int64_t)v;
    return 0;
}

/* Decimal integer or float; ps->p at the first digit, `start` at the sign. */
static int parse_decimal(parser *ps, toml_node *n, const char *start, bool neg)
{
    const char *digits = ps->p;
    uint64_t v, ignored;
    bool overflow = false, is_float = false, frac_overflow = false;
    unsigned count;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (!scan_plain_decimal(ps, &v, &count) &&
        scan_digits(ps, 10, limit, &v, &overflow, &count) != 0) {
        return -1;
    }
    if (*digits == '0' && count > 1) {
        return fail_at(ps, digits, "leading zeros are not allowed in decimal numbers");
    }
    if (at_char(ps, '.')) {
        ps->p++;
        is_float = true;
        if (scan_digits(ps, 10, UINT64_MAX, &ignored, &frac_overflow, &count) != 0) {
            return -1;
        }
    }
    if (at_char(ps, 'e') || at_char(ps, 'E')) {
        ps->p++;
        if (at_char(ps, '+') || at_char(ps, '-')) {
            ps->p++;
        }
        is_float = true;
        if (scan_digits(ps, 10, UINT64_MAX, &ignored, &frac_overflow, &count) != 0) {
            return -1;
        }
    }
    if (!value_ends_at(ps, ps->p)) {
        return fail_bad_number(ps, ps->p);
    }
    if (is_float) {
        set_kind(n, KIND_FLOAT);
        return convert_float(ps, start, ps->p, &n->v.number);
    }
    if (overflow) {
        return fail_at(ps, start, "integer does not fit in 64 bits (%s)",
                       neg ? "min -9223372036854775808" : "max 9223372036854775807");
    }
    set_kind(n, KIND_INTEGER);
    n->v.integer = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* ---- dates and times ---- */

static bool digits_at(const char *p, const char *end, int count)
{
    if (end - p < count) {
        return false;
    }
    for (int i = 0; i < count; i++) {
        if (!is_digit(p[i])) {
            return false;
        }
    }
    return true;
}

static bool looks_like_date(const char *p, const char *end)
{
    return digits_at(p, end, 4) && end - p > 4 && p[4] == '-';
}

static bool looks_like_time(const char *p, const char *end)
{
    return digits_at(p, end, 2) && end - p > 2 && p[2] == ':';
}

/* Two digits at ps->p, a number from 0 to `max`, then `sep` (if not 0). */
static int take_2digits(parser *ps, unsigned min, unsigned max, char sep, const char *field,
                        unsigned *out)
{
    const char *p = ps->p;
    if (!digits_at(p, ps->end, 2)) {
        return fail_at(ps, p, "%s must be two digits", field);
    }
    unsigned v = (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0');
    if (v < min || v > max) {
        return fail_at(ps, p, "%s %02u is out of range (%02u-%02u)", field, v, min, max);
    }
    if (sep != 0 && (ps->end - p < 3 || p[2] != sep)) {
        char what[80];
        return fail_at(ps, p + 2, "expected '%c' after the %s, found %s", sep, field,
                       toml_describe_char(what, sizeof what, p + 2, ps->end));
    }
    ps->p = p + (sep != 0 ? 3 : 2);
    *out = v;
    return 0;
}

static bool is_leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
    static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* YYYY-MM-DD at ps->p (four digits and '-' already seen). */
static int parse_date_part(parser *ps, toml_datetime *dt)
{
    const char *p = ps->p;
    unsigned year = (unsigned)(p[0] - '0') * 1000u + (unsigned)(p[1] - '0') * 100u +
                    (unsigned)(p[2] - '0') * 10u + (unsigned)(p[3] - '0');
    unsigned month, day;
    ps->p = p + 5;
    if (take_2digits(ps, 1, 12, '-', "month", &month) != 0) {
        return -1;
    }
    const char *day_at = ps->p;
    if (take_2digits(ps, 1, 31, 0, "day", &day) != 0) {
        return -1;
    }
    if (day > days_in_month(year, month)) {
        return fail_at(ps, day_at, "day %02u is out of range: %04u-%02u has %u days", day, year,
                       month, days_in_month(year, month));
    }
    dt->year = (int16_t)year;
    dt->month = (uint8_t)month;
    dt->day = (uint8_t)day;
    return 0;
}

/* HH:MM:SS[.fraction] at ps->p. */
static int parse_time_part(parser *ps, toml_datetime *dt)
{
    unsigned hour, minute, second;
    if (take_2digits(ps, 0, 23, ':', "hour", &hour) != 0 ||
        take_2digits(ps, 0, 59, 0, "minute", &minute) != 0) {
        return -1;
    }
    if (!at_char(ps, ':')) {
        return toml_fail_unexpected(ps, ps->p, "':' and seconds (TOML 1.0 times are HH:MM:SS)");
    }
    ps->p++;
    if (take_2digits(ps, 0, 60, 0, "second", &second) != 0) {
        return -1;
    }
    dt->hour = (uint8_t)hour;
    dt->minute = (uint8_t)minute;
    dt->second = (uint8_t)second;
    if (!at_char(ps, '.')) {
        return 0;
    }
    const char *p = ++ps->p;
    uint32_t ns = 0;
    unsigned kept = 0;
    for (; p < ps->end && is_digit(*p); p++) {
        if (kept < 9) {
            ns = ns * 10u + (uint32_t)(*p - '0');
            kept++;
        }
    }
    if (kept == 0) {
        return toml_fail_unexpected(ps, p, "digits after the decimal point of the seconds");
    }
    for (unsigned i = kept; i < 9; i++) {
        ns *= 10u;
    }
    dt->frac_digits = (uint8_t)kept;
    dt->nanosecond = ns;
    ps->p = p;
    return 0;
}

/* Z, z or +HH:MM / -HH:MM after a date-time, if present. */
static int parse_offset(parser *ps, toml_node *n, toml_datetime *dt)
{
    if (at_char(ps, 'Z') || at_char(ps, 'z')) {
        ps->p++;
        set_kind(n, KIND_DATETIME);
        return 0;
    }
    if (!at_char(ps, '+') && !at_char(ps, '-')) {
        set_kind(n, KIND_DATETIME_LOCAL);
        return 0;
    }
    int sign = *ps->p++ == '-' ? -1 : 1;
    unsigned hours, minutes;
    if (take_2digits(ps, 0, 23, ':', "offset hour", &hours) != 0 ||
        take_2digits(ps, 0, 59, 0, "offset minute", &minutes) != 0) {
        return -1;
    }
    dt->offset_minutes = (int16_t)(sign * (int)(hours * 60u + minutes));
    set_kind(n, KIND_DATETIME);
    return 0;
}

static int parse_datetime(parser *ps, toml_node *n, bool time_only)
{
    const char *start = ps->p;
    toml_datetime *dt = arena_alloc(&ps->doc->nodes, sizeof *dt);
    if (dt == NULL) {
        return toml_fail_oom(ps);
    }
    memset(dt, 0, sizeof *dt);
    n->v.datetime = dt;
    if (time_only) {
        if (parse_time_part(ps, dt) != 0) {
            return -1;
        }
        set_kind(n, KIND_TIME_LOCAL);
    } else {
        if (parse_date_part(ps, dt) != 0) {
            return -1;
        }
        const char *p = ps->p;
        bool with_time = p < ps->end &&
                         (*p == 'T' || *p == 't' || (*p == ' ' && looks_like_time(p + 1, ps->end)));
        if (with_time) {
            ps->p++;
            if (parse_time_part(ps, dt) != 0 || parse_offset(ps, n, dt) != 0) {
                return -1;
            }
        } else {
            set_kind(n, KIND_DATE_LOCAL);
        }
    }
    if (!value_ends_at(ps, ps->p)) {
        char what[80];
        return fail_at(ps, ps->p, "%s is not allowed after the date/time starting at column %u",
                       toml_describe_char(what, sizeof what, ps->p, ps->end),
                       pos_at(ps, start).col);
    }
    return 0;
}

/* Numbers, inf/nan, dates and times: ps->p at a sign, digit, 'i' or 'n'. */
static int parse_number_or_date(parser *ps, toml_node *n)
{
    const char *start = ps->p;
    const char *p = start;
    bool neg = false, sign = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        sign = true;
        p++;
    }
    if (p < ps->end && (*p == 'i' || *p == 'n')) {
        return parse_inf_nan(ps, n, start, p, neg);
    }
    if (p == ps->end || !is_digit(*p)) {
        return fail_bad_number(ps, p);
    }
    bool prefixed = *p == '0' && ps->end - p > 1 && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b');
    if (sign && prefixed) {
        return fail_at(ps, start, "hex, octal and binary integers cannot have a sign");
    }
    if (!sign && looks_like_date(p, ps->end)) {
        return parse_datetime(ps, n, false);
    }
    if (!sign && looks_like_time(p, ps->end)) {
        return parse_datetime(ps, n, true);
    }
    ps->p = p;
    if (prefixed) {
        return parse_prefixed(ps, n);
    }
    return parse_decimal(ps, n, start, neg);
}

/* ---- booleans ---- */

static int parse_bool(parser *ps, toml_node *n)
{
    const char *p = ps->p;
    bool t = ps->end - p >= 4 && memcmp(p, "true", 4) == 0;
    bool f = ps->end - p >= 5 && memcmp(p, "false", 5) == 0;
    const char *after = p + (t ? 4 : 5);
    if ((!t && !f) || !value_ends_at(ps, after)) {
        return fail_at(ps, p,
                       "invalid value (booleans are lowercase true and false; strings "
                       "need quotes)");
    }
    set_kind(n, KIND_BOOLEAN);
    n->v.boolean = t;
    ps->p = after;
    return 0;
}

/* ---- any of them ---- */

int toml_scan_scalar(parser *ps, toml_node *n)
{
    if (ps->p == ps->end) {
        return toml_fail_unexpected(ps, ps->p, "a value");
    }
    switch (*ps->p) {
    case '"':
    case '\'':
        return parse_string_value(ps, n);
    case 't':
    case 'f':
        return parse_bool(ps, n);
    case '+':
    case '-':
    case 'i':
    case 'n':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number_or_date(ps, n);
    default:
        return toml_fail_unexpected(ps, ps->p, "a value");
    }
}
