/* SPDX-License-Identifier: ISC */
/*
 * test_toml - the TOML reader and writer (src/toml_*.c) and the test
 * builders and equality (tests/toml/toml_build.c).
 *
 * Every parse reads a buffer of exactly the input's length, so that ASan
 * (build/asan) and valgrind catch any read past the end or reliance on a
 * NUL terminator.  malloc/calloc/realloc are wrapped at link time (see
 * mk/toml.mk) so that allocation failures can be injected at the N-th call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../toml/gen.h"
#include "../toml/toml_build.h"
#include "toml.h"

/* ---- allocation failure injection ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static long alloc_countdown = -1; /* fail when it reaches 0; -1: never */
static long alloc_calls;

static bool alloc_should_fail(void)
{
    alloc_calls++;
    if (alloc_countdown < 0) {
        return false;
    }
    return alloc_countdown-- == 0;
}

void *__wrap_malloc(size_t size)
{
    return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    return alloc_should_fail() ? NULL : __real_calloc(count, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return alloc_should_fail() ? NULL : __real_realloc(p, size);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return alloc_should_fail() ? MAP_FAILED : __real_mmap(addr, len, prot, flags, fd, off);
}

/* Fail the n-th allocation from now on (0 = the next one). */
static void fail_allocation(long n)
{
    alloc_countdown = n;
    alloc_calls = 0;
}

static void allocations_succeed(void)
{
    alloc_countdown = -1;
}

/* ---- helpers ---- */

/* A copy of `len` bytes in a buffer of exactly that size: no NUL after. */
static char *exact_copy(const char *text, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    return copy;
}

typedef struct parsed {
    char *text; /* must outlive doc */
    toml_doc *doc;
    toml_node *root;
} parsed;

static parsed parse_ok_n(const char *text, size_t len)
{
    parsed p = {exact_copy(text, len), NULL, NULL};
    toml_error err;
    if (toml_parse(p.text, len, &p.doc, &err) != 0) {
        print_error("unexpected error %u:%u: %s\nin: %.*s\n", err.line, err.col, err.message,
                    (int)len, text);
        fail();
    }
    p.root = toml_root(p.doc);
    return p;
}

static parsed parse_ok(const char *text)
{
    return parse_ok_n(text, strlen(text));
}

static void parsed_free(parsed *p)
{
    toml_free(p->doc);
    free(p->text);
}

static toml_node *get(const toml_node *table, const char *key)
{
    return toml_table_get(table, key, strlen(key));
}

typedef struct error_case {
    const char *text;
    unsigned line, col;
    const char *message; /* a part of the expected message */
} error_case;

static void expect_error_n(const char *text, size_t len, unsigned line, unsigned col,
                           const char *message)
{
    char *copy = exact_copy(text, len);
    toml_doc *doc = (toml_doc *)&doc; /* must be reset to NULL */
    toml_error err;
    int rc = toml_parse(copy, len, &doc, &err);
    if (rc == 0 || doc != NULL || err.line != line || err.col != col || err.oom ||
        strstr(err.message, message) == NULL) {
        print_error("input: %.*s\nwant %u:%u: ...%s...\ngot  rc %d %u:%u: %s\n", (int)len, text,
                    line, col, message, rc, err.line, err.col, err.message);
        toml_free(rc == 0 ? doc : NULL);
        free(copy);
        fail();
    }
    free(copy);
}

static void expect_errors(const error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        expect_error_n(cases[i].text, strlen(cases[i].text), cases[i].line, cases[i].col,
                       cases[i].message);
    }
}

#define EXPECT_ERRORS(cases) expect_errors((cases), sizeof(cases) / sizeof(cases)[0])

static char *write_text(const toml_doc *doc, size_t *len)
{
    char *text;
    assert_int_equal(toml_write_alloc(doc, &text, len), 0);
    return text;
}

/* Write `doc`, re-read it, check equality; returns the written text. */
static char *round_trip(const toml_doc *doc, size_t *len)
{
    char *text = write_text(doc, len);
    parsed again = parse_ok_n(text, *len);
    assert_true(toml_equal(toml_root(doc), again.root));
    /* The writer is canonical: writing the re-read tree gives the same bytes. */
    size_t len2;
    char *text2 = write_text(again.doc, &len2);
    assert_int_equal(len2, *len);
    assert_memory_equal(text2, text, *len);
    free(text2);
    parsed_free(&again);
    return text;
}

/* ---- reading values ---- */

static void test_pair_token_entry(void **state)
{
    (void)state;
    parsed p =
        parse_ok("[[pair_token]]\n"
                 "token_hash = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f0"
                 "0a08\"\n"
                 "principal = \"user17\"\n"
                 "expires_at_epoch = 1764322800\n"
                 "issued_at_epoch = 1764322500\n"
                 "label = \"device 17\"\n");
    toml_node *tokens = get(p.root, "pair_token");
    assert_int_equal(toml_node_type(tokens), TOML_ARRAY);
    assert_int_equal(toml_array_len(tokens), 1);
    toml_node *entry = toml_array_at(tokens, 0);
    assert_int_equal(toml_table_len(entry), 5);
    size_t len;
    const char *s = toml_string(get(entry, "principal"), &len);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "user17", 6);
    assert_true(toml_integer(get(entry, "expires_at_epoch")) == 1764322800);
    const char *key;
    size_t key_len;
    toml_node *first = toml_table_at(entry, 0, &key, &key_len);
    assert_int_equal(key_len, 10);
    assert_memory_equal(key, "token_hash", 10);
    assert_int_equal(toml_node_line(first), 2);
    assert_int_equal(toml_node_col(first), 14);
    /* Zero copy: plain strings and keys point into the input. */
    assert_true(key >= p.text && key < p.text + strlen("[[pair_token]]\ntoken_hash"));
    parsed_free(&p);
}

static void test_all_value_kinds(void **state)
{
    (void)state;
    parsed p = parse_ok("s = \"basic\\tstring\"\n"
                        "l = 'C:\\path'\n"
                        "ml = \"\"\"\nline 1\nline 2\\\n   joined\"\"\"\n"
                        "mll = '''\n raw ''\n'''\n"
                        "i = +42\nh = 0xDEAD_beef\no = 0o755\nb = 0b1010\n"
                        "f = 6.626e-34\nf2 = -1_000.5\nf3 = 1E2\n"
                        "pinf = +inf\nninf = -inf\nnan = nan\n"
                        "t = true\nfa = false\n"
                        "odt = 1979-05-27T07:32:00.999999999-07:00\n"
                        "odt2 = 1979-05-27 07:32:00z\n"
                        "ldt = 1979-05-27t07:32:00.5\n"
                        "ld = 2000-02-29\n"
                        "lt = 23:59:60.123456789123\n"
                        "arr = [1, 'two', [3.0], {four = 4},]\n"
                        "it = { a.b = 1, c = { d = [] } }\n");
    size_t len;
    const char *s = toml_string(get(p.root, "s"), &len);
    assert_int_equal(len, 12);
    assert_memory_equal(s, "basic\tstring", 12);
    s = toml_string(get(p.root, "l"), &len);
    assert_memory_equal(s, "C:\\path", len);
    s = toml_string(get(p.root, "ml"), &len);
    assert_int_equal(len, strlen("line 1\nline 2joined"));
    assert_memory_equal(s, "line 1\nline 2joined", len);
    s = toml_string(get(p.root, "mll"), &len);
    assert_memory_equal(s, " raw ''\n", len);
    assert_true(toml_integer(get(p.root, "i")) == 42);
    assert_true(toml_integer(get(p.root, "h")) == 0xDEADBEEF);
    assert_true(toml_integer(get(p.root, "o")) == 0755);
    assert_true(toml_integer(get(p.root, "b")) == 10);
    assert_true(toml_float(get(p.root, "f")) == 6.626e-34);
    assert_true(toml_float(get(p.root, "f2")) == -1000.5);
    assert_true(toml_float(get(p.root, "f3")) == 100.0);
    assert_true(isinf(toml_float(get(p.root, "pinf"))) && toml_float(get(p.root, "pinf")) > 0);
    assert_true(isinf(toml_float(get(p.root, "ninf"))) && toml_float(get(p.root, "ninf")) < 0);
    assert_true(isnan(toml_float(get(p.root, "nan"))));
    assert_true(toml_boolean(get(p.root, "t")));
    assert_false(toml_boolean(get(p.root, "fa")));

    const toml_datetime *dt = toml_datetime_get(get(p.root, "odt"));
    assert_int_equal(toml_node_type(get(p.root, "odt")), TOML_DATETIME);
    assert_int_equal(dt->year, 1979);
    assert_int_equal(dt->month, 5);
    assert_int_equal(dt->day, 27);
    assert_int_equal(dt->hour, 7);
    assert_int_equal(dt->second, 0);
    assert_int_equal(dt->nanosecond, 999999999);
    assert_int_equal(dt->frac_digits, 9);
    assert_int_equal(dt->offset_minutes, -420);
    assert_int_equal(toml_node_type(get(p.root, "odt2")), TOML_DATETIME);
    assert_int_equal(toml_datetime_get(get(p.root, "odt2"))->offset_minutes, 0);
    dt = toml_datetime_get(get(p.root, "ldt"));
    assert_int_equal(toml_node_type(get(p.root, "ldt")), TOML_DATETIME_LOCAL);
    assert_int_equal(dt->nanosecond, 500000000);
    assert_int_equal(dt->frac_digits, 1);
    assert_int_equal(toml_node_type(get(p.root, "ld")), TOML_DATE_LOCAL);
    dt = toml_datetime_get(get(p.root, "lt"));
    assert_int_equal(toml_node_type(get(p.root, "lt")), TOML_TIME_LOCAL);
    assert_int_equal(dt->second, 60);
    assert_int_equal(dt->nanosecond, 123456789); /* truncated to nanoseconds */
    assert_int_equal(dt->frac_digits, 9);

    toml_node *arr = get(p.root, "arr");
    assert_int_equal(toml_array_len(arr), 4);
    assert_int_equal(toml_node_type(toml_array_at(arr, 2)), TOML_ARRAY);
    assert_int_equal(toml_node_type(toml_array_at(arr, 3)), TOML_TABLE);
    toml_node *it = get(p.root, "it");
    assert_true(toml_integer(get(get(it, "a"), "b")) == 1);
    assert_int_equal(toml_array_len(get(get(it, "c"), "d")), 0);
    parsed_free(&p);
}

static void test_integer_boundaries(void **state)
{
    (void)state;
    parsed p = parse_ok("max = 9223372036854775807\n"
                        "min = -9223372036854775808\n"
                        "hex = 0x7FFFFFFFFFFFFFFF\n"
                        "oct = 0o777777777777777777777\n"
                        "bin = 0b111111111111111111111111111111111111111111111111111111111111111\n"
                        "zero = -0\n"
                        "eight = 12345678\nnine = -123456789\nus = 1234_5678_9\n"
                        "e18 = 999999999999999999\ne19 = 1000000000000000000\n"
                        "lead = 0x0000_0001\n");
    assert_true(toml_integer(get(p.root, "max")) == INT64_MAX);
    assert_true(toml_integer(get(p.root, "min")) == INT64_MIN);
    assert_true(toml_integer(get(p.root, "hex")) == INT64_MAX);
    assert_true(toml_integer(get(p.root, "oct")) == INT64_MAX);
    assert_true(toml_integer(get(p.root, "bin")) == INT64_MAX);
    assert_true(toml_integer(get(p.root, "zero")) == 0);
    assert_true(toml_integer(get(p.root, "eight")) == 12345678);
    assert_true(toml_integer(get(p.root, "nine")) == -123456789);
    assert_true(toml_integer(get(p.root, "us")) == 123456789);
    assert_true(toml_integer(get(p.root, "e18")) == 999999999999999999);
    assert_true(toml_integer(get(p.root, "e19")) == 1000000000000000000);
    assert_true(toml_integer(get(p.root, "lead")) == 1);
    parsed_free(&p);

    static const error_case cases[] = {
        {"a = 9223372036854775808", 1, 5, "does not fit in 64 bits"},
        {"a = +9223372036854775808", 1, 5, "does not fit in 64 bits"},
        {"a = -9223372036854775809", 1, 5, "does not fit in 64 bits"},
        {"a = 99999999999999999999999", 1, 5, "does not fit in 64 bits"},
        {"a = 0x8000000000000000", 1, 5, "does not fit in 64 bits"},
        {"a = 0o1000000000000000000000", 1, 5, "does not fit in 64 bits"},
        {"a = 0b1000000000000000000000000000000000000000000000000000000000000000", 1, 5,
         "does not fit in 64 bits"},
        {"a = 012", 1, 5, "leading zeros"},
        {"a = -012", 1, 6, "leading zeros"},
        {"a = 0_1", 1, 5, "leading zeros"},
        {"a = 00.5", 1, 5, "leading zeros"},
        {"a = 1__2", 1, 6, "underscore"},
        {"a = 1_", 1, 6, "underscore"},
        {"a = 1_.5", 1, 6, "underscore"},
        {"a = 1e_5", 1, 7, "underscore"},
        {"a = 0x_1", 1, 7, "underscore"},
        {"a = _1", 1, 5, "expected a value"},
        {"a = -0x1", 1, 5, "cannot have a sign"},
        {"a = 0X1", 1, 6, "not allowed"},
        {"a = 0o8", 1, 7, "not a digit in base 8"},
        {"a = 0b2", 1, 7, "not a digit in base 2"},
        {"a = 0xG", 1, 7, "expected a digit"},
        {"a = 1.", 1, 7, "expected a digit"},
        {"a = .5", 1, 5, "expected a value"},
        {"a = 1.e5", 1, 7, "expected a digit"},
        {"a = 1e", 1, 7, "expected a digit"},
        {"a = 1.5.2", 1, 8, "not allowed"},
        {"a = 1e400", 1, 5, "out of range"},
        {"a = +", 1, 6, "not allowed"},
        {"a = Inf", 1, 5, "expected a value"},
        {"a = infinity", 1, 5, "inf or nan"},
        {"a = 1abc", 1, 6, "not allowed"},
        {"a = 1234567a", 1, 12, "not allowed"},
        {"a = 12345678a", 1, 13, "not allowed"},
        {"a = 12345678__9", 1, 13, "underscore"},
    };
    EXPECT_ERRORS(cases);
}

