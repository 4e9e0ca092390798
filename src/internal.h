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
#define PAIRTOK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PAIRTOK_HIDDEN __attribute__((visibility("hidden")))
#else
#define PAIRTOK_PRINTF(fmt, args)
#define PAIRTOK_HIDDEN
#endif

/* error.c: fill `err` (may be NULL) and return `code`. */
PAIRTOK_HIDDEN pairtok_status pairtok_fail(pairtok_error *err, pairtok_status code, int sys_errno,
                                           const char *fmt, ...) PAIRTOK_PRINTF(4, 5);
/* Reset `err` to success (code OK, errno 0, empty message). */
PAIRTOK_HIDDEN void pairtok_error_clear(pairtok_error *err);
/* The message every refused redeem gets, whatever the reason. */
#define PAIRTOK_DENIED_MESSAGE "pair token invalid or expired"

/* record.c: validation of fields, shared by issue, save and load.  Each
 * returns NULL when valid, else a static description of the problem. */
PAIRTOK_HIDDEN const char *pairtok_hash_problem(const char *hash, size_t len);
PAIRTOK_HIDDEN const char *pairtok_principal_problem(const char *principal, size_t len);
/* True for `anonymous`, the one well-formed principal that is never paired. */
PAIRTOK_HIDDEN bool pairtok_principal_is_reserved(const char *principal, size_t len);
/* Label rules for labels this library writes: UTF-8, <= 4096 bytes, no
 * control characters.  `at` receives the byte offset of the problem. */
PAIRTOK_HIDDEN const char *pairtok_label_problem(const char *label, size_t len, size_t *at);
PAIRTOK_HIDDEN bool pairtok_is_token_char(unsigned char c);
/* token.c: the raw SHA-256 of `len` bytes of token, as the store keeps it. */
PAIRTOK_HIDDEN void pairtok_hash_token_raw(const char *token, size_t len, unsigned char out[32]);
/* record.c: make room for `capacity` items (PAIRTOK_OK or PAIRTOK_ENOMEM,
 * the list unchanged then). */
PAIRTOK_HIDDEN pairtok_status pairtok_record_list_reserve(pairtok_record_list *list,
                                                          size_t capacity);
/* save.c: release what a list remembers of its load.  NULL is a no-op. */
PAIRTOK_HIDDEN void list_origin_free(struct pairtok_list_origin *origin);
#endif /* PAIRTOK_INTERNAL_H */
