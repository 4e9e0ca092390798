/* SPDX-License-Identifier: ISC */
/* record.c - what a valid record is, and record lists. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *pt_hash_problem(const char *hash, size_t len)
{
    if (len != PAIRTOK_HASH_LEN) {
        return "must be 64 lowercase hex digits (sha256 of the token)";
    }
    /* No branch per character: hex digits are random, so a branch on
     * digit-or-letter mispredicts about a third of the time. */
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)hash[i];
        unsigned digit = c - (unsigned)'0' < 10u;
        unsigned letter = c - (unsigned)'a' < 6u;
        bad |= (digit | letter) ^ 1u;
    }
    return bad ? "must be 64 lowercase hex digits (sha256 of the token)" : NULL;
}

const char *pt_principal_problem(const char *principal, size_t len)
{
    if (len == 0 || len > PAIRTOK_PRINCIPAL_MAX) {
        return "must be 1 to 64 characters of [A-Za-z0-9_-]";
    }
    for (size_t i = 0; i < len; i++) {
        if (!pt_is_token_char((unsigned char)principal[i])) {
            return "must be 1 to 64 characters of [A-Za-z0-9_-]";
        }
    }
    return NULL;
}

bool pt_principal_is_reserved(const char *principal, size_t len)
{
    return len == sizeof "anonymous" - 1 && memcmp(principal, "anonymous", len) == 0;
}

bool pairtok_principal_is_valid(const char *principal)
{
    size_t len = strnlen(principal, PAIRTOK_PRINCIPAL_MAX + 1);
    return pt_principal_problem(principal, len) == NULL &&
           !pt_principal_is_reserved(principal, len);
}

/* Length of the UTF-8 sequence at s[0..avail), 0 if it is not valid
 * (overlong, surrogate, above U+10FFFF, truncated).  `cp` gets the code
 * point. */
static size_t utf8_sequence(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, *cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, *cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, *cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > avail) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        *cp = (*cp << 6) | (s[i] & 0x3Fu);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

const char *pt_label_problem(const char *label, size_t len, size_t *at)
{
    *at = 0;
    if (len > PAIRTOK_LABEL_MAX) {
        *at = PAIRTOK_LABEL_MAX;
        return "longer than 4096 bytes";
    }
    const unsigned char *s = (const unsigned char *)label;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_sequence(s + i, len - i, &cp);
        *at = i;
        if (n == 0) {
            return "not valid UTF-8";
        }
        /* C0, DEL and C1 controls could drive a terminal that shows it. */
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            return "contains a control character";
        }
        i += n;
    }
    return NULL;
}

void pairtok_record_clear(pairtok_record *record)
{
    if (record == NULL) {
        return;
    }
    free(record->label);
    memset(record, 0, sizeof *record);
}

void pairtok_record_list_free(pairtok_record_list *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        pairtok_record_clear(&list->items[i]);
    }
    free(list->items);
    list_origin_free(list->origin);
    memset(list, 0, sizeof *list);
}

pairtok_status pt_record_list_reserve(pairtok_record_list *list, size_t capacity)
{
    if (capacity <= list->capacity) {
        return PAIRTOK_OK;
    }
    if (capacity > SIZE_MAX / sizeof *list->items) {
        return PAIRTOK_ENOMEM;
    }
    pairtok_record *items = realloc(list->items, capacity * sizeof *items);
    if (items == NULL) {
        return PAIRTOK_ENOMEM;
    }
    list->items = items;
    list->capacity = capacity;
    return PAIRTOK_OK;
}

pairtok_status pairtok_record_list_append(pairtok_record_list *list, const pairtok_record *record,
                                          pairtok_error *err)
{
    pt_error_clear(err);
    if (list->count == list->capacity &&
        pt_record_list_reserve(list, list->capacity ? list->capacity * 2 : 16) != PAIRTOK_OK) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    pairtok_record *slot = &list->items[list->count];
    *slot = *record;
    slot->label = NULL;
    if (record->label != NULL && (slot->label = strdup(record->label)) == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    list->count++;
    return PAIRTOK_OK;
}

size_t pairtok_prune_expired(pairtok_record_list *list, uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i].expires_at_epoch > now) {
            list->items[kept++] = list->items[i];
        } else {
            pairtok_record_clear(&list->items[i]);
        }
    }
    size_t removed = list->count - kept;
    list->count = kept;
    return removed;
}