static void test_strings_with_nul(void **state)
{
    (void)state;
    parsed p = parse_ok("\"k\\u0000ey\" = \"a\\u0000b\"\n"
                        "u = \"\\u00e9\\U0001F600\\u20AC\"\n");
    const char *key;
    size_t key_len, len;
    toml_node *n = toml_table_at(p.root, 0, &key, &key_len);
    assert_int_equal(key_len, 4);
    assert_memory_equal(key, "k\0ey", 4);
    const char *s = toml_string(n, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    assert_ptr_equal(toml_table_get(p.root, "k\0ey", 4), n);
    assert_null(toml_table_get(p.root, "k", 1));
    s = toml_string(get(p.root, "u"), &len);
    assert_int_equal(len, 2 + 4 + 3);
    assert_memory_equal(s, "\xC3\xA9\xF0\x9F\x98\x80\xE2\x82\xAC", len);
    /* Written back with the NUL escaped, and read again the same. */
    size_t out_len;
    char *out = round_trip(p.doc, &out_len);
    assert_non_null(strstr(out, "\"k\\u0000ey\" = \"a\\u0000b\""));
    free(out);
    parsed_free(&p);
}

/* Documents cut at every byte, each in a buffer of exactly its length:
 * any read past the end is an ASan (or valgrind) error. */
static void test_no_nul_terminator(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "a = 12345\n",
        "a = \"str\\u00e9\" # c\n",
        "a = '''ml\r\nx'''\n",
        "a = \"\"\"x\\\n  y\"\"\"",
        "a = tru",
        "a = 1979-05-27T07:32:00.123+01:00",
        "a = 07:32:00.5",
        "[[t.u]]\n[x . 'y']\nb = [1, [2], {c = 3}]",
        "a = 0x7fff_ffff",
        "a = -1.5e-7",
        "a = +inf",
        "\xEF\xBB\xBF"
        "a = 1",
        "a = \"\xE2\x82\xAC\"",
        "# comment \xF0\x9F\x98\x80",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t len = strlen(docs[i]);
        for (size_t cut = 0; cut <= len; cut++) {
            char *copy = exact_copy(docs[i], cut);
            toml_doc *doc;
            toml_error err;
            if (toml_parse(copy, cut, &doc, &err) == 0) {
                toml_free(doc);
            } else {
                assert_true(err.line >= 1 && err.col >= 1);
            }
            free(copy);
        }
    }
    /* A NULL pointer with length 0 is the empty document. */
    toml_doc *doc;
    toml_error err;
    assert_int_equal(toml_parse(NULL, 0, &doc, &err), 0);
    assert_int_equal(toml_table_len(toml_root(doc)), 0);
    toml_free(doc);
}

/* Values that need arena space of every size class, first thing in a
 * fresh document: decoded strings and keys, long floats, long bare keys. */
static void test_long_values(void **state)
{
    (void)state;
    static const size_t sizes[] = {100, 5000, 40000, 70000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *text = malloc(8 * n + 64), *o = text;
        assert_non_null(text);
        o += sprintf(o, "\"");
        for (size_t j = 0; j < n; j++) { /* an escaped key */
            o += sprintf(o, j % 7 == 0 ? "\\t" : "k");
        }
        o += sprintf(o, "\" = \"");
        for (size_t j = 0; j < n; j++) { /* an escaped value */
            o += sprintf(o, j % 5 == 0 ? "\\u00e9" : "v");
        }
        o += sprintf(o, "\"\nf = 1.");
        for (size_t j = 0; j < n; j++) { /* a float of n digits */
            *o++ = (char)('0' + j % 10);
        }
        o += sprintf(o, "\nm = '''");
        for (size_t j = 0; j < n; j++) { /* CRLFs to drop */
            o += sprintf(o, j % 3 == 0 ? "\r\n" : "m");
        }
        o += sprintf(o, "'''\n");
        for (size_t j = 0; j < n; j++) { /* a long bare key */
            *o++ = 'b';
        }
        o += sprintf(o, " = 1\n");
        parsed p = parse_ok_n(text, (size_t)(o - text));
        assert_int_equal(toml_table_len(p.root), 4);
        size_t len;
        const char *key;
        toml_node *v = toml_table_at(p.root, 0, &key, &len);
        assert_int_equal(len, n);
        assert_memory_equal(key, "\tkkkkkk\t", 8);
        toml_string(v, &len);
        assert_int_equal(len, n + (n + 4) / 5); /* each é is two bytes */
        assert_true(fabs(toml_float(get(p.root, "f")) - 1.0123456789) < 1e-9);
        toml_string(get(p.root, "m"), &len);
        /* The first CRLF follows the opening quotes and is dropped. */
        assert_int_equal(len, n - 1);
        toml_table_at(p.root, 3, &key, &len);
        assert_int_equal(len, n);
        free(round_trip(p.doc, &len));
        parsed_free(&p);
        free(text);
    }
}

/* ---- errors: one per class, with the exact position ---- */

static void test_errors_characters(void **state)
{
    (void)state;
    static const error_case cases[] = {
        /* control characters, in strings and comments */
        {"a = \"x\x01\"", 1, 7, "control character U+0001 is not allowed in a string"},
        {"a = \"x\x7F\"", 1, 7, "U+007F"},
        {"a = 'x\x1F'", 1, 7, "in a literal string"},
        {"a = \"\"\"x\x08\"\"\"", 1, 9, "in a multi-line string"},
        {"# x\x02\n", 1, 4, "in a comment"},
        {"a = 1 # \x7F", 1, 9, "in a comment"},
        {"\x0C = 1", 1, 1, "expected a key, found control character U+000C"},
        {"a = \x0B1", 1, 5, "expected a value"},
        /* bare carriage returns */
        {"a = 1\rb = 2", 1, 6, "carriage return not followed by a line feed"},
        {"# x\r", 1, 4, "carriage return"},
        {"a = \"x\ry\"", 1, 7, "carriage return"},
        {"a = \"\"\"\nx\ry\"\"\"", 2, 2, "carriage return"},
        {"a = [\r1]", 1, 6, "carriage return"},
        /* invalid UTF-8 everywhere */
        {"# \xC3\n", 1, 3, "invalid UTF-8 byte 0xC3 in a comment"},
        {"a = \"\xC0\xAF\"", 1, 6, "invalid UTF-8 byte 0xC0"},       /* overlong '/' */
        {"a = \"\xE0\x80\xAF\"", 1, 6, "invalid UTF-8 byte 0xE0"},   /* overlong */
        {"a = \"\xED\xA0\x80\"", 1, 6, "invalid UTF-8 byte 0xED"},   /* surrogate */
        {"a = '\xF4\x90\x80\x80'", 1, 6, "invalid UTF-8 byte 0xF4"}, /* > U+10FFFF */
        {"a = \"\xF5\x80\x80\x80\"", 1, 6, "invalid UTF-8"},
        {"a = \"\x80\"", 1, 6, "invalid UTF-8 byte 0x80"},
        {"a = \"\xE2\x82\"", 1, 6, "invalid UTF-8"}, /* truncated */
        {"a = '''\xFF'''", 1, 8, "invalid UTF-8"},
        {"\xC3\xA9 = 1", 1, 1, "expected a key, found U+00E9"},
        {"a = 1\n\xFF", 2, 1, "invalid UTF-8 byte 0xFF"},
        /* a byte order mark only at byte 0 */
        {"a = 1\n\xEF\xBB\xBF", 2, 1, "byte order mark"},
        {"\xEF\xBB\xBF\xEF\xBB\xBF"
         "a = 1",
         1, 4, "byte order mark"},
        {"a = \xEF\xBB\xBF"
         "1",
         1, 5, "byte order mark"},
    };
    EXPECT_ERRORS(cases);
    /* NUL bytes are characters like any other control: the length rules. */
    expect_error_n("a = \"x\0\"", 8, 1, 7, "U+0000");
    expect_error_n("a = 1\0", 6, 1, 6, "U+0000");
    expect_error_n("a = '''\nx\0'''", 13, 2, 2, "U+0000 is not allowed in a multi-line literal");
    /* A BOM at byte 0 is skipped (columns still count its bytes). */
    parsed p = parse_ok("\xEF\xBB\xBF"
                        "a = \"\xEF\xBB\xBF\" # \xEF\xBB\xBF\n");
    assert_int_equal(toml_node_col(get(p.root, "a")), 8);
    parsed_free(&p);
}

static void test_errors_strings(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = \"\\e\"", 1, 6, "invalid escape sequence: backslash followed by 'e'"}, /* 1.1 */
        {"a = \"\\x41\"", 1, 6, "invalid escape"},                                   /* 1.1 */
        {"a = \"\\ \"", 1, 6, "invalid escape"},
        {"a = \"\\", 1, 6, "unfinished escape"},
        {"a = \"\\uD800\"", 1, 6, "\\uD800 is not a Unicode scalar value"},
        {"a = \"\\uDFFF\"", 1, 6, "not a Unicode scalar value"},
        {"a = \"\\U00110000\"", 1, 6, "\\U00110000 is not a Unicode scalar value"},
        {"a = \"\\U0000D800\"", 1, 6, "not a Unicode scalar value"},
        {"a = \"\\u12\"", 1, 6, "\\u needs 4 hex digits"},
        {"a = \"\\U1234567\"", 1, 6, "\\U needs 8 hex digits"},
        {"a = \"\\u12G4\"", 1, 6, "needs 4 hex digits"},
        {"a = \"abc", 1, 5, "string is not closed on its line"},
        {"a = \"abc\nd\"", 1, 5, "not closed on its line"},
        {"a = 'abc", 1, 5, "literal string is not closed"},
        {"a = \"\"\"abc\n\nx", 1, 5, "multi-line string is never closed"},
        {"a = '''abc", 1, 5, "multi-line literal string is never closed"},
        {"a = \"\"\"x\"\"\"\"\"\"", 1, 14, "too many quotes"},
        {"a = \"\"\"x \\ y\"\"\"", 1, 10, "backslash followed by whitespace must end the line"},
        {"a = \"\"\"\\q\"\"\"", 1, 8, "invalid escape"},
        {"a = \"x\" \"y\"", 1, 9, "expected a newline after a value"},
        {"\"\"\"k\"\"\" = 1", 1, 3, "expected '=' after the key"},
    };
    EXPECT_ERRORS(cases);
    parsed p =
        parse_ok("a = \"\"\"x\"\"\"\"\"\nb = '''''x'''''\nc = \"\"\"\\\n\n  \\\r\n  y\"\"\"\n");
    size_t len;
    assert_memory_equal(toml_string(get(p.root, "a"), &len), "x\"\"", 3);
    assert_int_equal(len, 3);
    assert_memory_equal(toml_string(get(p.root, "b"), &len), "''x''", 5);
    assert_memory_equal(toml_string(get(p.root, "c"), &len), "y", 1);
    assert_int_equal(len, 1);
    parsed_free(&p);
    /* CRLF inside a multi-line string reads as LF. */
    p = parse_ok("a = \"\"\"\r\nx\r\ny\"\"\"\r\nb = '''x\r\n'''\r\n");
    assert_memory_equal(toml_string(get(p.root, "a"), &len), "x\ny", 3);
    assert_int_equal(len, 3);
    assert_memory_equal(toml_string(get(p.root, "b"), &len), "x\n", 2);
    assert_int_equal(toml_node_line(get(p.root, "b")), 4);
    parsed_free(&p);
}

