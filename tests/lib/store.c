/* SPDX-License-Identifier: ISC */
/* store.c - where a test's store lives, fixed tokens and the fixture store,
 * record lists, the bind callback of two-phase redeems; see testutil.h. */
#include <libpq-fe.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tu_site_init(tu_site *site, const char *tag, const char *sub)
{
    memset(site, 0, sizeof *site);
    site->root = tu_mkdtemp(tag);
    if (sub == NULL) {
        snprintf(site->dir, sizeof site->dir, "%s", site->root);
    } else {
        snprintf(site->dir, sizeof site->dir, "%s/%s", site->root, sub);
    }
    snprintf(site->path, sizeof site->path, "%s/pair-tokens.toml", site->dir);
    snprintf(site->lock, sizeof site->lock, "%s.lock", site->path);
}

void tu_site_free(tu_site *site)
{
    tu_rm_tree(site->root);
    free(site->root);
    site->root = NULL;
}

tu_site *tu_site_new(const char *tag, const char *sub)
{
    tu_site *site = malloc(sizeof *site);
    if (site == NULL) {
        tu_die("out of memory");
    }
    tu_site_init(site, tag, sub);
    return site;
}

void tu_site_delete(tu_site *site)
{
    tu_site_free(site);
    free(site);
}

pairtok_store *tu_open_with(const char *path, const pairtok_options *opts)
{
    pairtok_store *s = NULL;
    pairtok_error err;
    pairtok_status st = pairtok_store_open(path, opts, &s, &err);
    if (st != PAIRTOK_OK) {
        tu_fail("open %s: status %d: %s", path, st, err.message);
    }
    return s;
}

pairtok_store *tu_open(const tu_site *site)
{
    return tu_open_with(site->path, &site->opts);
}

static void quiet(void *ctx, const char *message)
{
    (void)ctx, (void)message;
}

/* A schema of its own on the server of tests/pg/with-pg: the location is
 * its URI with the schema as search_path. */
static void location_schema(tu_location *loc, const char *server)
{
    static unsigned serial;
    snprintf(loc->schema, sizeof loc->schema, "t%ld_%u", (long)getpid(), serial++);
    PGconn *c = PQconnectdb(server);
    PQsetNoticeProcessor(c, quiet, NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", loc->schema,
             loc->schema);
    PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        tu_die("%s: %s", sql, PQerrorMessage(c));
    }
    PQclear(res);
    PQfinish(c);
    snprintf(loc->location, sizeof loc->location, "%s&options=-csearch_path%%3D%s", server,
             loc->schema);
}

bool tu_backend_is_db(void)
{
    const char *backend = getenv("PAIRTOK_TEST_BACKEND");
    return backend != NULL && strcmp(backend, "pg") == 0;
}

void tu_location_init_db(tu_location *loc)
{
    memset(loc, 0, sizeof *loc);
    const char *server = getenv("PAIRTOK_TEST_PG");
    if (server == NULL) {
        tu_die("a database test needs a server: run it under tests/pg/with-pg");
    }
    location_schema(loc, server);
}

void tu_location_init(tu_location *loc)
{
    memset(loc, 0, sizeof *loc);
    if (tu_backend_is_db()) {
        tu_location_init_db(loc);
        return;
    }
    loc->home = tu_mkdtemp("store");
    snprintf(loc->location, sizeof loc->location, "%s/etc/pair-tokens.toml", loc->home);
}

bool tu_location_is_file(const tu_location *loc)
{
    return loc->home != NULL;
}

