/* SPDX-License-Identifier: ISC */
/*
 * internal.h - helpers shared by the files of libpairtok (not installed).
 */
#ifndef PAIRTOK_INTERNAL_H
#define PAIRTOK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pairtok.h"

#if defined(__GNUC__) || defined(__clang__)
#define PT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PT_HIDDEN __attribute__((visibility("hidden")))
#else
#define PT_PRINTF(fmt, args)
#define PT_HIDDEN
#endif

/* error.c: fill `err` (may be NULL) and return `code`. */
PT_HIDDEN pairtok_status pt_fail(pairtok_error *err, pairtok_status code, int sys_errno,
                                 const char *fmt, ...) PT_PRINTF(4, 5);
/* Reset `err` to success (code OK, errno 0, empty message). */
PT_HIDDEN void pt_error_clear(pairtok_error *err);
/* The message every refused redeem gets, whatever the reason. */
#define PT_DENIED_MESSAGE "pair token invalid or expired"

/* record.c: validation of fields, shared by issue, save and load.  Each
 * returns NULL when valid, else a static description of the problem. */
PT_HIDDEN const char *pt_hash_problem(const char *hash, size_t len);
PT_HIDDEN const char *pt_principal_problem(const char *principal, size_t len);
/* True for `anonymous`, the one well-formed principal that is never paired. */
PT_HIDDEN bool pt_principal_is_reserved(const char *principal, size_t len);
/* Label rules for labels this library writes: UTF-8, <= 4096 bytes, no
 * control characters.  `at` receives the byte offset of the problem. */
PT_HIDDEN const char *pt_label_problem(const char *label, size_t len, size_t *at);
PT_HIDDEN bool pt_is_token_char(unsigned char c);
/* token.c: the raw SHA-256 of `len` bytes of token, as the store keeps it. */
PT_HIDDEN void pt_hash_token_raw(const char *token, size_t len, unsigned char out[32]);
/* doc.c: 64 lowercase hex digits (checked before) to the raw 32 bytes, by
 * table: hashes are not secret, and libsodium's constant-time decoder is
 * slow enough to matter for 100,000 of them. */
PT_HIDDEN void pt_hash_from_hex(unsigned char out[32], const char *hex);
/* The first 8 bytes of such a hash as a big-endian integer. */
PT_HIDDEN uint64_t pt_hash_prefix(const char *hex);
/* record.c: make room for `capacity` items (PAIRTOK_OK or PAIRTOK_ENOMEM,
 * the list unchanged then). */
PT_HIDDEN pairtok_status pt_record_list_reserve(pairtok_record_list *list, size_t capacity);
/* save.c: release what a list remembers of its load.  NULL is a no-op. */
PT_HIDDEN void list_origin_free(struct pairtok_list_origin *origin);
#endif /* PAIRTOK_INTERNAL_H */