static void test_errors_syntax(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = 1 b", 1, 7, "expected a newline after a value, found 'b'"},
        {"a = [1] 2", 1, 9, "after a value"},
        {"[a] b = 1", 1, 5, "expected a newline after a table header"},
        {"a", 1, 2, "expected '=' after the key, found end of file"},
        {"a =", 1, 4, "expected a value, found end of file"},
        {"a = \n", 1, 5, "expected a value, found a newline"},
        {"= 1", 1, 1, "expected a key, found '='"},
        {"a. = 1", 1, 4, "expected a key"},
        {"a..b = 1", 1, 3, "expected a key"},
        {"a b = 1", 1, 3, "expected '=' after the key, found 'b'"},
        {"[a", 1, 3, "expected ']' to close the header"},
        {"[[a]", 1, 4, "expected ']]' to close the header, found ']'"},
        {"[[a] ]", 1, 4, "']]'"},
        {"[]", 1, 2, "expected a key"},
        {"[a.]", 1, 4, "expected a key"},
        {"[abc = 1", 1, 6, "expected ']' to close the header, found '='"},
        {"[a]]", 1, 4, "after a table header"},
        {"a = [1 2]", 1, 8, "expected ',' or ']' after an array element, found '2'"},
        {"a = [1,,2]", 1, 8, "expected a value"},
        {"a = [,]", 1, 6, "expected a value"},
        {"a = [1", 1, 7, "',' or ']'"},
        {"a = {b = 1,}", 1, 11, "trailing comma is not allowed in an inline table"},
        {"a = {b = 1\n}", 1, 11, "must fit on one line"}, /* TOML 1.0: no newlines */
        {"a = {\nb = 1}", 1, 6, "expected a key, found a newline"},
        {"a = {b = 1 c = 2}", 1, 12, "expected ',' or '}'"},
        {"a = {b = 1, # c\n}", 1, 13, "expected a key, found '#'"},
        {"a = True", 1, 5, "expected a value, found 'T'"},
        {"a = truee", 1, 5, "booleans are lowercase"},
        {"a = fals", 1, 5, "booleans are lowercase"},
        {"a = bare", 1, 5, "expected a value"},
    };
    EXPECT_ERRORS(cases);
}

static void test_errors_dates(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"a = 2023-02-29", 1, 13, "day 29 is out of range: 2023-02 has 28 days"},
        {"a = 1900-02-29", 1, 13, "1900-02 has 28 days"},
        {"a = 2023-04-31T00:00:00Z", 1, 13, "2023-04 has 30 days"},
        {"a = 2023-02-30", 1, 13, "2023-02 has 28 days"},
        {"a = 2023-00-01", 1, 10, "month 00 is out of range (01-12)"},
        {"a = 2023-13-01", 1, 10, "month 13"},
        {"a = 2023-01-00", 1, 13, "day 00 is out of range"},
        {"a = 2023-01-32", 1, 13, "day 32"},
        {"a = 2023-1-01", 1, 10, "month must be two digits"},
        {"a = 2023-01-1", 1, 13, "day must be two digits"},
        {"a = 2023-01-01T24:00:00", 1, 16, "hour 24"},
        {"a = 2023-01-01T23:60:00", 1, 19, "minute 60"},
        {"a = 2023-01-01T23:59:61", 1, 22, "second 61"},
        {"a = 07:32", 1, 10, "seconds (TOML 1.0 times are HH:MM:SS)"}, /* 1.1 allows it */
        {"a = 2023-01-01T07:32Z", 1, 21, "seconds"},
        {"a = 2023-01-01T07:32:00.", 1, 25, "digits after the decimal point"},
        {"a = 2023-01-01T07:32:00+0100", 1, 27, "expected ':' after the offset hour"},
        {"a = 2023-01-01T07:32:00+24:00", 1, 25, "offset hour 24"},
        {"a = 2023-01-01T07:32:00+01:60", 1, 28, "offset minute 60"},
        {"a = 2023-01-01T", 1, 16, "hour must be two digits"},
        {"a = 2023-01-01x", 1, 15, "'x' is not allowed after the date/time starting at column 5"},
        {"a = 2023-01-01T07:32:00Zx", 1, 25, "is not allowed after the date/time"},
        {"a = 07:32:00Z", 1, 13, "not allowed after the date/time"},
        {"a = 10000-01-01", 1, 10, "not allowed"},
        {"a = -2023-01-01", 1, 10, "not allowed"},
        {"a = 2023-01-01 07:32", 1, 21, "seconds"},
    };
    EXPECT_ERRORS(cases);
    parsed p = parse_ok("leap = 2000-02-29\nleap2 = 2024-02-29T00:00:00\n"
                        "d = 2023-01-01 # a date, then a comment\n");
    assert_int_equal(toml_node_type(get(p.root, "d")), TOML_DATE_LOCAL);
    parsed_free(&p);
}

static void test_errors_keys_and_tables(void **state)
{
    (void)state;
    static const error_case cases[] = {
        /* duplicate keys, compared after unquoting */
        {"a = 1\na = 2", 2, 1, "duplicate key \"a\" (first defined at 1:5)"},
        {"a = 1\n\"a\" = 2", 2, 1, "duplicate key \"a\""},
        {"'a' = 1\n\"\\u0061\" = 2", 2, 1, "duplicate key \"a\""},
        {"a = {b = 1, 'b' = 2}", 1, 13, "duplicate key \"b\""},
        {"[t]\nx = 1\nx.y = 2", 3, 1, "cannot use \"x\" as a table: it is already an integer"},
        {"a.b = 1\na.b.c = 2", 2, 3, "cannot use \"b\" as a table"},
        {"a.b = 1\na.b = 2", 2, 3, "duplicate key \"b\""},
        /* table redefinition */
        {"[a]\n[a]", 2, 1, "table \"a\" is defined twice (first defined at 1:1)"},
        {"[a.b]\n[a]\n[a]", 3, 1, "defined twice"},
        {"[a]\nb = 1\n[a.b]", 3, 1, "cannot define \"b\" as a table: it is already an integer"},
        {"a.b = 1\n[a]", 2, 1, "table \"a\" was already created by dotted keys"},
        {"[x]\na.b = 1\n[x.a]", 3, 1, "created by dotted keys"},
        {"[a.b]\nc = 1\n[a]\nb.d = 2", 4, 1,
         "cannot add to table \"b\" with a dotted key: it has its own [header]"},
        /* inline tables and static arrays are closed */
        {"a = {b = 1}\n[a]", 2, 1, "cannot define \"a\" as a table: it is already an inline table"},
        {"a = {b = 1}\n[a.c]", 2, 2,
         "cannot use \"a\" as a table in a header: it is an inline table"},
        {"a = {b = 1}\na.c = 2", 2, 1,
         "cannot use \"a\" as a table: it is already an inline table"},
        {"a = {b = {c = 1}, b.d = 2}", 1, 19, "already an inline table"},
        {"a = []\n[[a]]", 2, 1, "cannot append to \"a\" with [[...]]: it is an array"},
        {"a = [{}]\n[a.b]", 2, 2, "it is an array"},
        {"a = [{}]\na.b = 1", 2, 1, "cannot use \"a\" as a table: it is already an array"},
        {"[[a]]\n[a]", 2, 1, "it is already an array of tables"},
        {"[a]\n[[a]]", 2, 1, "cannot append to \"a\" with [[...]]: it is a table"},
        {"[[a.b]]\n[a]\nb.c = 1", 3, 1, "already an array of tables"},
        {"[[a.b]]\n[[a]]", 2, 1, "cannot append to \"a\""},
    };
    EXPECT_ERRORS(cases);
    /* What may be extended is. */
    parsed p = parse_ok("[a.b.c]\nx = 1\n[a]\ny = 2\n" /* implicit, then defined */
                        "[f]\napple.color = 'red'\n[f.apple.texture]\nsmooth = true\n"
                        "[[t]]\n[t.sub]\nz = 1\n[[t]]\n[[t.list]]\n[[t.list]]\n"
                        "[g.h.i]\n[g]\nh.j = 1\n"); /* dotted keys into an implicit table */
    assert_true(toml_integer(get(get(get(get(p.root, "a"), "b"), "c"), "x")) == 1);
    assert_true(toml_boolean(get(get(get(get(p.root, "f"), "apple"), "texture"), "smooth")));
    toml_node *t = get(p.root, "t");
    assert_int_equal(toml_array_len(t), 2);
    assert_int_equal(toml_array_len(get(toml_array_at(t, 1), "list")), 2);
    assert_null(get(toml_array_at(t, 1), "sub"));
    assert_true(toml_integer(get(get(get(p.root, "g"), "h"), "j")) == 1);
    parsed_free(&p);
}

static void test_error_too_large(void **state)
{
    (void)state;
    toml_doc *doc;
    toml_error err;
    /* The size is refused before anything is read. */
    assert_int_equal(toml_parse("", (size_t)TOML_MAX_INPUT + 1u, &doc, &err), -1);
    assert_null(doc);
    assert_int_equal(err.line, 0);
    assert_false(err.oom);
    assert_non_null(strstr(err.message, "larger than"));
}

/* ---- depth ---- */

static char *repeat(const char *head, const char *unit, size_t n, const char *mid,
                    const char *close_unit, const char *tail)
{
    size_t len =
        strlen(head) + n * (strlen(unit) + strlen(close_unit)) + strlen(mid) + strlen(tail) + 1;
    char *s = malloc(len), *o = s;
    assert_non_null(s);
    o += sprintf(o, "%s", head);
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, "%s", unit);
    }
    o += sprintf(o, "%s", mid);
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, "%s", close_unit);
    }
    sprintf(o, "%s", tail);
    return s;
}

static void depth_case(const char *head, const char *unit, const char *mid, const char *close,
                       unsigned bad_col_base, unsigned unit_len)
{
    char *ok = repeat(head, unit, TOML_MAX_DEPTH, mid, close, "\n");
    parsed p = parse_ok(ok);
    size_t len;
    free(round_trip(p.doc, &len));
    parsed_free(&p);
    free(ok);
    char *bad = repeat(head, unit, TOML_MAX_DEPTH + 1, mid, close, "\n");
    expect_error_n(bad, strlen(bad), 1, bad_col_base + TOML_MAX_DEPTH * unit_len,
                   "nesting is deeper than 128 levels");
    free(bad);
}

static void test_depth_cap(void **state)
{
    (void)state;
    depth_case("a = ", "[", "1", "]", 5, 1);                              /* arrays */
    depth_case("a = ", "{b = ", "1", "}", 5, 5);                          /* inline tables */
    depth_case("a", ".b", " = 1", "", 1, 2);                              /* dotted keys */
    char *header = repeat("[a", ".b", TOML_MAX_DEPTH - 1, "]", "", "\n"); /* 128 tables */
    parsed h = parse_ok(header);
    parsed_free(&h);
    free(header);
    header = repeat("[a", ".b", TOML_MAX_DEPTH, "]", "", "\n");
    expect_error_n(header, strlen(header), 1, 2 + TOML_MAX_DEPTH * 2, "nesting is deeper");
    free(header);
    /* Arrays of tables count two levels: the array and its element.
     * [[a]] [[a.a]] ... 64 of them reach 128; the 65th is too deep. */
    char *aot = malloc(65 * (5 + 2 * 65)), *o = aot;
    assert_non_null(aot);
    for (int level = 1; level <= 65; level++) {
        o += sprintf(o, "[[a");
        for (int i = 1; i < level; i++) {
            o += sprintf(o, ".a");
        }
        o += sprintf(o, "]]\n");
        if (level == 64) {
            parsed p = parse_ok(aot);
            parsed_free(&p);
        }
    }
    expect_error_n(aot, strlen(aot), 65, 3 + 2 * 64, "nesting is deeper");
    free(aot);
    /* Builders stop at the same depth. */
    toml_doc *doc = toml_new();
    toml_node *t = toml_root(doc);
    for (int i = 0; i < TOML_MAX_DEPTH; i++) {
        t = toml_table_add_table(doc, t, "t", 1);
        assert_non_null(t);
    }
    assert_null(toml_table_add_table(doc, t, "t", 1));
    assert_null(toml_table_add_array(doc, t, "a", 1));
    assert_int_equal(toml_table_add_integer(doc, t, "i", 1, 1), 0);
    toml_free(doc);
}

