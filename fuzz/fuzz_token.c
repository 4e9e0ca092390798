/* SPDX-License-Identifier: ISC */
/*
 * fuzz_token - libFuzzer harness for presented tokens.
 *
 * The input bytes are a token as a caller might pass it:
 *   - pairtok_token_is_well_formed(data, size) on a buffer of exactly the
 *     input's size (no terminator: an overread is caught) must agree with an
 *     independent check: 32 characters of [A-Za-z0-9_-];
 *   - pairtok_redeem_at with the input as a C string (up to its first NUL),
 *     on an empty store (no file) and on a store with records, with and
 *     without a bind callback, must give PAIRTOK_EINVAL when the trimmed
 *     string is malformed and PAIRTOK_EDENIED when it is well formed (no
 *     record can match), never anything else, and never call bind;
 *   - hashing, the hash comparison and the principal check must agree with
 *     independent implementations of their rules.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pairtok.h"
#include "sys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((uint64_t)1764321300)

static char dir[256];
static char empty_path[300], full_path[300];
static pairtok_store *empty_store, *full_store;
static pt_sys fast_sys;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_token: %s\n", what);
        abort();
    }
}

static int no_fsync(int fd)
{
    (void)fd;
    return 0;
}

static void cleanup(void)
{
    char p[320];
    pairtok_store_close(empty_store);
    pairtok_store_close(full_store);
    unlink(full_path);
    snprintf(p, sizeof p, "%s.lock", full_path);
    unlink(p);
    snprintf(p, sizeof p, "%s/full", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/empty", dir);
    rmdir(p);
    rmdir(dir);
}

static pairtok_store *open_store(const char *p)
{
    pairtok_store *s;
    pairtok_error err;
    pairtok_options opts = {.lock_timeout_ms = 1000};
    check(pairtok_store_open(p, &opts, &s, &err) == PAIRTOK_OK, "open");
    pt_set_sys(s, &fast_sys);
    return s;
}

static void init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pairtok-fuzz-token-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    check(mkdtemp(dir) != NULL, "mkdtemp");
    char p[300];
    snprintf(p, sizeof p, "%s/empty", dir);
    check(mkdir(p, 0700) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/full", dir);
    check(mkdir(p, 0700) == 0, "mkdir");
    snprintf(empty_path, sizeof empty_path, "%s/empty/pair-tokens.toml", dir);
    snprintf(full_path, sizeof full_path, "%s/full/pair-tokens.toml", dir);
    fast_sys = pt_sys_default;
    fast_sys.fsync = no_fsync;
    empty_store = open_store(empty_path);
    full_store = open_store(full_path);
    pairtok_error err;
    for (int i = 0; i < 8; i++) {
        char token[PAIRTOK_TOKEN_LEN + 1];
        check(pairtok_issue_at(full_store, i % 2 ? "alice" : "bob", "fuzz", 600, token, NULL, NOW,
                               &err) == PAIRTOK_OK,
              "issue");
    }
    atexit(cleanup);
}

static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int never_bind(const pairtok_record *rec, void *ctx)
{
    (void)rec, (void)ctx;
    check(0, "bind called for a token that matches nothing");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        init();
    }
    /* Exact-size view, no terminator. */
    int wf = size == PAIRTOK_TOKEN_LEN;
    for (size_t i = 0; wf && i < size; i++) {
        wf = is_token_char(data[i]);
    }
    check(pairtok_token_is_well_formed((const char *)data, size) == (wf != 0),
          "well-formedness disagrees");

    /* As a C string: up to the first NUL. */
    char *text = malloc(size + 1);
    check(text != NULL, "malloc");
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text), start = 0, end = len;
    while (start < end && is_space(text[start])) {
        start++;
    }
    while (end > start && is_space(text[end - 1])) {
        end--;
    }
    int trimmed_wf = end - start == PAIRTOK_TOKEN_LEN;
    for (size_t i = start; trimmed_wf && i < end; i++) {
        trimmed_wf = is_token_char((unsigned char)text[i]);
    }
    pairtok_status want = trimmed_wf ? PAIRTOK_EDENIED : PAIRTOK_EINVAL;
    pairtok_error err;
    pairtok_record rec;
    pairtok_store *stores[2] = {empty_store, full_store};
    for (int i = 0; i < 2; i++) {
        pairtok_status st = pairtok_redeem_at(stores[i], text, NULL, NULL, &rec, NOW, &err);
        check(st == want && err.code == want, "redeem status");
        check(rec.label == NULL && rec.token_hash[0] == '\0', "record_out filled on failure");
        st = pairtok_redeem_at(stores[i], text, never_bind, NULL, NULL, NOW, &err);
        check(st == want, "two-phase redeem status");
        if (trimmed_wf) {
            char bare[PAIRTOK_TOKEN_LEN + 1];
            memcpy(bare, text + start, PAIRTOK_TOKEN_LEN);
            bare[PAIRTOK_TOKEN_LEN] = '\0';
            check(strstr(err.message, bare) == NULL, "message echoes the token");
        }
    }

    char hash[PAIRTOK_HASH_LEN + 1], again[PAIRTOK_HASH_LEN + 1];
    pairtok_hash_token(text, hash);
    check(strlen(hash) == PAIRTOK_HASH_LEN, "hash length");
    pairtok_hash_token(text, again);
    check(pairtok_ct_hash_eq(hash, again), "hash not deterministic / compare");
    check(pairtok_ct_hash_eq(text, text), "compare not reflexive");
    check(!pairtok_ct_hash_eq(text, hash) || strcmp(text, hash) == 0, "compare equal wrongly");
    int same = strcmp(text, hash) == 0;
    check(pairtok_ct_hash_eq(text, hash) == (same != 0), "compare disagrees with strcmp");

    int principal = len >= 1 && len <= PAIRTOK_PRINCIPAL_MAX && strcmp(text, "anonymous") != 0;
    for (size_t i = 0; principal && i < len; i++) {
        principal = is_token_char((unsigned char)text[i]);
    }
    check(pairtok_principal_is_valid(text) == (principal != 0), "principal check disagrees");
    free(text);
    return 0;
}