void tu_location_free(tu_location *loc)
{
    if (loc->home != NULL) {
        tu_rm_tree(loc->home);
        free(loc->home);
        loc->home = NULL;
        return;
    }
    PGconn *c = PQconnectdb(getenv("PAIRTOK_TEST_PG"));
    PQsetNoticeProcessor(c, quiet, NULL);
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", loc->schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

const char *const tu_tokens[TU_NTOK] = {
    "wEWrFNsi3D2oYehDDeymv_mEg9_k2qUc", "bZblQOT0g_FFlqDY_gxx_MMjZVbdFlqY",
    "cbtsn1XqLQqGZb4OVLV4326x-NkrQ-Pn", "hCdD3r03RCwSyrtSevkgXZVRE_NT0k3_",
    "irHADbpgHpoWonBFHXCKhuNBHUnUWX54", "X4-DltfPZoj6gOkXYpykLcanL3sTldfV",
    "VmQiHptYTT2VvvYwZV6u0Hg0Po3NAooV", "5GAOkfAdD3h71W1UGMp4DLjrtPENtus-",
};

const char *tu_hash_of(size_t i)
{
    static char hashes[TU_NTOK][PAIRTOK_HASH_LEN + 1];
    if (i >= TU_NTOK) {
        tu_die("no token %zu", i);
    }
    if (hashes[i][0] == '\0') {
        pairtok_hash_token(tu_tokens[i], hashes[i]);
    }
    return hashes[i];
}

char *tu_base_store(void)
{
    char *text = malloc(4096);
    if (text == NULL) {
        tu_die("out of memory");
    }
    snprintf(text, 4096,
             "# pair tokens (reliability fixture)\n"
             "owner_note = \"top-level key from a newer writer\"\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"alice\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n"
             "label = \"alice's phone\"\n"
             "future_field = \"keep me\"\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"bob\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"carol\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n",
             tu_hash_of(0), (unsigned long long)(TU_T0 + 200), (unsigned long long)(TU_T0 - 100),
             tu_hash_of(1), (unsigned long long)(TU_T0 + 3000), (unsigned long long)(TU_T0 - 100),
             tu_hash_of(2), (unsigned long long)(TU_T0 - 10), (unsigned long long)(TU_T0 - 310));
    return text;
}

tu_blob tu_base_blob(void)
{
    tu_blob b = {true, tu_base_store(), 0};
    b.len = strlen(b.data);
    return b;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

void tu_mask_unknown_hashes(char *text, size_t len, const char *const *keep, size_t n)
{
    size_t i = 0;
    while (i < len) {
        if (!is_hex(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && is_hex(text[j])) {
            j++;
        }
        if (j - i == PAIRTOK_HASH_LEN) {
            bool known = false;
            for (size_t k = 0; k < n && !known; k++) {
                known = memcmp(text + i, keep[k], PAIRTOK_HASH_LEN) == 0;
            }
            if (!known) {
                memset(text + i, 'X', PAIRTOK_HASH_LEN);
            }
        }
        i = j;
    }
}

tu_blob tu_read_file_masked(const char *path, bool mask)
{
    tu_blob b = tu_read_file(path);
    if (b.exists && mask) {
        const char *known[TU_NTOK];
        for (size_t i = 0; i < TU_NTOK; i++) {
            known[i] = tu_hash_of(i);
        }
        tu_mask_unknown_hashes(b.data, b.len, known, TU_NTOK);
    }
    return b;
}

pairtok_status tu_list_push(pairtok_record_list *list, const pairtok_record *record)
{
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 16;
        pairtok_record *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL) {
            return PAIRTOK_ENOMEM;
        }
        list->items = items;
        list->capacity = cap;
    }
    pairtok_record *slot = &list->items[list->count];
    *slot = *record;
    slot->label = NULL;
    if (record->label != NULL && (slot->label = strdup(record->label)) == NULL) {
        return PAIRTOK_ENOMEM;
    }
    list->count++;
    return PAIRTOK_OK;
}

int tu_bind(const pairtok_record *rec, void *ctx)
{
    tu_bind_ctx *c = ctx;
    if (c == NULL) {
        return 0;
    }
    c->calls++;
    if (c->principal != NULL && strcmp(rec->principal, c->principal) != 0) {
        tu_fail("bind called for %s, want %s", rec->principal, c->principal);
    }
    if (c->capture_path != NULL) {
        tu_blob_free(&c->captured);
        c->captured = tu_read_file(c->capture_path);
    }
    if (c->die) {
        _exit(c->exit_code);
    }
    return c->result;
}

pairtok_store *tu_where_open(tu_where *w, const char *tag, const pairtok_options *opts)
{
    memset(w, 0, sizeof *w);
    w->on_db = tu_backend_is_db();
    if (w->on_db) {
        tu_location_init(&w->db);
        return tu_open_with(w->db.location, opts);
    }
    tu_site_init(&w->site, tag, "etc");
    if (opts != NULL) {
        w->site.opts = *opts;
    }
    return tu_open(&w->site);
}

void tu_where_free(tu_where *w)
{
    if (w->on_db) {
        tu_location_free(&w->db);
    } else {
        tu_site_free(&w->site);
    }
}

const char *tu_where_location(const tu_where *w)
{
    return w->on_db ? w->db.location : w->site.path;
}