/* ---- the pair-token store at scale ---- */

enum { STORE_RECORDS = 100000 };

/* The store of tests/toml/gen.h (exactly what the writer produces, so the
 * round trip is byte-exact). */
static char *make_store(size_t records, size_t *len)
{
    char *text = toml_gen_store(records, len);
    assert_non_null(text);
    return text;
}

static void test_pair_token_store_100k(void **state)
{
    (void)state;
    size_t len;
    char *text = make_store(STORE_RECORDS, &len);
    parsed p = parse_ok_n(text, len);
    toml_node *tokens = get(p.root, "pair_token");
    assert_int_equal(toml_array_len(tokens), STORE_RECORDS);
    toml_node *last = toml_array_at(tokens, STORE_RECORDS - 1);
    assert_true(toml_integer(get(last, "expires_at_epoch")) == 1764322800 + STORE_RECORDS - 1);
    assert_int_equal(toml_node_line(last), 6u * (STORE_RECORDS - 1) + 1u + (STORE_RECORDS - 1));
    size_t out_len;
    char *out = round_trip(p.doc, &out_len);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, text, len);
    free(out);
    /* Removing from the middle keeps the order of the rest. */
    toml_array_remove(tokens, 5);
    assert_int_equal(toml_array_len(tokens), STORE_RECORDS - 1);
    assert_true(toml_integer(get(toml_array_at(tokens, 5), "expires_at_epoch")) == 1764322800 + 6);
    parsed_free(&p);
    free(text);
}

/* A table of 100,000 keys (hash index) read, looked up, removed from. */
static void test_big_table(void **state)
{
    (void)state;
    enum { KEYS = 100000 };
    size_t cap = (size_t)KEYS * 24, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    used += (size_t)snprintf(text, cap, "[t]\n");
    for (int i = 0; i < KEYS; i++) {
        used += (size_t)snprintf(text + used, cap - used, "k%d = %d\n", i, i);
    }
    parsed p = parse_ok_n(text, used);
    toml_node *t = get(p.root, "t");
    assert_int_equal(toml_table_len(t), KEYS);
    char key[32];
    for (int i = 0; i < KEYS; i += 997) {
        snprintf(key, sizeof key, "k%d", i);
        assert_true(toml_integer(get(t, key)) == i);
    }
    assert_null(get(t, "k100000"));
    parsed_free(&p);
    /* A duplicate is found through the index as well. */
    used += (size_t)snprintf(text + used, cap - used, "k77777 = 0\n");
    expect_error_n(text, used, KEYS + 2, 1, "duplicate key \"k77777\" (first defined at 77779:10)");
    free(text);
}

/* A container that reaches 64 KiB of child pointers while its arena chunk
 * still has room: the block must still be one of its own, since growing it
 * further uses realloc().  (It was carved from the chunk and the next
 * growth aborted in realloc; 1024 keys first leave the chunk half full.) */
static void test_big_array_after_many_keys(void **state)
{
    (void)state;
    enum { KEYS = 1024, ITEMS = 20000 };
    size_t cap = KEYS * 16 + ITEMS * 2 + 16, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < KEYS; i++) {
        used += (size_t)snprintf(text + used, cap - used, "k%d = [1]\n", i);
    }
    used += (size_t)snprintf(text + used, cap - used, "a = [");
    for (int i = 0; i < ITEMS; i++) {
        text[used++] = '0';
        text[used++] = ',';
    }
    text[used++] = ']';
    parsed p = parse_ok_n(text, used);
    assert_int_equal(toml_array_len(get(p.root, "a")), ITEMS);
    parsed_free(&p);
    free(text);
}

/* ---- builders ---- */

static void test_builders(void **state)
{
    (void)state;
    toml_doc *doc = toml_new();
    assert_non_null(doc);
    toml_node *root = toml_root(doc);
    assert_int_equal(toml_node_type(root), TOML_TABLE);
    assert_int_equal(toml_node_line(root), 0);

    toml_node *meta = toml_table_add_table(doc, root, "meta", 4);
    assert_non_null(meta);
    assert_int_equal(toml_table_add_integer(doc, meta, "version", 7, 1), 0);
    assert_int_equal(toml_table_add_string(doc, root, "name", 4, "pair\0tok", 8), 0);
    toml_node *tokens = toml_table_add_array(doc, root, "pair_token", 10);
    assert_non_null(tokens);

    /* Duplicates are refused whatever the type, and change nothing. */
    assert_null(toml_table_add_table(doc, root, "meta", 4));
    assert_null(toml_table_add_array(doc, root, "name", 4));
    assert_int_equal(toml_table_add_string(doc, root, "pair_token", 10, "x", 1), -1);
    assert_int_equal(toml_table_add_integer(doc, meta, "version", 7, 2), -1);
    assert_int_equal(toml_table_len(root), 3);
    assert_true(toml_integer(get(meta, "version")) == 1);
    /* Strings and keys must be UTF-8, or they could not be written. */
    assert_int_equal(toml_table_add_string(doc, root, "bad", 3, "\xFF", 1), -1);
    assert_int_equal(toml_table_add_integer(doc, root, "\xC0\xAF", 2, 1), -1);
    assert_null(get(root, "bad"));
    /* Wrong node kinds are refused. */
    assert_null(toml_table_add_table(doc, tokens, "x", 1));
    assert_null(toml_array_append_table(doc, meta));

    for (int i = 0; i < 3; i++) {
        toml_node *entry = toml_array_append_table(doc, tokens);
        assert_non_null(entry);
        assert_int_equal(toml_table_add_integer(doc, entry, "n", 1, i), 0);
    }
    assert_int_equal(toml_array_len(tokens), 3);
    toml_array_remove(tokens, 1);
    toml_array_remove(tokens, 7); /* out of range: nothing */
    assert_int_equal(toml_array_len(tokens), 2);
    assert_true(toml_integer(get(toml_array_at(tokens, 1), "n")) == 2);

    /* Keys are copied: the caller's buffer may change afterwards. */
    char key[] = "temp";
    assert_int_equal(toml_table_add_integer(doc, root, key, 4, 5), 0);
    key[0] = 'X';
    assert_non_null(get(root, "temp"));
    assert_int_equal(toml_table_remove(root, "temp", 4), 0);
    assert_int_equal(toml_table_remove(root, "temp", 4), -1);
    assert_null(get(root, "temp"));
    assert_int_equal(toml_table_add_integer(doc, root, "temp", 4, 6), 0); /* back again */

    size_t len;
    char *text = round_trip(doc, &len);
    assert_string_equal(text, "name = \"pair\\u0000tok\"\n"
                              "temp = 6\n"
                              "\n[meta]\n"
                              "version = 1\n"
                              "\n[[pair_token]]\n"
                              "n = 0\n"
                              "\n[[pair_token]]\n"
                              "n = 2\n");
    free(text);
    toml_free(doc);
    toml_free(NULL);
}

/* Adds and removes across the hash-index threshold and the growth steps. */
static bool keep_even(const toml_node *element, const void *ctx)
{
    (void)ctx;
    return toml_integer(toml_table_get(element, "n", 1)) % 2 == 0;
}

static void test_array_retain_keeps_order(void **state)
{
    (void)state;
    toml_doc *doc = toml_new();
    assert_non_null(doc);
    toml_node *array = toml_table_add_array(doc, toml_root(doc), "a", 1);
    for (int64_t i = 0; i < 10; i++) {
        toml_node *t = toml_array_append_table(doc, array);
        assert_int_equal(toml_table_add_integer(doc, t, "n", 1, i), 0);
    }
    assert_int_equal(toml_array_retain(array, keep_even, NULL), 5);
    assert_int_equal(toml_array_len(array), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(toml_integer(toml_table_get(toml_array_at(array, i), "n", 1)),
                         (int64_t)(2 * i));
    }
    assert_int_equal(toml_array_retain(toml_root(doc), keep_even, NULL), 0); /* not an array */
    toml_free(doc);
}

static void test_builder_big_table(void **state)
{
    (void)state;
    enum { KEYS = 5000 };
    toml_doc *doc = toml_new();
    toml_node *t = toml_table_add_table(doc, toml_root(doc), "t", 1);
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(toml_table_add_integer(doc, t, key, strlen(key), i), 0);
        assert_int_equal(toml_table_add_integer(doc, t, key, strlen(key), i), -1);
    }
    for (int i = 0; i < KEYS; i += 2) { /* remove the even ones */
        snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(toml_table_remove(t, key, strlen(key)), 0);
    }
    assert_int_equal(toml_table_len(t), KEYS / 2);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "key%d", i);
        toml_node *n = get(t, key);
        if (i % 2 == 0) {
            assert_null(n);
        } else {
            assert_non_null(n);
            assert_true(toml_integer(n) == i);
        }
    }
    /* Order is insertion order with the removed ones gone. */
    const char *k;
    size_t kl;
    toml_table_at(t, 0, &k, &kl);
    assert_memory_equal(k, "key1", kl);
    while (toml_table_len(t) > 0) { /* shrink through every threshold */
        toml_table_at(t, toml_table_len(t) - 1, &k, &kl);
        assert_int_equal(toml_table_remove(t, k, kl), 0);
        if (toml_table_len(t) > 0) {
            toml_table_at(t, 0, &k, &kl);
            assert_non_null(toml_table_get(t, k, kl));
        }
    }
    assert_int_equal(toml_table_add_integer(doc, t, "again", 5, 1), 0);
    assert_non_null(get(t, "again"));
    toml_free(doc);
}

/* ---- writer ---- */

static void test_writer_escapes_every_control(void **state)
{
    (void)state;
    char value[35];
    for (int c = 0; c < 32; c++) {
        value[c] = (char)c;
    }
    value[32] = 0x7F;
    value[33] = '"';
    value[34] = '\\';
    toml_doc *doc = toml_new();
    assert_int_equal(toml_table_add_string(doc, toml_root(doc), "s", 1, value, sizeof value), 0);
    assert_int_equal(toml_table_add_string(doc, toml_root(doc), "k y\n", 4, "\xC3\xA9", 2), 0);
    size_t len;
    char *text = round_trip(doc, &len);
    assert_string_equal(text, "s = \"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                              "\\b\\t\\n\\u000B\\f\\r\\u000E\\u000F"
                              "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
                              "\\u0018\\u0019\\u001A\\u001B\\u001C\\u001D\\u001E\\u001F"
                              "\\u007F\\\"\\\\\"\n"
                              "\"k y\\n\" = \"\xC3\xA9\"\n");
    free(text);
    toml_free(doc);
}

static void test_writer_canonical_form(void **state)
{
    (void)state;
    parsed p = parse_ok("top = 1\n"
                        "[z.deep.er]\nq = 1\n"
                        "[z]\nlast = 1\n"
                        "[[z.list]]\n"
                        "[[z.list]]\nn = 2\n"
                        "[e]\n"
                        "[a]\n"
                        "'quoted key' = 'x'\nbare-Key_1 = 0x10\n\"\" = 1\n\"plain\" = 2\n"
                        "f = [1.0, 0.1, -0.0, 1e22, 5e-324, 1.7976931348623157e308, inf, -inf, nan,"
                        " 3.0e14, 1e-7]\n"
                        "d = [1979-05-27T07:32:00Z, 1979-05-27 07:32:00.120+05:30,"
                        " 1979-05-27t00:00:00-00:00, 0001-01-01T00:00:00.000000001,"
                        " 1979-05-27, 07:32:00.5]\n"
                        "m = [[], {}, {x = {y = 1}}, [true, false]]\n"
                        "aot = [{a = 1}, {b = 2}]\n");
    size_t len;
    char *text = round_trip(p.doc, &len);
    assert_string_equal(text, "top = 1\n"
                              "\n[z]\n"
                              "last = 1\n"
                              "\n[z.deep.er]\n"
                              "q = 1\n"
                              "\n[[z.list]]\n"
                              "\n[[z.list]]\n"
                              "n = 2\n"
                              "\n[e]\n"
                              "\n[a]\n"
                              "\"quoted key\" = \"x\"\n"
                              "bare-Key_1 = 16\n"
                              "\"\" = 1\n"
                              "plain = 2\n"
                              "f = [1.0, 0.1, -0.0, 1e+22, 4.94065645841247e-324, "
                              "1.7976931348623157e+308, inf, -inf, nan, 300000000000000.0, "
                              "1e-07]\n"
                              "d = [1979-05-27T07:32:00Z, 1979-05-27T07:32:00.120+05:30, "
                              "1979-05-27T00:00:00Z, 0001-01-01T00:00:00.000000001, 1979-05-27, "
                              "07:32:00.5]\n"
                              "m = [[], {}, { x = { y = 1 } }, [true, false]]\n"
                              "\n[[a.aot]]\n"
                              "a = 1\n"
                              "\n[[a.aot]]\n"
                              "b = 2\n");
    free(text);
    parsed_free(&p);
}

