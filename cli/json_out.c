/* SPDX-License-Identifier: ISC */
/*
 * json_out.c - the --json output of pairtok (see json_out.h).
 */
#include "json_out.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

/* Each block remembers its size in front of it so that free can wipe it. */
typedef union wipe_header {
    size_t size;
    max_align_t align;
} wipe_header;

static void *wipe_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(wipe_header)) {
        return NULL;
    }
    wipe_header *h = malloc(sizeof *h + size);
    if (h == NULL) {
        return NULL;
    }
    h->size = size;
    return h + 1;
}

static void wipe_free(void *p)
{
    if (p == NULL) {
        return;
    }
    wipe_header *h = (wipe_header *)p - 1;
    sodium_memzero(p, h->size);
    free(h);
}

void cli_json_init(void)
{
    json_set_alloc_funcs(wipe_malloc, wipe_free);
}

/* json_object_set_new() steals `value` even on failure, so a NULL from a
 * failed constructor only needs to be noticed, not freed. */
static int set(json_t *obj, const char *key, json_t *value)
{
    return value == NULL ? -1 : json_object_set_new(obj, key, value);
}

static int set_label(json_t *obj, const pairtok_record *rec)
{
    return set(obj, "label", rec->label != NULL ? json_string(rec->label) : json_null());
}

static int set_times(json_t *obj, const pairtok_record *rec)
{
    /* The library stores TOML integers, so both fit in json_int_t. */
    if (set(obj, "issued_at_epoch", json_integer((json_int_t)rec->issued_at_epoch)) != 0) {
        return -1;
    }
    return set(obj, "expires_at_epoch", json_integer((json_int_t)rec->expires_at_epoch));
}

static int set_id(json_t *obj, const pairtok_record *rec)
{
    return set(obj, "id", json_stringn(rec->token_hash, PAIRTOK_ID_DISPLAY_LEN));
}

static int fill_list(json_t *obj, const pairtok_record *rec)
{
    if (set_id(obj, rec) != 0 || set(obj, "principal", json_string(rec->principal)) != 0 ||
        set_label(obj, rec) != 0) {
        return -1;
    }
    return set_times(obj, rec);
}

static int fill_redeem(json_t *obj, const pairtok_record *rec)
{
    if (set(obj, "principal", json_string(rec->principal)) != 0 || set_label(obj, rec) != 0 ||
        set_times(obj, rec) != 0) {
        return -1;
    }
    return set_id(obj, rec);
}

static int fill(json_t *obj, const pairtok_record *rec, const char *token, cli_json_shape shape)
{
    switch (shape) {
    case CLI_JSON_ISSUE:
        /* An issue object is a list object with the token in front. */
        return set(obj, "token", json_string(token)) != 0 ? -1 : fill_list(obj, rec);
    case CLI_JSON_LIST:
        return fill_list(obj, rec);
    case CLI_JSON_REDEEM:
        return fill_redeem(obj, rec);
    }
    return -1;
}

json_t *cli_json_record(const pairtok_record *rec, const char *token, cli_json_shape shape)
{
    json_t *obj = json_object();
    if (obj != NULL && fill(obj, rec, token, shape) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

static int write_chunk(const char *buffer, size_t size, void *data)
{
    return cli_write_all(*(const int *)data, buffer, size);
}

int cli_json_write(int fd, const json_t *value)
{
    errno = 0;
    if (json_dump_callback(value, write_chunk, &fd, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0) {
        if (errno == 0) {
            errno = ENOMEM; /* jansson's only other failure */
        }
        return -1;
    }
    return cli_write_all(fd, "\n", 1);
}
