/* SPDX-License-Identifier: ISC */
/*
 * fuzz_toml - libFuzzer harness for the TOML reader and writer.
 *
 * Every input is parsed from a buffer of exactly its size (so a read past
 * the end is caught).  A failed parse must say where and why.  A successful
 * one is written (streamed and in one buffer, the same bytes), and the text
 * must parse again to an equal tree and write back to the very same bytes
 * (the writer is canonical).
 *
 * Every input is also parsed with toml_parse_harvest, on "pair_token" and
 * on each root key holding an array, dropping every element and keeping
 * every other one, against toml_parse as the reference: the same success or
 * the same error (line, column, message); each element handed equals the
 * reference element of its index; after the parse the kept elements are
 * the very nodes handed, intact and in order, and the rest of the tree is
 * the reference's.  A dropped element's memory is reused for the next one,
 * so these catch any reuse that reaches a live node.  Any broken promise
 * aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/toml/toml_build.h"
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

/* A sink that checks what is streamed against the text written before. */
typedef struct expected {
    const char *bytes;
    size_t len, at;
} expected;

static int compare(const char *bytes, size_t len, void *ctx)
{
    expected *e = ctx;
    if (len > e->len - e->at || memcmp(e->bytes + e->at, bytes, len) != 0) {
        return -1;
    }
    e->at += len;
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
    expected streamed = {text, len, 0};
    check(toml_write(doc, compare, &streamed) == 0 && streamed.at == len,
          "toml_write and toml_write_alloc differ");
    check(toml_write_alloc(reread, &again, &again_len) == 0, "second write failed");
    check(again_len == len && (len == 0 || memcmp(again, text, len) == 0),
          "writer is not canonical");
    free(again);
    toml_free(reread);
    free(text);
}

/* ---- toml_parse_harvest against toml_parse ---- */

typedef struct harvest_state {
    bool reference_ok;          /* toml_parse succeeded: elements can be compared */
    const toml_node *reference; /* then the reference root's entry for the key, or NULL */
    size_t keep_every;          /* keep element i when (i + 1) % keep_every == 0; 0: none */
    size_t handed;
    const toml_node **kept;
    size_t *kept_index;
    size_t kept_len, kept_cap;
} harvest_state;

static bool harvest_cb(toml_node *element, size_t index, void *ctx)
{
    harvest_state *s = ctx;
    check(index == s->handed, "harvest: index does not count the elements handed");
    s->handed++;
    if (s->reference_ok) {
        /* Now, while the element is in the tree: once dropped, its memory
         * may hold the next one. */
        check(s->reference != NULL && toml_node_type(s->reference) == TOML_ARRAY &&
                  index < toml_array_len(s->reference),
              "harvest: an element the reference does not have");
        check(toml_equal(element, toml_array_at(s->reference, index)),
              "harvest: an element differs from the reference");
    }
    if (s->keep_every == 0 || (index + 1) % s->keep_every != 0) {
        return false;
    }
    if (s->kept_len == s->kept_cap) {
        s->kept_cap = s->kept_cap * 2 + 8;
        s->kept = realloc(s->kept, s->kept_cap * sizeof *s->kept);
        s->kept_index = realloc(s->kept_index, s->kept_cap * sizeof *s->kept_index);
        check(s->kept != NULL && s->kept_index != NULL, "out of memory");
    }
    s->kept[s->kept_len] = element;
    s->kept_index[s->kept_len++] = index;
    return true;
}