typedef struct sink_state {
    size_t calls;
    size_t bytes;
    size_t fail_at_call; /* 0: never */
} sink_state;

static int counting_sink(const char *bytes, size_t len, void *ctx)
{
    sink_state *s = ctx;
    (void)bytes;
    s->calls++;
    s->bytes += len;
    assert_true(len > 0 && len <= 64 * 1024);
    return s->fail_at_call != 0 && s->calls >= s->fail_at_call ? 1 : 0;
}

static void test_writer_sink(void **state)
{
    (void)state;
    size_t len;
    char *text = make_store(3000, &len); /* ~600 KiB: several chunks */
    parsed p = parse_ok_n(text, len);
    sink_state s = {0, 0, 0};
    assert_int_equal(toml_write(p.doc, counting_sink, &s), 0);
    assert_int_equal(s.bytes, len);
    assert_true(s.calls >= len / (64 * 1024));
    /* A failing sink stops the writer at once. */
    sink_state f = {0, 0, 2};
    assert_int_equal(toml_write(p.doc, counting_sink, &f), -1);
    assert_int_equal(f.calls, 2);
    parsed_free(&p);
    free(text);
}

/* ---- random trees: write, read back, compare ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next_u32(rng *r)
{
    r->s = r->s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(r->s >> 33);
}

static size_t random_text(rng *r, char *out, size_t cap, bool key)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         "_",
                                         "-",
                                         " ",
                                         ".",
                                         "\"",
                                         "'",
                                         "\\",
                                         "#",
                                         "=",
                                         "[",
                                         "]",
                                         "{",
                                         "\t",
                                         "\n",
                                         "\r",
                                         "\x01",
                                         "\x7F",
                                         "\xC3\xA9",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80"};
    size_t n = next_u32(r) % (key ? 6 : 12), len = 0;
    if (key && next_u32(r) % 2 == 0) { /* mostly bare keys */
        for (size_t i = 0; i < n + 1; i++) {
            out[len++] = "abcXYZ019_-"[next_u32(r) % 11];
        }
        return len;
    }
    for (size_t i = 0; i < n; i++) {
        const char *piece = pieces[next_u32(r) % (sizeof pieces / sizeof pieces[0])];
        size_t pl = strlen(piece);
        if (len + pl >= cap) {
            break;
        }
        memcpy(out + len, piece, pl);
        len += pl;
    }
    if (next_u32(r) % 20 == 0 && len < cap) {
        out[len++] = '\0';
    }
    return len;
}

static void random_table(rng *r, toml_doc *doc, toml_node *t, int depth)
{
    int entries = (int)(next_u32(r) % 6);
    for (int i = 0; i < entries; i++) {
        char key[64], value[128];
        size_t kl = random_text(r, key, sizeof key, true);
        int64_t ints[] = {0, -1, INT64_MAX, INT64_MIN, 1764322800};
        switch (next_u32(r) % (depth < 5 ? 5 : 2)) {
        case 0:
            toml_table_add_string(doc, t, key, kl, value,
                                  random_text(r, value, sizeof value, false));
            break;
        case 1:
            toml_table_add_integer(doc, t, key, kl,
                                   next_u32(r) % 2 ? ints[next_u32(r) % 5] : (int64_t)next_u32(r));
            break;
        case 2:
        case 3: {
            toml_node *sub = toml_table_add_table(doc, t, key, kl);
            if (sub != NULL) {
                random_table(r, doc, sub, depth + 1);
            }
            break;
        }
        default: {
            toml_node *array = toml_table_add_array(doc, t, key, kl);
            int n = (int)(next_u32(r) % 3);
            for (int j = 0; array != NULL && j < n; j++) {
                random_table(r, doc, toml_array_append_table(doc, array), depth + 2);
            }
            break;
        }
        }
    }
}

static void test_random_round_trips(void **state)
{
    (void)state;
    rng r = {20240601};
    for (int i = 0; i < 500; i++) {
        toml_doc *doc = toml_new();
        random_table(&r, doc, toml_root(doc), 0);
        size_t len;
        free(round_trip(doc, &len));
        toml_free(doc);
    }
}

/* ---- equality ---- */

static void test_equal(void **state)
{
    (void)state;
    parsed a = parse_ok("x = 1\ny = [nan, 1.5]\n[t]\nb = 'b'\na = 2000-01-01T00:00:00.5Z\n");
    parsed b = parse_ok("t = {a = 2000-01-01t00:00:00.500+00:00, b = \"b\"}\ny = [-nan, 1.5]\n"
                        "x = 1\n");
    parsed c = parse_ok("x = 1\ny = [nan, 1.5]\n[t]\nb = 'b'\na = 2000-01-01T00:00:00.5\n");
    parsed d = parse_ok("x = 1.0\n");
    parsed e = parse_ok("x = 1\n");
    parsed z1 = parse_ok("x = 0.0\n");
    parsed z2 = parse_ok("x = -0.0\n");
    assert_true(toml_equal(a.root, b.root));    /* key order, NaN, date-time spelling */
    assert_false(toml_equal(a.root, c.root));   /* offset vs local date-time */
    assert_false(toml_equal(d.root, e.root));   /* float vs integer */
    assert_false(toml_equal(e.root, a.root));   /* missing keys */
    assert_false(toml_equal(z1.root, z2.root)); /* bit patterns */
    assert_true(toml_equal(NULL, NULL));
    assert_false(toml_equal(a.root, NULL));
    parsed_free(&a);
    parsed_free(&b);
    parsed_free(&c);
    parsed_free(&d);
    parsed_free(&e);
    parsed_free(&z1);
    parsed_free(&z2);
}

static void test_accessors_on_other_types(void **state)
{
    (void)state;
    parsed p = parse_ok("i = 1\ns = 'x'\n");
    toml_node *i = get(p.root, "i"), *s = get(p.root, "s");
    size_t len = 99;
    assert_null(toml_string(i, &len));
    assert_int_equal(len, 0);
    assert_true(toml_integer(s) == 0);
    assert_null(toml_datetime_get(i));
    assert_int_equal(toml_table_len(i), 0);
    assert_int_equal(toml_array_len(i), 0);
    assert_null(toml_array_at(i, 0));
    assert_null(toml_table_at(p.root, 2, NULL, NULL));
    assert_null(toml_table_get(i, "x", 1));
    parsed_free(&p);
}

/* ---- harvest parse: toml_parse_harvest against toml_parse ---- */

/* The reference for every harvest test is a plain toml_parse of the same
 * bytes: each element handed to the callback must equal the reference
 * element of the same index, the kept ones must still be there and intact
 * after the parse (a dropped element's memory is reused, which must never
 * reach a live node), and everything else must be the reference tree. */
typedef struct harvest_state {
    const toml_node *reference; /* the reference root's entry for the key, or NULL */
    size_t keep_every;          /* keep element i when (i + 1) % keep_every == 0; 0: none */
    size_t keep_first;          /* also keep elements 0 .. keep_first - 1 */
    size_t handed;
    size_t first_bad;       /* index of the first element that did not match, or SIZE_MAX */
    const toml_node **kept; /* room for every reference element: no malloc in the */
    size_t *kept_index;     /* callback, so that injected failures hit the parser only */
    size_t kept_len, kept_cap;
} harvest_state;

static bool harvest_cb(toml_node *element, size_t index, void *ctx)
{
    harvest_state *s = ctx;
    const toml_node *want = NULL;
    if (s->reference != NULL && toml_node_type(s->reference) == TOML_ARRAY) {
        want = toml_array_at(s->reference, index);
    }
    /* Checked now, while the element is in the tree: later its memory may
     * already hold the next one. */
    if (s->first_bad == SIZE_MAX &&
        (index != s->handed || want == NULL || !toml_equal(element, want))) {
        s->first_bad = index;
    }
    s->handed++;
    bool keep = (s->keep_every != 0 && (index + 1) % s->keep_every == 0) || index < s->keep_first;
    if (keep && s->kept_len < s->kept_cap) {
        s->kept[s->kept_len] = element;
        s->kept_index[s->kept_len++] = index;
    }
    return keep;
}

/* The result of one differential run; handed is SIZE_MAX when the injected
 * allocation failure (fail_at >= 0) made the harvest parse fail. */
typedef struct harvest_result {
    size_t handed;
    size_t kept;
    bool parsed; /* the reference parse succeeded */
} harvest_result;

static harvest_result harvest_run(const char *text, size_t len, const char *key, size_t key_len,
                                  size_t keep_every, long fail_at)
{
    char *copy = exact_copy(text, len);
    toml_doc *ref = NULL;
    toml_doc *got = (toml_doc *)&got; /* must be set, to NULL on failure */
    toml_error ref_err, got_err;
    memset(&ref_err, 0, sizeof ref_err);
    /* Unlike what a failed parse must leave, so that every field is checked. */
    memset(&got_err, 0, sizeof got_err);
    got_err.line = got_err.col = 77777;
    got_err.oom = true;
    snprintf(got_err.message, sizeof got_err.message, "unset");
    int ref_rc = toml_parse(copy, len, &ref, &ref_err);
    toml_node *ref_entry = ref_rc == 0 ? toml_table_get(toml_root(ref), key, key_len) : NULL;
    bool ref_array = ref_entry != NULL && toml_node_type(ref_entry) == TOML_ARRAY;
    size_t ref_len = ref_array ? toml_array_len(ref_entry) : 0;
    harvest_state s = {.reference = ref_entry,
                       .keep_every = keep_every,
                       .first_bad = SIZE_MAX,
                       .kept_cap = ref_len};
    s.kept = calloc(ref_len + 1, sizeof *s.kept);
    s.kept_index = calloc(ref_len + 1, sizeof *s.kept_index);
    assert_non_null(s.kept);
    assert_non_null(s.kept_index);
    if (fail_at >= 0) {
        fail_allocation(fail_at);
    }
    int rc = toml_parse_harvest(copy, len, key, key_len, harvest_cb, &s, &got, &got_err);
    allocations_succeed();
    harvest_result res = {s.handed, s.kept_len, ref_rc == 0};
    if (ref_rc == 0 && rc != 0 && fail_at >= 0 && got_err.oom) {
        assert_null(got);
        assert_int_equal(got_err.line, 0);
        assert_string_equal(got_err.message, "out of memory");
        res.handed = SIZE_MAX;
    } else if (ref_rc != 0) {
        /* Same failure, whatever was handed before it. */
        if (rc != -1 || got != NULL || got_err.line != ref_err.line || got_err.col != ref_err.col ||
            got_err.oom != ref_err.oom || strcmp(got_err.message, ref_err.message) != 0) {
            print_error("key %.*s: toml_parse failed at %u:%u: %s\n"
                        "but toml_parse_harvest gave rc %d at %u:%u: %.200s\n",
                        (int)key_len, key, ref_err.line, ref_err.col, ref_err.message, rc,
                        got_err.line, got_err.col, got_err.message);
            fail();
        }
    } else {
        if (rc != 0) {
            print_error("key %.*s: harvest parse failed at %u:%u: %s\n", (int)key_len, key,
                        got_err.line, got_err.col, got_err.message);
            fail();
        }
        if (s.first_bad != SIZE_MAX) {
            print_error("key %.*s: element %zu handed over differs from the reference\n",
                        (int)key_len, key, s.first_bad);
            fail();
        }
        assert_int_equal(s.handed, ref_len);
        toml_node *got_root = toml_root(got);
        toml_node *got_entry = toml_table_get(got_root, key, key_len);
        if (ref_array) {
            /* The kept elements, in order, as the very nodes handed over. */
            assert_non_null(got_entry);
            assert_int_equal(toml_node_type(got_entry), TOML_ARRAY);
            assert_int_equal(toml_array_len(got_entry), s.kept_len);
            for (size_t j = 0; j < s.kept_len; j++) {
                assert_ptr_equal(toml_array_at(got_entry, j), s.kept[j]);
                assert_true(toml_equal(s.kept[j], toml_array_at(ref_entry, s.kept_index[j])));
            }
            /* The array stays usable: appending after the drops must not
             * disturb the kept elements. */
            toml_node *added = toml_array_append_table(got, got_entry);
            assert_non_null(added);
            assert_int_equal(toml_table_add_integer(got, added, "added", 5, 42), 0);
            assert_int_equal(toml_array_len(got_entry), s.kept_len + 1);
            for (size_t j = 0; j < s.kept_len; j++) {
                assert_true(toml_equal(toml_array_at(got_entry, j),
                                       toml_array_at(ref_entry, s.kept_index[j])));
            }
            assert_true(toml_integer(get(toml_array_at(got_entry, s.kept_len), "added")) == 42);
        } else {
            /* Not an array at the root (absent, table, value): never handed. */
            assert_int_equal(s.handed, 0);
            assert_true(toml_equal(got_entry, ref_entry));
        }
        /* The harvested tree is a valid document: it writes and reads back. */
        size_t out_len;
        free(round_trip(got, &out_len));
        /* Everything else is exactly the reference. */
        assert_int_equal(toml_table_remove(got_root, key, key_len),
                         toml_table_remove(toml_root(ref), key, key_len));
        if (!toml_equal(got_root, toml_root(ref))) {
            print_error("key %.*s: the rest of the document differs from the reference\n",
                        (int)key_len, key);
            fail();
        }
        toml_free(got);
    }
    toml_free(ref);
    free(s.kept);
    free(s.kept_index);
    free(copy);
    return res;
}

