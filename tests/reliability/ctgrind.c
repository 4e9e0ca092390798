/* SPDX-License-Identifier: ISC */
/*
 * ctgrind.c - constant-time checks in the style of ctgrind: secrets are
 * marked undefined for valgrind memcheck, so any branch or memory index
 * that depends on them is reported ("Conditional jump or move depends on
 * uninitialised value(s)").  Run by ctgrind.sh, which reads the report.
 *
 *   ctgrind eq          pairtok_ct_hash_eq on secret hashes: must be silent.
 *                       Each hex digit is undefined except bit 0x20 (set in
 *                       every hex digit): whether a byte is the NUL is
 *                       public, as the API says lengths are; the value is
 *                       not.  Needs --expensive-definedness-checks=yes.
 *   ctgrind scan        the redeem scan (find_match in backend_file.c) over 64
 *                       records whose stored hashes are secret: the scan
 *                       must not branch on them; only the final "did any
 *                       record match" decision may (it is the answer).
 *   ctgrind token       pairtok_redeem_at with the presented token secret,
 *                       on a store of 64 records, token unknown: trimming
 *                       and the alphabet check see public shape only;
 *                       SHA-256 and the scan must not branch.
 *   ctgrind token-match the same with a token that matches (informational
 *                       after the match: consuming it may branch).
 *   ctgrind branchy     a deliberately leaky memcmp/strcmp compare of the
 *                       same secrets: valgrind MUST flag it (shows the
 *                       harness can fail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "doc.h"
#include "testutil.h"
#include "backend_file.h"

#define RECORDS 64

/* Mark a NUL-terminated hex string secret except for bit 0x20 of each
 * digit (so the terminator's position stays public). */
static void secret_hex(char *s, size_t len)
{
    unsigned char vbits[PAIRTOK_HASH_LEN];
    memset(vbits, 0xDF, sizeof vbits); /* 1 = undefined; bit 0x20 defined */
    VALGRIND_MAKE_MEM_UNDEFINED(s, len);
    VALGRIND_SET_VBITS(s, vbits, len);
}

static void declassify(void *p, size_t len)
{
    VALGRIND_MAKE_MEM_DEFINED(p, len);
}

static void make_hashes(char a[][PAIRTOK_HASH_LEN + 1], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char tok[PAIRTOK_TOKEN_LEN + 1];
        if (pairtok_generate_token(tok) != 0) {
            tu_die("csprng");
        }
        pairtok_hash_token(tok, a[i]);
    }
}

static int mode_eq(void)
{
    char h[4][PAIRTOK_HASH_LEN + 1];
    make_hashes(h, 4);
    memcpy(h[1], h[0], sizeof h[0]);        /* equal */
    h[2][63] = h[2][63] == 'a' ? 'b' : 'a'; /* differs at the end ... */
    memcpy(h[3], h[0], sizeof h[0]);
    h[3][0] = h[3][0] == 'a' ? 'b' : 'a'; /* ... and at the start */
    for (size_t i = 0; i < 4; i++) {
        secret_hex(h[i], PAIRTOK_HASH_LEN);
    }
    int results = 0;
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            bool eq = pairtok_ct_hash_eq(h[i], h[j]);
            declassify(&eq, sizeof eq);
            results += eq;
        }
    }
    printf("eq: %d equal pairs\n", results);
    return results == 4 + 2 ? 0 : 1; /* the diagonal, and h0/h1 both ways */
}

/* A store of RECORDS records; returns the handle and one issued token. */
static pairtok_store *make_store(const char *dir, char token[PAIRTOK_TOKEN_LEN + 1])
{
    pairtok_store *s;
    pairtok_error err;
    pairtok_options opts = {.max_per_principal = 1000, .max_total = 1000};
    if (pairtok_store_open(tu_join(dir, "pair-tokens.toml"), &opts, &s, &err) != PAIRTOK_OK) {
        tu_die("open: %s", err.message);
    }
    for (int i = 0; i < RECORDS; i++) {
        char tok[PAIRTOK_TOKEN_LEN + 1];
        if (pairtok_issue_at(s, "alice", NULL, 300, tok, NULL, TU_T0, &err) != PAIRTOK_OK) {
            tu_die("issue: %s", err.message);
        }
        if (i == RECORDS / 2) {
            memcpy(token, tok, sizeof tok);
        }
    }
    /* Warm the handle's cache so that redeem reuses the parsed document. */
    pairtok_record_list list = {0};
    if (pairtok_list_at(s, NULL, &list, TU_T0, &err) != PAIRTOK_OK || list.count != RECORDS) {
        tu_die("list: %s", err.message);
    }
    pairtok_record_list_free(&list);
    return s;
}

