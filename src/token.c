/* SPDX-License-Identifier: ISC */
/* token.c - token generation, hashing and constant-time comparison. */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "internal.h"

pairtok_status pairtok_generate_token(char out[PAIRTOK_TOKEN_LEN + 1])
{
    out[0] = '\0';
    if (sodium_init() < 0) {
        return PAIRTOK_ERANDOM;
    }
    unsigned char raw[PAIRTOK_TOKEN_RAW_LEN];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, PAIRTOK_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return PAIRTOK_OK;
}

void pt_hash_token_raw(const char *token, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

void pairtok_hash_token(const char *token, char out[PAIRTOK_HASH_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    pt_hash_token_raw(token, strlen(token), digest);
    sodium_bin2hex(out, PAIRTOK_HASH_LEN + 1, digest, sizeof digest);
    sodium_memzero(digest, sizeof digest);
}

bool pairtok_ct_hash_eq(const char *a, const char *b)
{
    size_t len = strlen(a);
    if (len != strlen(b)) {
        return false;
    }
    return sodium_memcmp(a, b, len) == 0;
}

uint64_t pairtok_now_epoch(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec;
}

/* 1 if lo <= c <= hi, else 0, without a branch or a table lookup: the
 * subtractions borrow into bit 8 exactly when c is out of range. */
static unsigned in_range(unsigned c, unsigned lo, unsigned hi)
{
    return 1u & ~(((c - lo) | (hi - c)) >> 8);
}

/* 1 if c == want, else 0, without a branch. */
static unsigned equals(unsigned c, unsigned want)
{
    return 1u & ((((c ^ want) - 1u) >> 8));
}

/* 1 if c is in the token alphabet [A-Za-z0-9_-], without a branch. */
static unsigned token_char(unsigned c)
{
    return in_range(c, 'A', 'Z') | in_range(c, 'a', 'z') | in_range(c, '0', '9') | equals(c, '-') |
           equals(c, '_');
}

bool pt_is_token_char(unsigned char c)
{
    return token_char(c) == 1;
}

bool pairtok_token_is_well_formed(const char *token, size_t len)
{
    if (token == NULL || len != PAIRTOK_TOKEN_LEN) {
        return false;
    }
    /* The token is a secret: neither an early exit nor a branch per
     * character may show in the timing how much of it is well formed. */
    unsigned good = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)token[i];
        good &= token_char(c);
    }
    return good == 1;
}

const char *pairtok_version(void)
{
    return PAIRTOK_VERSION;
}