/* Drop all; keep every third (two dropped, then one kept: the first slot
 * and later ones are reused); keep every other (more than 8192 of a big
 * store are kept, so the array outgrows 64 KiB); keep all.  Returns the
 * number handed, the same in every mode. */
static size_t harvest_all_modes(const char *text, size_t len, const char *key)
{
    static const size_t modes[] = {0, 3, 2, 1};
    size_t handed = SIZE_MAX;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        harvest_result r = harvest_run(text, len, key, strlen(key), modes[m], -1);
        if (handed != SIZE_MAX) {
            assert_int_equal(r.handed, handed);
        }
        handed = r.handed;
        if (modes[m] != 0 && r.parsed) {
            assert_int_equal(r.kept, handed / modes[m]);
        }
    }
    return handed;
}

/* A growable text for generated documents. */
typedef struct text_buf {
    char *s;
    size_t len, cap;
} text_buf;

__attribute__((format(printf, 2, 3))) static void tb_printf(text_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s != NULL ? b->s + b->len : NULL, b->s != NULL ? b->cap - b->len : 0,
                          fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (b->s != NULL && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *bigger = realloc(b->s, cap);
        assert_non_null(bigger);
        b->s = bigger;
        b->cap = cap;
    }
}

typedef struct harvest_doc {
    const char *text;
    size_t handed; /* elements of the root pair_token array */
} harvest_doc;

static void test_harvest_documents(void **state)
{
    (void)state;
    static const harvest_doc docs[] = {
        /* plain records after root keys, with comments, blank lines */
        {"title = 'store'\nversion = 1\n\n"
         "[[pair_token]]\ntoken_hash = \"aa\"\nprincipal = \"u1\"\nexpires_at_epoch = 1\n"
         "[[pair_token]] # second\ntoken_hash = \"bb\"\nprincipal = \"u2\"\n\n"
         "[[pair_token]]\n[[pair_token]]\nlabel = \"last\"\n",
         4},
        /* sub-tables and nested arrays of tables of every element */
        {"[[pair_token]]\nn = 1\n[pair_token.limits]\nmax = 3\n[pair_token.limits.deep]\nz = 1\n"
         "[[pair_token.sub]]\ns = 1\n[[pair_token.sub]]\ns = 2\n[[pair_token.sub.deeper]]\n"
         "[[pair_token]]\nn = 2\n[[pair_token.sub]]\n[pair_token.limits]\nmax = 4\n"
         "[[pair_token]]\nn = 3\n[pair_token.a.b.c]\n[pair_token.a]\nd = 1\n",
         3},
        /* other tables between elements; [pair_token.x] extends the last
         * element after [other], both in the middle and at the end */
        {"[[pair_token]]\nn = 1\n[other]\no = 1\n[[pair_token]]\nn = 2\n[other2]\np = 2\n"
         "[pair_token.x]\ny = 1\n[[pair_token]]\nn = 3\n[[pair_token]]\nn = 4\n[other3.q]\n"
         "[pair_token.x]\ny = 4\n[other3]\nr = 1\n[pair_token.z]\n",
         4},
        /* an element after [other] that is followed by a clean one */
        {"[[pair_token]]\na = 1\n[t]\n[[pair_token]]\nb = 2\n[[pair_token]]\nc = 3\n[[t.u]]\n"
         "[[pair_token]]\nd = 4\n",
         4},
        /* quoted header keys, with and without escapes */
        {"[[\"pair\\u005ftoken\"]]\nn = 1\n[['pair_token']]\nn = 2\n[[ \"pair_token\" ]]\nn = 3\n"
         "[\"pair\\u005Ftoken\".sub]\nx = 1\n[[pair_token]]\n\"k\\u0000ey\" = \"v\\tal\"\n"
         "[ pair_token . \"x\\ty\" ]\n[[\"pair\\U0000005ftoken\"]]\n",
         5},
        /* an escaped key creates the array */
        {"[[\"pair\\u005ftoken\"]]\nn = 1\n[[pair_token]]\nn = 2\n", 2},
        /* nested inline tables and arrays inside elements */
        {"[[pair_token]]\nv = {a = [1, {b = [2, 3]}], c = {d = {e = 'f'}}}\n"
         "m = [[1, 2], [3, [4, []]], {}]\n"
         "[[pair_token]]\nt = [{x = 1}, {x = 2, y = {z = [true]}}]\nd.e.f = 1979-05-27\n"
         "[[pair_token]]\nf = [nan, -0.0, inf]\nw = 07:32:00.5\n",
         3},
        /* multi-line strings holding what looks like headers */
        {"[[pair_token]]\ns = \"\"\"\n[[pair_token]]\nx = 1\n\"\"\"\n"
         "l = '''\n[[pair_token]]\n[pair_token.x]\n'''\n"
         "[[pair_token]]\ns = \"\"\"\\\n   [[pair_token]]\\\n\"\"\"\n",
         2},
        /* a static array, of tables or of anything */
        {"pair_token = [{a = 1}, {b = 2}]\nafter = 1\n[t]\nx = 1\n", 2},
        {"pair_token = [1, 'two', [3], {four = 4}, 1979-05-27T07:32:00Z]\n", 5},
        {"before = 0\npair_token = [\n  { a = 1 }, # c\n  { b = { c = 2 } },\n]\n", 2},
        {"pair_token = []\n", 0},
        /* not an array at the root: never handed */
        {"[pair_token]\na = 1\n[[pair_token.sub]]\n", 0},
        {"pair_token = {a = [{b = 1}]}\n", 0},
        {"pair_token.a = 1\n", 0},
        {"pair_token = 5\n", 0},
        {"[[a.pair_token]]\nx = 1\n[[a.pair_token]]\nx = 2\n[b]\npair_token = [{y = 1}]\n", 0},
        {"[[x]]\npair_token = [1]\n[[x]]\n[[x.pair_token]]\n", 0},
        {"", 0},
        {"a = 1\n[b]\n", 0},
        /* CRLF line ends and a byte order mark */
        {"\xEF\xBB\xBF"
         "a = 1\r\n[[pair_token]]\r\nx = 1\r\n[[pair_token]]\r\ny = '''a\r\nb'''\r\n",
         2},
        /* elements with many keys (a hash index), the first of them empty */
        {"[[pair_token]]\n[[pair_token]]\nk1 = 1\nk2 = 2\nk3 = 3\nk4 = 4\nk5 = 5\nk6 = 6\nk7 = 7\n"
         "k8 = 8\nk9 = 9\nk10 = 10\n[[pair_token]]\nk1 = 1\nk2 = 2\nk3 = 3\nk4 = 4\nk5 = 5\n"
         "k6 = 6\nk7 = 7\nk8 = 8\nk9 = 9\n[pair_token.k10]\n[[pair_token]]\n",
         4},
        /* many root keys (the root has a hash index too) */
        {"r1 = 1\nr2 = 2\nr3 = 3\nr4 = 4\nr5 = 5\nr6 = 6\nr7 = 7\nr8 = 8\nr9 = 9\n"
         "[[pair_token]]\na = 1\n[r10]\n[[pair_token]]\nb = 1\n[r11]\n[r12]\n",
         2},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t handed = harvest_all_modes(docs[i].text, strlen(docs[i].text), "pair_token");
        if (handed != docs[i].handed) {
            print_error("document %zu: %zu elements handed, want %zu\n", i, handed, docs[i].handed);
            fail();
        }
    }
    /* Other keys: a key with a NUL, an empty key, one that is a prefix. */
    static const char nul_key_doc[] = "[[\"a\\u0000b\"]]\nx = 1\n[[\"a\\u0000b\"]]\n[[a]]\n";
    assert_int_equal(harvest_run(nul_key_doc, strlen(nul_key_doc), "a\0b", 3, 0, -1).handed, 2);
    assert_int_equal(harvest_run(nul_key_doc, strlen(nul_key_doc), "a", 1, 0, -1).handed, 1);
    static const char empty_key_doc[] = "[[\"\"]]\nx = 1\n[[\"\"]]\n[[\"\".y]]\n";
    assert_int_equal(harvest_run(empty_key_doc, strlen(empty_key_doc), "", 0, 0, -1).handed, 2);
    static const char prefix_doc[] = "[[pair]]\n[[pair_token]]\n[[pair_tokens]]\n";
    assert_int_equal(harvest_run(prefix_doc, strlen(prefix_doc), "pair", 4, 0, -1).handed, 1);
}

/* Elements that need big arena blocks: strings over 64 KiB (decoded, so in
 * the arena; and plain, so in the input), tables over 8 keys (hash index),
 * a table of 9000 keys and an array of 9000 items (child blocks that grow
 * past 64 KiB, into blocks of their own), mixed with small elements so that
 * reusable and non-reusable ones alternate. */
static void test_harvest_big_elements(void **state)
{
    (void)state;
    text_buf b = {NULL, 0, 0};
    tb_printf(&b, "top = 1\n");
    for (int round = 0; round < 3; round++) {
        tb_printf(&b, "[[pair_token]]\nsmall = %d\n", round);
        tb_printf(&b, "[[pair_token]]\nescaped = \"");
        for (int i = 0; i < 70000; i++) {
            tb_printf(&b, i % 100 == 0 ? "\\u00e9" : "x");
        }
        tb_printf(&b, "\"\nplain = '");
        for (int i = 0; i < 70000; i++) {
            tb_printf(&b, "%c", 'a' + i % 26);
        }
        tb_printf(&b, "'\n[[pair_token]]\nsmall = %d\n", round);
        tb_printf(&b, "[[pair_token]]\n");
        for (int i = 0; i < 20; i++) {
            tb_printf(&b, "k%d = %d\n", i, i);
        }
        tb_printf(&b, "[[pair_token]]\n");
        for (int i = 0; i < 9000; i++) {
            tb_printf(&b, "k%d = '%d'\n", i, i);
        }
        tb_printf(&b, "[[pair_token.sub]]\n[[pair_token]]\narr = [");
        for (int i = 0; i < 9000; i++) {
            tb_printf(&b, "%d, ", i);
        }
        tb_printf(&b, "]\n[other%d]\n[[pair_token]]\n\"esc\\u0041ped key\" = 1\n", round);
    }
    assert_int_equal(harvest_all_modes(b.s, b.len, "pair_token"), 21);
    free(b.s);
}

/* The memory of a dropped element is reused: dropping every element of a
 * long store costs no more allocations than dropping those of a short one. */