static void check_harvest(const char *data, size_t size, const char *key, size_t key_len,
                          size_t keep_every)
{
    toml_doc *ref = NULL, *got = NULL;
    toml_error ref_err, got_err;
    memset(&ref_err, 0, sizeof ref_err);
    memset(&got_err, 0, sizeof got_err);
    int ref_rc = toml_parse(data, size, &ref, &ref_err);
    harvest_state s = {ref_rc == 0, NULL, keep_every, 0, NULL, NULL, 0, 0};
    if (ref_rc == 0) {
        s.reference = toml_table_get(toml_root(ref), key, key_len);
    }
    int rc = toml_parse_harvest(data, size, key, key_len, harvest_cb, &s, &got, &got_err);
    if (ref_rc != 0) {
        if (rc == 0 || got != NULL || got_err.line != ref_err.line || got_err.col != ref_err.col ||
            got_err.oom != ref_err.oom || strcmp(got_err.message, ref_err.message) != 0) {
            fprintf(stderr,
                    "fuzz_toml: harvest on \"%.*s\": toml_parse failed at %u:%u: %s\n"
                    "but toml_parse_harvest gave %d at %u:%u: %s\n",
                    (int)key_len, key, ref_err.line, ref_err.col, ref_err.message, rc, got_err.line,
                    got_err.col, got_err.message);
            abort();
        }
    } else {
        if (rc != 0) {
            fprintf(stderr, "fuzz_toml: harvest on \"%.*s\" failed at %u:%u: %s\n", (int)key_len,
                    key, got_err.line, got_err.col, got_err.message);
            abort();
        }
        bool ref_array = s.reference != NULL && toml_node_type(s.reference) == TOML_ARRAY;
        check(s.handed == (ref_array ? toml_array_len(s.reference) : 0),
              "harvest: not every element was handed over");
        toml_node *got_root = toml_root(got);
        toml_node *got_entry = toml_table_get(got_root, key, key_len);
        if (ref_array) {
            check(got_entry != NULL && toml_node_type(got_entry) == TOML_ARRAY &&
                      toml_array_len(got_entry) == s.kept_len,
                  "harvest: the array does not hold the kept elements");
            for (size_t j = 0; j < s.kept_len; j++) {
                check(toml_array_at(got_entry, j) == s.kept[j],
                      "harvest: a kept element is not the node handed over");
                check(toml_equal(s.kept[j], toml_array_at(s.reference, s.kept_index[j])),
                      "harvest: a kept element changed after it was handed over");
            }
        } else {
            check(toml_equal(got_entry, s.reference), "harvest: a non-array entry differs");
        }
        check_round_trip(got);
        check(toml_table_remove(got_root, key, key_len) ==
                  toml_table_remove(toml_root(ref), key, key_len),
              "harvest: the entry is in one tree only");
        check(toml_equal(got_root, toml_root(ref)),
              "harvest: the rest of the document differs from the reference");
    }
    toml_free(got);
    toml_free(ref);
    free(s.kept);
    free(s.kept_index);
}

/* Drop all, keep every other (the first slot is reused, then a later one). */
static void check_harvest_modes(const char *data, size_t size, const char *key, size_t key_len)
{
    check_harvest(data, size, key, key_len, 0);
    check_harvest(data, size, key, key_len, 2);
}

enum { HARVEST_MAX_KEYS = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    toml_doc *doc;
    toml_error err;
    check_harvest_modes(copy, size, "pair_token", 10);
    if (toml_parse(copy, size, &doc, &err) == 0) {
        check_round_trip(doc);
        /* Root arrays of any name, so that the fuzzer need not find
         * "pair_token" to reach the harvest. */
        const toml_node *root = toml_root(doc);
        size_t tried = 0;
        for (size_t i = 0; i < toml_table_len(root) && tried < HARVEST_MAX_KEYS; i++) {
            const char *key;
            size_t key_len;
            const toml_node *v = toml_table_at(root, i, &key, &key_len);
            if (toml_node_type(v) == TOML_ARRAY &&
                !(key_len == 10 && memcmp(key, "pair_token", 10) == 0)) {
                check_harvest_modes(copy, size, key, key_len);
                tried++;
            }
        }
        toml_free(doc);
    } else {
        check_error(&err);
        /* The same failure on the name of the first [[header]], if bare. */
        for (size_t i = 0; i + 2 < size; i++) {
            if (copy[i] == '[' && copy[i + 1] == '[') {
                size_t n = 0;
                while (i + 2 + n < size &&
                       (copy[i + 2 + n] == '_' || copy[i + 2 + n] == '-' ||
                        (copy[i + 2 + n] >= '0' && copy[i + 2 + n] <= '9') ||
                        ((copy[i + 2 + n] | 0x20) >= 'a' && (copy[i + 2 + n] | 0x20) <= 'z'))) {
                    n++;
                }
                if (n > 0) {
                    check_harvest_modes(copy, size, copy + i + 2, n);
                }
                break;
            }
        }
    }
    free(copy);
    return 0;
}
