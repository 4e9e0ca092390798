/*
 * fuzz_toml - libFuzzer harness for the TOML reader and writer.
 *
 * Every input is parsed from a buffer of exactly its size (so a read past
 * the end is caught).  A failed parse must say where and why.  A successful
 * one is written (streamed and in one buffer, the same bytes), and the text
 * must parse again to an equal tree and write back to the very same bytes
 * (the writer is canonical).  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_toml: %s\n", what);
        abort();
    }
}

static void check_error(const toml_error *err)
{
    check(err->message[0] != '\0', "an error without a message");
    check(err->oom || err->line > 0 || err->col == 0, "an error without a position");
}

typedef struct collected {
    char *bytes;
    size_t len, cap;
} collected;

static int collect(const char *bytes, size_t len, void *ctx)
{
    collected *c = ctx;
    if (c->len + len > c->cap) {
        size_t cap = (c->len + len) * 2;
        char *bigger = realloc(c->bytes, cap);
        check(bigger != NULL, "out of memory");
        c->bytes = bigger;
        c->cap = cap;
    }
    memcpy(c->bytes + c->len, bytes, len);
    c->len += len;
    return 0;
}

static void check_round_trip(const toml_doc *doc)
{
    char *text = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    toml_doc *reread = NULL;
    toml_error err;
    check(toml_write_alloc(doc, &text, &len) == 0, "toml_write_alloc failed");
    if (toml_parse(text, len, &reread, &err) != 0) {
        fprintf(stderr, "fuzz_toml: written text does not parse: %u:%u: %s\n%.*s\n", err.line,
                err.col, err.message, (int)(len < 4096 ? len : 4096), text);
        abort();
    }
    check(toml_equal(toml_root(doc), toml_root(reread)), "re-read tree differs");
    collected streamed = {NULL, 0, 0};
    check(toml_write(doc, collect, &streamed) == 0, "toml_write failed");
    check(streamed.len == len && (len == 0 || memcmp(streamed.bytes, text, len) == 0),
          "toml_write and toml_write_alloc differ");
    free(streamed.bytes);
    check(toml_write_alloc(reread, &again, &again_len) == 0, "second write failed");
    check(again_len == len && (len == 0 || memcmp(again, text, len) == 0),
          "writer is not canonical");
    free(again);
    toml_free(reread);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    toml_doc *doc;
    toml_error err;
    if (toml_parse(copy, size, &doc, &err) == 0) {
        check_round_trip(doc);
        toml_free(doc);
    } else {
        check_error(&err);
    }
    free(copy);
    return 0;
}