static long harvest_allocations(const char *text, size_t len, size_t keep_first)
{
    const toml_node *kept[8];
    size_t kept_index[8];
    harvest_state s = {.first_bad = SIZE_MAX,
                       .keep_first = keep_first,
                       .kept = kept,
                       .kept_index = kept_index,
                       .kept_cap = 8};
    toml_doc *doc;
    toml_error err;
    alloc_calls = 0;
    assert_int_equal(toml_parse_harvest(text, len, "pair_token", 10, harvest_cb, &s, &doc, &err),
                     0);
    long calls = alloc_calls;
    assert_int_equal(toml_array_len(get(toml_root(doc), "pair_token")), keep_first);
    toml_free(doc);
    return calls;
}

static char *make_nested_store(size_t records, size_t *len)
{
    text_buf b = {NULL, 0, 0};
    tb_printf(&b, "version = 1\n");
    for (size_t i = 0; i < records; i++) {
        tb_printf(&b,
                  "[[pair_token]]\nn = %zu\nlabel = \"dev\\u00e9 %zu\"\ns = {a = [1, 2], b = 'x'}\n"
                  "[pair_token.limits]\nmax = %zu\n[[pair_token.sub]]\nq = 1\n[[pair_token.sub]]\n",
                  i, i, i % 7);
    }
    *len = b.len;
    return b.s;
}

static void test_harvest_many_elements(void **state)
{
    (void)state;
    enum { MANY = 20000 };
    size_t len;
    char *text = make_store(MANY, &len);
    assert_int_equal(harvest_all_modes(text, len, "pair_token"), MANY);
    size_t small_len;
    char *small = make_store(100, &small_len);
    long small_calls = harvest_allocations(small, small_len, 0);
    assert_int_equal(harvest_allocations(text, len, 0), small_calls);
    /* A few kept elements (records with unknown keys) at the start: the
     * array of them is not copied again for every dropped one after. */
    small_calls = harvest_allocations(small, small_len, 4);
    assert_int_equal(harvest_allocations(text, len, 4), small_calls);
    free(small);
    free(text);

    text = make_nested_store(MANY, &len);
    assert_int_equal(harvest_all_modes(text, len, "pair_token"), MANY);
    small = make_nested_store(100, &small_len);
    small_calls = harvest_allocations(small, small_len, 0);
    assert_int_equal(harvest_allocations(text, len, 0), small_calls);
    free(small);
    free(text);
}

/* A syntax or structure error after some elements were handed over: the
 * same error as toml_parse, at the same place. */
static void test_harvest_errors(void **state)
{
    (void)state;
    static const char *const tails[] = {
        "x = = 1\n",
        "[[pair_token]]\nn = 1\nn = 2\n",        /* duplicate in the next element */
        "label = 'again'\n",                     /* duplicate in the pending element */
        "[pair_token]\n",                        /* already an array of tables */
        "pair_token = 1\n",                      /* a key of the pending element: fine */
        "[other]\n[[pair_token]]\n[other]\n",    /* defined twice */
        "[[pair_token]]\nlabel = \"\\uD800\"\n", /* bad escape */
        "[[pair_token]]\n[pair_token.limits]\n[pair_token.limits]\n",
        "[[pair_token]]\ns = {a = 1}\n[pair_token.s]\n",
        "[[pair_token]]\ns = \"\"\"never closed\n[[pair_token]]\n",
        "[[pair_token]\n",
        "[[\"pair\\u005ftoken\"]]\nx = [1,,]\n",
        "[[pair_token]]\nd = 2023-02-29\n",
        "[[pair_token]]\n\xFF",
    };
    size_t store_len;
    char *store = make_store(50, &store_len);
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        size_t tail_len = strlen(tails[i]);
        char *text = malloc(store_len + 1 + tail_len);
        assert_non_null(text);
        memcpy(text, store, store_len);
        text[store_len] = '\n';
        memcpy(text + store_len + 1, tails[i], tail_len);
        static const size_t modes[] = {0, 3, 1};
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            harvest_result r =
                harvest_run(text, store_len + 1 + tail_len, "pair_token", 10, modes[m], -1);
            assert_true(r.handed >= 49); /* the failure came after these */
            assert_int_equal(r.parsed, i == 4);
        }
        free(text);
    }
    free(store);
}

/* ---- writing more after a document: toml_write_more and the emitters ---- */

typedef struct emit_input {
    const toml_node *array; /* the source array of tables */
    const char *label;      /* needs every kind of escape */
    size_t label_len;
    int fail_more; /* returned by emit_records */
} emit_input;

static bool skip_emitted(const char *key, size_t key_len)
{
    /* Written by the emitters themselves, or left out on purpose. */
    static const char *const skipped[] = {"token_hash", "label", "secret", "private",
                                          "private_list"};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++) {
        if (key_len == strlen(skipped[i]) && memcmp(key, skipped[i], key_len) == 0) {
            return true;
        }
    }
    return false;
}

static int emit_records(toml_emitter *e, void *ctx)
{
    const emit_input *in = ctx;
    for (size_t i = 0; i < toml_array_len(in->array); i++) {
        toml_emit_array_header(e, "pair_token", 10);
        toml_emit_string(e, "token_hash", 10, i == 0 ? "h0" : "h1", 2);
        toml_emit_string(e, "label", 5, in->label, in->label_len);
        toml_emit_integer(e, "expires_at_epoch", 16, i == 0 ? INT64_MIN : INT64_MAX);
        toml_emit_table_rest(e, in->array, toml_array_at(in->array, i), skip_emitted);
    }
    assert_false(toml_emit_failed(e));
    return in->fail_more;
}

typedef struct collected {
    char *bytes;
    size_t len, cap;
    size_t calls, fail_at_call; /* fail_at_call: 0 never */
} collected;

static int collect_sink(const char *bytes, size_t len, void *ctx)
{
    collected *c = ctx;
    c->calls++;
    if (c->fail_at_call != 0 && c->calls >= c->fail_at_call) {
        return 1;
    }
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->bytes = realloc(c->bytes, c->cap);
        assert_non_null(c->bytes);
    }
    memcpy(c->bytes + c->len, bytes, len);
    c->len += len;
    return 0;
}

static void test_harvest_emitters(void **state)
{
    (void)state;
    /* The records the emitters copy from, with the keys to skip. */
    parsed src = parse_ok("[[pair_token]]\n"
                          "token_hash = 'old'\nlabel = 'old'\n"
                          "extra = \"kept\"\nn = 7\n\"quoted key\" = 1.5\n"
                          "when = 1979-05-27T07:32:00Z\nlist = [1, [2, 'x'], {y = 3}]\n"
                          "inline = {a = {b = 1}}\ndotted.x.y = true\n"
                          "secret = 'left out'\n"
                          "[pair_token.limits]\nmax = 3\n"
                          "[pair_token.limits.deep]\nz = 'q'\n"
                          "[pair_token.empty]\n"
                          "[pair_token.secret2.secret]\nhidden = 1\n"
                          "[pair_token.private]\nx = 1\n"
                          "[[pair_token.private_list]]\n"
                          "[[pair_token.sub]]\ns = 1\n"
                          "[[pair_token.sub]]\n"
                          "[[pair_token]]\n"
                          "token_hash = 'old2'\nonly = 1\n"
                          "[secret]\nx = 1\n");
    /* Quotes, backslash, every kind of control, DEL, NUL, non-ASCII. */
    static const char label[] =
        "q\"b\\s\0\x01\b\t\n\f\r\x1F\x7F \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    emit_input in = {get(src.root, "pair_token"), label, sizeof label - 1, 0};
    /* The document the records are written after: other keys, tables. */
    parsed doc = parse_ok("title = 'store'\nversion = 2\n[meta]\nowner = 'x'\n[[other]]\n");
    collected out = {NULL, 0, 0, 0, 0};
    assert_int_equal(toml_write_more(doc.doc, emit_records, &in, collect_sink, &out), 0);

    /* The document first, exactly as toml_write writes it. */
    size_t doc_len;
    char *doc_text = write_text(doc.doc, &doc_len);
    assert_true(out.len > doc_len);
    assert_memory_equal(out.bytes, doc_text, doc_len);
    free(doc_text);
    /* The label escaped as the writer escapes strings. */
    static const char escaped[] =
        "label = \"q\\\"b\\\\s\\u0000\\u0001\\b\\t\\n\\f\\r\\u001F\\u007F "
        "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"\n";
    char *text = exact_copy(out.bytes, out.len);
    bool found = false;
    for (size_t i = 0; i + sizeof escaped - 1 <= out.len && !found; i++) {
        found = memcmp(text + i, escaped, sizeof escaped - 1) == 0;
    }
    if (!found) {
        print_error("escaped label not found in:\n%.*s\n", (int)out.len, text);
        fail();
    }

    /* Read back: the same as a hand-written expected document. */
    parsed got = parse_ok_n(text, out.len);
    parsed want = parse_ok("title = 'store'\nversion = 2\n[meta]\nowner = 'x'\n[[other]]\n"
                           "[[pair_token]]\n"
                           "token_hash = 'h0'\n"
                           "label = \"q\\\"b\\\\s\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\u007f "
                           "\\u00e9\\u20ac\\U0001F600\"\n"
                           "expires_at_epoch = -9223372036854775808\n"
                           "extra = \"kept\"\nn = 7\n\"quoted key\" = 1.5\n"
                           "when = 1979-05-27T07:32:00Z\nlist = [1, [2, 'x'], {y = 3}]\n"
                           "inline = {a = {b = 1}}\ndotted.x.y = true\n"
                           "[pair_token.limits]\nmax = 3\n"
                           "[pair_token.limits.deep]\nz = 'q'\n"
                           "[pair_token.empty]\n"
                           "[pair_token.secret2.secret]\nhidden = 1\n"
                           "[[pair_token.sub]]\ns = 1\n"
                           "[[pair_token.sub]]\n"
                           "[[pair_token]]\n"
                           "token_hash = 'h1'\n"
                           "label = \"q\\\"b\\\\s\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\u007f "
                           "\\u00e9\\u20ac\\U0001F600\"\n"
                           "expires_at_epoch = 9223372036854775807\n"
                           "only = 1\n");
    if (!toml_equal(got.root, want.root)) {
        print_error("written:\n%.*s\n", (int)out.len, text);
        fail();
    }
    /* And through the accessors. */
    toml_node *records = get(got.root, "pair_token");
    assert_int_equal(toml_array_len(records), 2);
    toml_node *r0 = toml_array_at(records, 0);
    size_t len;
    const char *s = toml_string(get(r0, "label"), &len);
    assert_int_equal(len, sizeof label - 1);
    assert_memory_equal(s, label, len);
    assert_true(toml_integer(get(r0, "expires_at_epoch")) == INT64_MIN);
    assert_true(toml_integer(get(toml_array_at(records, 1), "expires_at_epoch")) == INT64_MAX);
    assert_null(get(r0, "secret"));
    assert_null(get(r0, "private"));
    assert_null(get(r0, "private_list"));
    /* skip sees the element's own keys only, not those of its sub-tables */
    assert_true(toml_integer(get(get(get(r0, "secret2"), "secret"), "hidden")) == 1);
    assert_true(toml_integer(get(get(r0, "limits"), "max")) == 3);
    assert_memory_equal(toml_string(get(get(get(r0, "limits"), "deep"), "z"), &len), "q", 1);
    assert_int_equal(toml_array_len(get(r0, "sub")), 2);
    assert_int_equal(toml_table_len(toml_array_at(records, 1)), 4);
    parsed_free(&got);
    parsed_free(&want);
    free(text);

    /* Into an empty document: no blank line before the first header. */
    toml_doc *empty = toml_new();
    out.len = 0;
    assert_int_equal(toml_write_more(empty, emit_records, &in, collect_sink, &out), 0);
    assert_true(out.len > 16);
    static const char first[] = "[[pair_token]]\ntoken_hash = \"h0\"\n";
    assert_memory_equal(out.bytes, first, sizeof first - 1);
    toml_free(empty);

    /* Failures: `more` refusing, the sink refusing while `more` writes. */
    out.len = 0;
    in.fail_more = 1;
    assert_int_equal(toml_write_more(doc.doc, emit_records, &in, collect_sink, &out), -1);
    in.fail_more = 0;
    assert_int_equal(toml_write_more(NULL, emit_records, &in, collect_sink, &out), -1);
    assert_int_equal(toml_write_more(doc.doc, emit_records, &in, NULL, &out), -1);
    free(out.bytes);
    parsed_free(&doc);
    parsed_free(&src);
}