static int mode_scan(const char *dir)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_store *s = make_store(dir, token);
    file_backend *f = file_backend_of(s);
    if (f == NULL || f->cache.doc == NULL) {
        tu_die("no cached document");
    }
    const sdoc *doc = f->cache.doc;
    for (size_t i = 0; i < doc_count(doc); i++) {
        VALGRIND_MAKE_MEM_UNDEFINED(doc_at(doc, i)->hash, HASH_BYTES);
    }
    char unknown[PAIRTOK_TOKEN_LEN + 1];
    if (pairtok_generate_token(unknown) != 0) {
        tu_die("csprng");
    }
    pairtok_error err;
    pairtok_status st = pairtok_redeem_at(s, unknown, NULL, NULL, NULL, TU_T0, &err);
    declassify(&st, sizeof st);
    printf("scan: status %d\n", st);
    pairtok_store_close(s);
    return st == PAIRTOK_EDENIED ? 0 : 1;
}

static int mode_token(const char *dir, bool match)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_store *s = make_store(dir, token);
    char presented[PAIRTOK_TOKEN_LEN + 1];
    if (match) {
        memcpy(presented, token, sizeof presented);
    } else if (pairtok_generate_token(presented) != 0) {
        tu_die("csprng");
    }
    VALGRIND_MAKE_MEM_UNDEFINED(presented, PAIRTOK_TOKEN_LEN); /* the NUL stays defined */
    pairtok_error err;
    pairtok_status st = pairtok_redeem_at(s, presented, NULL, NULL, NULL, TU_T0, &err);
    declassify(&st, sizeof st);
    printf("token%s: status %d\n", match ? "-match" : "", st);
    pairtok_store_close(s);
    return st == (match ? PAIRTOK_OK : PAIRTOK_EDENIED) ? 0 : 1;
}

/* The leaky compares the harness must catch. */
__attribute__((noinline)) static bool branchy_eq(const char *a, const char *b)
{
    return memcmp(a, b, PAIRTOK_HASH_LEN) == 0;
}

__attribute__((noinline)) static bool branchy_streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

__attribute__((noinline)) static bool branchy_loop(const char *a, const char *b)
{
    for (size_t i = 0; i < PAIRTOK_HASH_LEN; i++) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

static int mode_branchy(void)
{
    char h[2][PAIRTOK_HASH_LEN + 1];
    make_hashes(h, 2);
    memcpy(h[1], h[0], 40); /* a long common prefix */
    secret_hex(h[0], PAIRTOK_HASH_LEN);
    secret_hex(h[1], PAIRTOK_HASH_LEN);
    bool r[3] = {branchy_eq(h[0], h[1]), branchy_streq(h[0], h[1]), branchy_loop(h[0], h[1])};
    declassify(r, sizeof r);
    printf("branchy: %d %d %d\n", r[0], r[1], r[2]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ctgrind eq|scan|token|token-match|branchy\n");
        return 2;
    }
    if (!RUNNING_ON_VALGRIND) {
        fprintf(stderr, "ctgrind: run me under valgrind (see ctgrind.sh)\n");
    }
    char *dir = tu_mkdtemp("ctgrind");
    int rc = 2;
    if (strcmp(argv[1], "eq") == 0) {
        rc = mode_eq();
    } else if (strcmp(argv[1], "scan") == 0) {
        rc = mode_scan(dir);
    } else if (strcmp(argv[1], "token") == 0) {
        rc = mode_token(dir, false);
    } else if (strcmp(argv[1], "token-match") == 0) {
        rc = mode_token(dir, true);
    } else if (strcmp(argv[1], "branchy") == 0) {
        rc = mode_branchy();
    }
    tu_rm_tree(dir);
    free(dir);
    return rc;
}
