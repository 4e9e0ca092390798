/* SPDX-License-Identifier: ISC */
/*
 * gen.h - a generated pair-token store of any size, shared by toml-perf
 * (tests/toml/perf.c) and test_toml's 100,000-record test.
 */
#ifndef PAIRTOK_TOML_GEN_H
#define PAIRTOK_TOML_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* `records` [[pair_token]] tables exactly as the writer lays them out (so
 * that a round trip is byte-exact): pseudo-random hashes, principals user0
 * to user976, record i expiring at 1764322800 + i, issued 300 s before,
 * labelled "device i".  Malloc'd, NUL-terminated, length in *len; NULL if
 * out of memory. */
static inline char *toml_gen_store(size_t records, size_t *len)
{
    size_t cap = records * 220 + 1;
    char *text = malloc(cap);
    if (text == NULL) {
        return NULL;
    }
    size_t used = 0;
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < records; i++) {
        char hash[65];
        for (int j = 0; j < 64; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            hash[j] = "0123456789abcdef"[x & 15];
        }
        hash[64] = '\0';
        used +=
            (size_t)snprintf(text + used, cap - used,
                             "%s[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"user%zu\"\n"
                             "expires_at_epoch = %zu\nissued_at_epoch = %zu\n"
                             "label = \"device %zu\"\n",
                             i > 0 ? "\n" : "", hash, i % 977, 1764322800 + i, 1764322500 + i, i);
    }
    *len = used;
    return text;
}

#endif