/* The exact text: canonical sections, a blank line before each header. */
static void test_harvest_emit_exact_text(void **state)
{
    (void)state;
    parsed src = parse_ok("[[pair_token]]\ntoken_hash = 'x'\nextra = 'e'\nsecret = 1\n"
                          "[pair_token.limits]\nmax = 3\n[pair_token.private]\n"
                          "[[pair_token.sub]]\ns = 1\n"
                          "[[pair_token]]\nonly = 1\n");
    emit_input in = {get(src.root, "pair_token"), "L", 1, 0};
    parsed doc = parse_ok("a = 1\n[t]\nb = 2\n");
    collected out = {NULL, 0, 0, 0, 0};
    assert_int_equal(toml_write_more(doc.doc, emit_records, &in, collect_sink, &out), 0);
    static const char want[] = "a = 1\n"
                               "\n[t]\n"
                               "b = 2\n"
                               "\n[[pair_token]]\n"
                               "token_hash = \"h0\"\n"
                               "label = \"L\"\n"
                               "expires_at_epoch = -9223372036854775808\n"
                               "extra = \"e\"\n"
                               "\n[pair_token.limits]\n"
                               "max = 3\n"
                               "\n[[pair_token.sub]]\n"
                               "s = 1\n"
                               "\n[[pair_token]]\n"
                               "token_hash = \"h1\"\n"
                               "label = \"L\"\n"
                               "expires_at_epoch = 9223372036854775807\n"
                               "only = 1\n";
    if (out.len != sizeof want - 1 || memcmp(out.bytes, want, out.len) != 0) {
        print_error("written:\n%.*s\nwant:\n%s\n", (int)out.len, out.bytes, want);
        fail();
    }
    free(out.bytes);
    parsed_free(&doc);
    parsed_free(&src);
}

/* A sink that refuses while `more` is writing: the emitters say so, and the
 * whole write fails. */
typedef struct big_emit {
    char *value;
    size_t len;
    bool failed_seen;
} big_emit;

static int emit_big(toml_emitter *e, void *ctx)
{
    big_emit *b = ctx;
    assert_false(toml_emit_failed(e));
    for (int i = 0; i < 4; i++) {
        toml_emit_array_header(e, "pair_token", 10);
        toml_emit_string(e, "v", 1, b->value, b->len);
    }
    b->failed_seen = toml_emit_failed(e);
    return 0;
}

static void test_harvest_emit_sink_failure(void **state)
{
    (void)state;
    big_emit b = {malloc(100000), 100000, false};
    assert_non_null(b.value);
    memset(b.value, 'v', b.len);
    parsed doc = parse_ok("a = 1\n");
    collected out = {NULL, 0, 0, 0, 1};
    assert_int_equal(toml_write_more(doc.doc, emit_big, &b, collect_sink, &out), -1);
    assert_true(b.failed_seen);
    /* The same with a sink that accepts: everything arrives. */
    out.fail_at_call = 0;
    out.calls = 0;
    b.failed_seen = true;
    assert_int_equal(toml_write_more(doc.doc, emit_big, &b, collect_sink, &out), 0);
    assert_false(b.failed_seen);
    parsed back = parse_ok_n(out.bytes, out.len);
    assert_int_equal(toml_array_len(get(back.root, "pair_token")), 4);
    size_t len;
    toml_string(get(toml_array_at(get(back.root, "pair_token"), 3), "v"), &len);
    assert_int_equal(len, b.len);
    parsed_free(&back);
    parsed_free(&doc);
    free(out.bytes);
    free(b.value);
}

/* ---- harvest over the toml-test suite ---- */

static char *read_whole_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    text_buf b = {NULL, 0, 0};
    char chunk[4096];
    size_t n;
    tb_printf(&b, "%s", "");
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > b.cap) {
            b.cap = (b.len + n) * 2;
            b.s = realloc(b.s, b.cap);
            assert_non_null(b.s);
        }
        memcpy(b.s + b.len, chunk, n);
        b.len += n;
    }
    fclose(f);
    *len = b.len;
    return b.s;
}

/* Every valid file of the suite (found as tests/toml/runner.c finds it),
 * harvested on each of its root arrays; every invalid one on the names of
 * its [[headers]], which must fail exactly as toml_parse does. */
static void test_harvest_toml_test_suite(void **state)
{
    (void)state;
    const char *suite = getenv("TOML_TEST_DIR");
    if (suite == NULL || *suite == '\0') {
        suite = "../shared/toml-test";
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/files-toml-1.0.0", suite);
    FILE *list = fopen(path, "r");
    if (list == NULL) {
        print_message("toml-test suite not found at %s: skipped\n", suite);
        skip();
    }
    char line[4096];
    size_t valid_files = 0, invalid_files = 0, arrays = 0, handed = 0;
    while (fgets(line, sizeof line, list) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t n = strlen(line);
        if (n < 5 || strcmp(line + n - 5, ".toml") != 0) {
            continue;
        }
        bool valid = strncmp(line, "valid/", 6) == 0;
        char file[sizeof path + sizeof line];
        snprintf(file, sizeof file, "%s/tests/%s", suite, line);
        size_t len = 0;
        char *text = read_whole_file(file, &len);
        assert_non_null(text);
        if (valid) {
            valid_files++;
            parsed p = parse_ok_n(text, len);
            for (size_t i = 0; i < toml_table_len(p.root); i++) {
                const char *key;
                size_t key_len;
                toml_node *v = toml_table_at(p.root, i, &key, &key_len);
                if (toml_node_type(v) != TOML_ARRAY) {
                    continue;
                }
                arrays++;
                for (size_t keep = 0; keep <= 2; keep += 2) {
                    harvest_result r = harvest_run(text, len, key, key_len, keep, -1);
                    assert_int_equal(r.handed, toml_array_len(v));
                    handed += r.handed;
                }
            }
            parsed_free(&p);
        } else {
            invalid_files++;
            for (const char *h = text; h + 2 <= text + len; h++) {
                if (h[0] != '[' || h[1] != '[') {
                    continue;
                }
                size_t key_len = 0;
                while (h + 2 + key_len < text + len &&
                       (h[2 + key_len] == '_' || h[2 + key_len] == '-' ||
                        (h[2 + key_len] >= '0' && h[2 + key_len] <= '9') ||
                        ((h[2 + key_len] | 0x20) >= 'a' && (h[2 + key_len] | 0x20) <= 'z'))) {
                    key_len++;
                }
                if (key_len > 0) {
                    assert_false(harvest_run(text, len, h + 2, key_len, 0, -1).parsed);
                }
            }
        }
        free(text);
    }
    fclose(list);
    print_message("harvested %zu root arrays (%zu elements) of %zu valid files; %zu invalid "
                  "files\n",
                  arrays, handed / 2, valid_files, invalid_files);
    /* Guard against silently testing nothing (a moved or emptied suite). */
    assert_true(valid_files >= 100 && invalid_files >= 100 && arrays >= 50);
}

/* ---- allocation failures ---- */

static const char oom_doc[] = "title = \"t\\u00e9st\"\n"
                              "ints = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]\n"
                              "when = 1979-05-27T07:32:00Z\n"
                              "f = 1.5\n"
                              "[t]\na.b.c = {d = [{e = 1}], f = 'x'}\n"
                              "[[p]]\nk1 = 1\nk2 = 2\nk3 = 3\nk4 = 4\nk5 = 5\nk6 = 6\nk7 = 7\n"
                              "k8 = 8\nk9 = 9\nk10 = 10\n"
                              "[[p]]\n";

static void test_oom_parse(void **state)
{
    (void)state;
    size_t len = strlen(oom_doc);
    char *text = exact_copy(oom_doc, len);
    for (long n = 0;; n++) {
        toml_doc *doc;
        toml_error err;
        fail_allocation(n);
        int rc = toml_parse(text, len, &doc, &err);
        allocations_succeed();
        if (rc == 0) {
            assert_true(n > 0);
            toml_free(doc);
            break;
        }
        assert_null(doc);
        assert_true(err.oom);
        assert_string_equal(err.message, "out of memory");
    }
    free(text);
}

static void test_oom_write_and_build(void **state)
{
    (void)state;
    parsed p = parse_ok(oom_doc);
    size_t good_len;
    char *good = write_text(p.doc, &good_len);
    for (long n = 0;; n++) {
        char *text = NULL;
        size_t len = 0;
        fail_allocation(n);
        int rc = toml_write_alloc(p.doc, &text, &len);
        allocations_succeed();
        if (rc == 0) {
            assert_int_equal(len, good_len);
            assert_memory_equal(text, good, len);
            free(text);
            break;
        }
        assert_null(text);
    }
    for (long n = 0;; n++) {
        sink_state s = {0, 0, 0};
        fail_allocation(n);
        int rc = toml_write(p.doc, counting_sink, &s);
        allocations_succeed();
        if (rc == 0) {
            break;
        }
    }
    /* Builders: a failure leaves the document as it was. */
    for (long n = 0;; n++) {
        toml_doc *doc = NULL;
        fail_allocation(n);
        doc = toml_new();
        bool done = false;
        if (doc != NULL) {
            toml_node *root = toml_root(doc);
            toml_node *t = toml_table_add_table(doc, root, "t", 1);
            toml_node *a = t ? toml_table_add_array(doc, t, "a", 1) : NULL;
            toml_node *e = a ? toml_array_append_table(doc, a) : NULL;
            int rc = e ? toml_table_add_string(doc, e, "s", 1, "v", 1) : -1;
            for (int i = 0; rc == 0 && i < 20; i++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", i);
                rc = toml_table_add_integer(doc, root, key, strlen(key), i);
            }
            allocations_succeed();
            done = rc == 0;
            /* Whatever was built must still be a valid, writable tree. */
            size_t len;
            free(round_trip(doc, &len));
        }
        allocations_succeed();
        toml_free(doc);
        if (done) {
            break;
        }
    }
    free(good);
    parsed_free(&p);
}

/* Harvest parses failing at every allocation: each fails cleanly (no doc,
 * an out-of-memory error) or succeeds with every harvest promise kept. */
static void test_oom_harvest(void **state)
{
    (void)state;
    static const char doc[] = "title = \"t\\u00e9st\"\n"
                              "[[p]]\nk1 = 1\nk2 = \"v\\u00e9\"\n[p.sub]\nx = [1, {y = 2}]\n"
                              "[[p.list]]\n[[p.list]]\nz = 1\n"
                              "[[p]]\nk1 = 2\nk2 = 3\nk3 = 3\nk4 = 4\nk5 = 5\nk6 = 6\nk7 = 7\n"
                              "k8 = 8\nk9 = 9\nk10 = 10\n"
                              "[other]\n[p.more]\n"
                              "[[\"\\u0070\"]]\n[[p]]\nlast = 1979-05-27T07:32:00Z\n";
    for (size_t keep = 0; keep <= 2; keep++) {
        for (long n = 0;; n++) {
            harvest_result r = harvest_run(doc, sizeof doc - 1, "p", 1, keep, n);
            if (r.handed != SIZE_MAX) {
                assert_true(n > 0);
                assert_int_equal(r.handed, 4);
                break;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_token_entry),
        cmocka_unit_test(test_all_value_kinds),
        cmocka_unit_test(test_integer_boundaries),
        cmocka_unit_test(test_strings_with_nul),
        cmocka_unit_test(test_no_nul_terminator),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_errors_characters),
        cmocka_unit_test(test_errors_strings),
        cmocka_unit_test(test_errors_syntax),
        cmocka_unit_test(test_errors_dates),
        cmocka_unit_test(test_errors_keys_and_tables),
        cmocka_unit_test(test_error_too_large),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_pair_token_store_100k),
        cmocka_unit_test(test_big_table),
        cmocka_unit_test(test_big_array_after_many_keys),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_builder_big_table),
        cmocka_unit_test(test_array_retain_keeps_order),
        cmocka_unit_test(test_writer_escapes_every_control),
        cmocka_unit_test(test_writer_canonical_form),
        cmocka_unit_test(test_writer_sink),
        cmocka_unit_test(test_random_round_trips),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_accessors_on_other_types),
        cmocka_unit_test(test_oom_parse),
        cmocka_unit_test(test_oom_write_and_build),
        cmocka_unit_test(test_harvest_documents),
        cmocka_unit_test(test_harvest_big_elements),
        cmocka_unit_test(test_harvest_many_elements),
        cmocka_unit_test(test_harvest_errors),
        cmocka_unit_test(test_harvest_emitters),
        cmocka_unit_test(test_harvest_emit_exact_text),
        cmocka_unit_test(test_harvest_emit_sink_failure),
        cmocka_unit_test(test_harvest_toml_test_suite),
        cmocka_unit_test(test_oom_harvest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
