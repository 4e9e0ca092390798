/* SPDX-License-Identifier: ISC */
/*
 * test_store.c - the store: format, file safety, locking, operations.
 *
 * The tests marked SHARED hold for every backend: with
 * PAIRTOK_TEST_BACKEND=pg (tests/pg/test-shared.sh runs this binary so,
 * under tests/pg/with-pg) only they run, each on a schema of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "pairtok.h"
#include "sys.h"
#include "testutil.h"

#define NOW 1764322500u
#define HASH_A "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

typedef struct fixture {
    tu_where at; /* <root>/etc/pair-tokens.toml, or a schema (the shared tests) */
    pairtok_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->store = tu_where_open(&f->at, "store", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pairtok_store_close(f->store);
    tu_where_free(&f->at);
    free(f);
    return 0;
}

/* The store's content, to compare before and after a call that must change
 * nothing: the file's bytes, or the records as one text. */
static char *snapshot(fixture *f)
{
    if (!f->at.on_db) {
        char *text = tu_read_file(f->at.site.path).data;
        return text != NULL ? text : strdup("");
    }
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    size_t cap = 1 + list.count * 4300, len = 0;
    char *text = calloc(1, cap);
    for (size_t i = 0; i < list.count; i++) {
        const pairtok_record *r = &list.items[i];
        len += (size_t)snprintf(text + len, cap - len, "%s %s %llu %llu %s\n", r->token_hash,
                                r->principal, (unsigned long long)r->issued_at_epoch,
                                (unsigned long long)r->expires_at_epoch, r->label ? r->label : "-");
    }
    pairtok_record_list_free(&list);
    return text;
}

/* Write the store by hand (creating etc/ 0700). */
static void write_store(const fixture *f, const char *text, mode_t mode)
{
    mkdir(f->at.site.dir, 0700);
    tu_write_file(f->at.site.path, text, strlen(text), mode);
}

static void issue_ok(fixture *f, const char *principal, const char *label, uint32_t ttl,
                     uint64_t now, char token[PAIRTOK_TOKEN_LEN + 1])
{
    pairtok_error err;
    pairtok_status st = pairtok_issue_at(f->store, principal, label, ttl, token, NULL, now, &err);
    if (st != PAIRTOK_OK) {
        fail_msg("issue failed: %s", err.message);
    }
}

static pairtok_status redeem(fixture *f, const char *token, uint64_t now, pairtok_record *out,
                             pairtok_error *err)
{
    return pairtok_redeem_at(f->store, token, NULL, NULL, out, now, err);
}

/* ---- the seed's tests --------------------------------------------------- */

static void save_load_round_trip_with_label(void **state)
{
    fixture *f = *state;
    pairtok_record_list list = {0};
    pairtok_record r = {HASH_A, "alice", NOW + 300, NOW, "alice's \"phone\" \xe2\x9c\x93"};
    assert_int_equal(tu_list_push(&list, &r), PAIRTOK_OK);
    pairtok_record r2 = {"", "bob", NOW + 60, NOW, NULL};
    memset(r2.token_hash, 'b', 64);
    assert_int_equal(tu_list_push(&list, &r2), PAIRTOK_OK);
    pairtok_error err;
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);

    pairtok_store *other;
    assert_int_equal(pairtok_store_open(tu_where_location(&f->at), NULL, &other, &err), PAIRTOK_OK);
    pairtok_record_list back = {0};
    assert_int_equal(pairtok_store_load(other, &back, &err), PAIRTOK_OK);
    assert_int_equal(back.count, 2);
    assert_string_equal(back.items[0].token_hash, HASH_A);
    assert_string_equal(back.items[0].principal, "alice");
    assert_string_equal(back.items[0].label, "alice's \"phone\" \xe2\x9c\x93");
    assert_int_equal(back.items[0].expires_at_epoch, NOW + 300);
    assert_int_equal(back.items[0].issued_at_epoch, NOW);
    assert_null(back.items[1].label);
    pairtok_record_list_free(&back);
    pairtok_record_list_free(&list);
    pairtok_store_close(other);
}

/* ---- format ------------------------------------------------------------- */

static void missing_and_blank_files_are_empty(void **state)
{
    fixture *f = *state;
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 0);
    assert_false(tu_exists(f->at.site.dir)); /* reading creates nothing */
    write_store(f, "  \n\t\n# only a comment\n", 0600);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 0);
}

static void rust_style_file_loads_and_redeems(void **state)
{
    fixture *f = *state;
    const char *token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char hash[65];
    pairtok_hash_token(token, hash);
    char text[1024];
    snprintf(text, sizeof text,
             "# written by astrid\n[[pair_token]]\nprincipal = 'bob'\n"
             "issued_at_epoch = %u\ntoken_hash = '%s'\nlabel = '''bob's laptop'''\n"
             "expires_at_epoch = %u\n",
             NOW, hash, NOW + 300);
    write_store(f, text, 0600);
    pairtok_record rec;
    pairtok_error err;
    assert_int_equal(redeem(f, token, NOW + 1, &rec, &err), PAIRTOK_OK);
    assert_string_equal(rec.principal, "bob");
    assert_string_equal(rec.label, "bob's laptop");
    pairtok_record_clear(&rec);
    assert_int_equal(redeem(f, token, NOW + 1, NULL, &err), PAIRTOK_EDENIED);
}

static void written_file_has_seed_format(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", "phone", 300, NOW, token);
    char *text = tu_read_file(f->at.site.path).data;
    char hash[65];
    pairtok_hash_token(token, hash);
    char want[512];
    snprintf(want, sizeof want,
             "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"alice\"\n"
             "expires_at_epoch = %u\nissued_at_epoch = %u\nlabel = \"phone\"\n",
             hash, NOW + 300, NOW);
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, token)); /* never the raw token */
    free(text);
}

static void assert_refused_unchanged(fixture *f, const char *text, pairtok_status want,
                                     const char *fragment)
{
    write_store(f, text, 0600);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), want);
    assert_int_equal(err.code, want);
    if (strstr(err.message, fragment) == NULL) {
        fail_msg("message '%s' lacks '%s'", err.message, fragment);
    }
    assert_non_null(strstr(err.message, f->at.site.path));
    char token[33];
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 60, token, NULL, NOW, &err), want);
    assert_string_equal(token, "");
    size_t removed;
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW + 99999, &err), want);
    char *after = tu_read_file(f->at.site.path).data;
    assert_string_equal(after, text);
    free(after);
    assert_int_equal(tu_count_entries(f->at.site.dir, ".tmp-"), 0);
}

static void malformed_files_are_refused_with_line_col_and_unchanged(void **state)
{
    fixture *f = *state;
    assert_refused_unchanged(f, "[[pair_token]]\ntoken_hash = \"abc\n", PAIRTOK_EPARSE,
                             "pair-tokens.toml:2:");
    assert_refused_unchanged(f, "\xff\xfe", PAIRTOK_EPARSE, ":1:");
    assert_refused_unchanged(f,
                             "[[pair_token]]\ntoken_hash = \"" HASH_A "\"\nprincipal = 7\n"
                             "expires_at_epoch = 1\nissued_at_epoch = 1\n",
                             PAIRTOK_EPARSE, ":3:13: pair_token[0].principal: expected a string");
    assert_refused_unchanged(f,
                             "[[pair_token]]\ntoken_hash = \"" HASH_A "\"\nprincipal = \"a/b\"\n"
                             "expires_at_epoch = 1\nissued_at_epoch = 1\n",
                             PAIRTOK_EPARSE, "pair_token[0].principal");
    assert_refused_unchanged(f,
                             "[[pair_token]]\ntoken_hash = \"ABC\"\nprincipal = \"a\"\n"
                             "expires_at_epoch = 1\nissued_at_epoch = 1\n",
                             PAIRTOK_EPARSE, "pair_token[0].token_hash: must be 64 lowercase hex");
    assert_refused_unchanged(f,
                             "[[pair_token]]\ntoken_hash = \"" HASH_A "\"\nprincipal = \"a\"\n"
                             "issued_at_epoch = 1\n",
                             PAIRTOK_EPARSE, "pair_token[0].expires_at_epoch: missing");
    assert_refused_unchanged(f,
                             "[[pair_token]]\ntoken_hash = \"" HASH_A "\"\nprincipal = \"a\"\n"
                             "expires_at_epoch = -5\nissued_at_epoch = 1\n",
                             PAIRTOK_EPARSE, "must not be negative");
    assert_refused_unchanged(f, "pair_token = 3\n", PAIRTOK_EPARSE, "expected an array of tables");
}

static void foreign_schema_is_refused_and_unchanged(void **state)
{
    fixture *f = *state;
    assert_refused_unchanged(f, "schema_version = 2\n[[pair_token]]\nscope = 1\n", PAIRTOK_ESCHEMA,
                             "schema_version");
}

/* A record written by hand in the canonical layout. */
static int record_text(char *out, size_t cap, const char *token, const char *principal,
                       const char *label_toml, const char *extra)
{
    char hash[65];
    pairtok_hash_token(token, hash);
    return snprintf(out, cap,
                    "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"%s\"\n"
                    "expires_at_epoch = %u\nissued_at_epoch = %u\n%s%s",
                    hash, principal, NOW + 600, NOW, label_toml ? label_toml : "",
                    extra ? extra : "");
}

static void unknown_keys_and_subtables_survive_issue_and_redeem(void **state)
{
    fixture *f = *state;
    char text[2048] = "owner = \"ops\"\n";
    size_t used = strlen(text);
    record_text(text + used, sizeof text - used, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "carol", NULL,
                "scope = \"read-only\"\n[pair_token.limits]\ndevices = 1\n");
    write_store(f, text, 0600);
    char t2[33];
    issue_ok(f, "dave", NULL, 300, NOW, t2);
    char *after = tu_read_file(f->at.site.path).data;
    assert_non_null(strstr(after, "owner = \"ops\""));
    assert_non_null(strstr(after, "scope = \"read-only\""));
    assert_non_null(strstr(after, "[pair_token.limits]\ndevices = 1"));
    free(after);
    pairtok_error err;
    assert_int_equal(redeem(f, t2, NOW + 1, NULL, &err), PAIRTOK_OK);
    after = tu_read_file(f->at.site.path).data;
    assert_non_null(strstr(after, "owner = \"ops\""));
    assert_non_null(strstr(after, "scope = \"read-only\""));
    assert_non_null(strstr(after, "devices = 1"));
    free(after);
}

/* Root keys, a table between records, and a record with unknown keys and a
 * sub-table: redeeming a plain record keeps all of them, in order; the
 * record with unknown keys takes them along when it goes. */
static void mixed_document_keeps_everything_not_redeemed(void **state)
{
    fixture *f = *state;
    const char *t1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *t2 = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    const char *t3 = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
    char text[4096], r1[512], r2[512], r3[512];
    record_text(r1, sizeof r1, t1, "alice", NULL, NULL);
    record_text(r2, sizeof r2, t2, "bob", "label = \"tab\\there\"\n",
                "scope = \"ro\"\n[pair_token.limits]\ndevices = 1\n");
    record_text(r3, sizeof r3, t3, "carol", "label = \"caf\\u00e9\"\n", NULL);
    snprintf(text, sizeof text, "owner = \"ops\"\n%s[meta]\nsite = \"x\"\n%s%s", r1, r2, r3);
    write_store(f, text, 0600);
    pairtok_error err;
    assert_int_equal(redeem(f, t1, NOW + 1, NULL, &err), PAIRTOK_OK);

    /* What is left, read back by a fresh handle, in file order. */
    pairtok_store *fresh;
    assert_int_equal(pairtok_store_open(f->at.site.path, NULL, &fresh, &err), PAIRTOK_OK);
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(fresh, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].principal, "bob");
    assert_string_equal(list.items[0].label, "tab\there");
    assert_string_equal(list.items[1].principal, "carol");
    assert_string_equal(list.items[1].label, "caf\xc3\xa9");
    pairtok_record_list_free(&list);
    char *after = tu_read_file(f->at.site.path).data;
    const char *owner = strstr(after, "owner = \"ops\"");
    const char *site = strstr(after, "[meta]\nsite = \"x\"");
    const char *scope = strstr(after, "scope = \"ro\"\n\n[pair_token.limits]\ndevices = 1\n");
    assert_true(owner == after && site != NULL && scope != NULL && site < scope);
    assert_null(strstr(after, "alice"));
    free(after);

    assert_int_equal(pairtok_redeem_at(fresh, t2, NULL, NULL, NULL, NOW + 2, &err), PAIRTOK_OK);
    after = tu_read_file(f->at.site.path).data;
    assert_null(strstr(after, "scope"));
    assert_null(strstr(after, "devices"));
    assert_non_null(strstr(after, "[meta]\nsite = \"x\""));
    assert_non_null(strstr(after, "carol"));
    free(after);
    pairtok_store_close(fresh);
}

/* Enough records that reading reuses each record's memory for the next one
 * across many arena chunks: every field must come back exactly, and an
 * issue must rewrite the file byte for byte before its new record. */
static void many_records_read_back_exactly(void **state)
{
    fixture *f = *state;
    enum { N = 3000 };
    size_t cap = (size_t)N * 320, len = 0;
    char *text = malloc(cap);
    char(*tokens)[33] = calloc(N, sizeof *tokens);
    for (int i = 0; i < N; i++) {
        snprintf(tokens[i], sizeof tokens[i], "%032d", i);
        char principal[16], label[64];
        snprintf(principal, sizeof principal, "user%d", i % 97);
        snprintf(label, sizeof label, i % 3 ? "label = \"device %d\"\n" : "", i);
        len += (size_t)record_text(text + len, cap - len, tokens[i], principal, label, NULL);
        if (i + 1 < N) {
            text[len++] = '\n';
        }
    }
    text[len] = '\0';
    write_store(f, text, 0600);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, N);
    for (int i = 0; i < N; i++) {
        char hash[65], principal[16], label[32];
        pairtok_hash_token(tokens[i], hash);
        snprintf(principal, sizeof principal, "user%d", i % 97);
        snprintf(label, sizeof label, "device %d", i);
        assert_string_equal(list.items[i].token_hash, hash);
        assert_string_equal(list.items[i].principal, principal);
        assert_int_equal(list.items[i].expires_at_epoch, NOW + 600);
        if (i % 3) {
            assert_string_equal(list.items[i].label, label);
        } else {
            assert_null(list.items[i].label);
        }
    }
    pairtok_record_list_free(&list);
    char token[33];
    issue_ok(f, "zed", NULL, 300, NOW, token);
    char *after = tu_read_file(f->at.site.path).data;
    assert_memory_equal(after, text, len);
    assert_true(strncmp(after + len, "\n[[pair_token]]\n", 16) == 0);
    free(after);
    assert_int_equal(redeem(f, tokens[N / 2], NOW + 1, NULL, &err), PAIRTOK_OK);
    free(tokens);
    free(text);
}

/* A bad record is reported only once the whole file has been read: a
 * syntax error further on, or a schema_version, is what the user must see
 * first, as when the file is read in one piece. */
static void later_schema_or_syntax_errors_take_precedence(void **state)
{
    fixture *f = *state;
    assert_refused_unchanged(f, "[[pair_token]]\nprincipal = 1\n[schema_version]\nmajor = 2\n",
                             PAIRTOK_ESCHEMA, "schema_version");
    assert_refused_unchanged(f, "[[pair_token]]\nprincipal = 1\n[[pair_token]]\n= 1\n",
                             PAIRTOK_EPARSE, ":4:1:");
    assert_refused_unchanged(f, "[[pair_token]]\nprincipal = 1\n[[pair_token]]\n", PAIRTOK_EPARSE,
                             ":1:1: pair_token[0].token_hash: missing");
    assert_refused_unchanged(f, "pair_token = [1]\n", PAIRTOK_EPARSE,
                             "pair_token[0]: expected a table, found an integer");
}

/* ---- file safety -------------------------------------------------------- */

static void created_file_is_0600_and_dirs_0700(void **state)
{
    fixture *f = *state;
    pairtok_store_close(f->store);
    snprintf(f->at.site.path, sizeof f->at.site.path, "%s/a/b/etc/pair-tokens.toml",
             f->at.site.root);
    pairtok_error err;
    assert_int_equal(pairtok_store_open(f->at.site.path, NULL, &f->store, &err), PAIRTOK_OK);
    mode_t old = umask(0);
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    umask(old);
    assert_int_equal(tu_mode(f->at.site.path), 0600);
    assert_int_equal(tu_mode(tu_join(f->at.site.root, "a")), 0700);
    assert_int_equal(tu_mode(tu_join(f->at.site.root, "a/b/etc")), 0700);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", f->at.site.path);
    assert_int_equal(tu_mode(lock), 0600);
}

static void group_readable_store_is_refused_with_chmod_hint(void **state)
{
    fixture *f = *state;
    write_store(f, "", 0640);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "chmod 600"));
    char token[33];
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 60, token, NULL, NOW, &err),
                     PAIRTOK_EUNSAFE);
    assert_int_equal(tu_mode(f->at.site.path), 0640);
}

static void writable_directory_is_refused(void **state)
{
    fixture *f = *state;
    write_store(f, "", 0600);
    chmod(f->at.site.dir, 0777);
    char token[33];
    pairtok_error err;
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 60, token, NULL, NOW, &err),
                     PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "chmod go-w"));
    char *text = tu_read_file(f->at.site.path).data;
    assert_string_equal(text, "");
    free(text);
}

static void symlink_fifo_directory_and_hard_link_are_refused(void **state)
{
    fixture *f = *state;
    mkdir(f->at.site.dir, 0700);
    const char *real = tu_join(f->at.site.root, "real.toml");
    tu_write_file(real, "", 0, 0600);
    pairtok_record_list list = {0};
    pairtok_error err;

    assert_int_equal(symlink(real, f->at.site.path), 0);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "symbolic link"));
    unlink(f->at.site.path);

    assert_int_equal(mkfifo(f->at.site.path, 0600), 0);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "not a regular file"));
    unlink(f->at.site.path);

    assert_int_equal(mkdir(f->at.site.path, 0700), 0);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    rmdir(f->at.site.path);

    assert_int_equal(link(real, f->at.site.path), 0);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "hard links"));
}

static void oversize_store_is_refused_before_reading(void **state)
{
    fixture *f = *state;
    write_store(f, "", 0600);
    assert_int_equal(truncate(f->at.site.path, (off_t)PAIRTOK_FILE_MAX + 1), 0);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "64 MiB"));
}

/* ---- failure injection -------------------------------------------------- */

static int fail_rename(int a, const char *b, int c, const char *d)
{
    (void)a, (void)b, (void)c, (void)d;
    errno = ENOSPC;
    return -1;
}

static void failed_save_leaves_no_temp_file_and_old_bytes(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    char *before = tu_read_file(f->at.site.path).data;
    pt_sys broken = pt_sys_default;
    broken.renameat = fail_rename;
    pt_set_sys(f->store, &broken);
    pairtok_error err;
    char t2[33];
    assert_int_equal(pairtok_issue_at(f->store, "bob", NULL, 300, t2, NULL, NOW, &err),
                     PAIRTOK_EIO);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_non_null(strstr(err.message, "rename"));
    assert_string_equal(t2, "");
    assert_int_equal(tu_count_entries(f->at.site.dir, ".tmp-"), 0);
    char *after = tu_read_file(f->at.site.path).data;
    assert_string_equal(before, after);
    free(before);
    free(after);
    pt_set_sys(f->store, NULL);
    assert_int_equal(redeem(f, token, NOW + 1, NULL, &err), PAIRTOK_OK);
}

static void stale_temp_file_is_removed_by_next_writer(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    tu_write_file(tu_join(f->at.site.dir, ".pair-tokens.toml.tmp-0123456789abcdef"), "junk", 4,
                  0600);
    size_t problems;
    pairtok_error err;
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1);
    issue_ok(f, "alice", NULL, 300, NOW, token);
    assert_int_equal(tu_count_entries(f->at.site.dir, ".tmp-"), 0);
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 0);
}

/* ---- issue -------------------------------------------------------------- */

static void ttl_bounds(void **state)
{
    fixture *f = *state;
    char token[33];
    pairtok_error err;
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 3600, token, NULL, NOW, &err),
                     PAIRTOK_OK);
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 3601, token, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    assert_string_equal(err.message, "ttl: 3601s exceeds the 1-hour cap (3600s)");
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 0, token, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    assert_string_equal(err.message, "ttl: must be greater than 0");
    char *before = snapshot(f);
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 60, token, NULL, UINT64_MAX, &err),
                     PAIRTOK_EINVAL);
    assert_non_null(strstr(err.message, "now:"));
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void bad_principal_and_label_are_refused_before_io(void **state)
{
    fixture *f = *state;
    char token[33];
    pairtok_error err;
    const char *bad[] = {
        "",    "a/b",       "..",
        "a b", "anonymous", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pairtok_issue_at(f->store, bad[i], NULL, 60, token, NULL, NOW, &err),
                         PAIRTOK_EINVAL);
        assert_non_null(strstr(err.message, "principal"));
    }
    assert_int_equal(pairtok_issue_at(f->store, "alice", "a\nb", 60, token, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    assert_non_null(strstr(err.message, "label: contains a control character"));
    assert_int_equal(pairtok_issue_at(f->store, "alice", "\xff", 60, token, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    char *big = malloc(4098);
    memset(big, 'a', 4097);
    big[4097] = '\0';
    assert_int_equal(pairtok_issue_at(f->store, "alice", big, 60, token, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    assert_non_null(strstr(err.message, "4096"));
    big[4096] = '\0';
    assert_int_equal(pairtok_issue_at(f->store, "alice", big, 60, token, NULL, NOW, &err),
                     PAIRTOK_OK);
    free(big);
}

static void per_principal_and_total_caps(void **state)
{
    fixture *f = *state;
    char token[33];
    pairtok_error err;
    for (int i = 0; i < 16; i++) {
        issue_ok(f, "alice", NULL, 60, NOW, token);
    }
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 60, token, NULL, NOW, &err),
                     PAIRTOK_ELIMIT);
    assert_non_null(strstr(err.message, "per-principal cap (16)"));
    issue_ok(f, "bob", NULL, 60, NOW, token);
    /* Expired ones do not count and are pruned by the same write. */
    issue_ok(f, "alice", NULL, 60, NOW + 60, token);

    pairtok_options opts = {.max_total = 1};
    pairtok_store *small;
    assert_int_equal(pairtok_store_open(tu_where_location(&f->at), &opts, &small, &err),
                     PAIRTOK_OK);
    assert_int_equal(pairtok_issue_at(small, "carol", NULL, 60, token, NULL, NOW + 60, &err),
                     PAIRTOK_ELIMIT);
    assert_non_null(strstr(err.message, "total cap (1)"));
    pairtok_store_close(small);
}

static void issue_returns_record_and_token_hashes_to_it(void **state)
{
    fixture *f = *state;
    char token[33];
    pairtok_record rec;
    pairtok_error err;
    assert_int_equal(pairtok_issue_at(f->store, "alice", "tablet", 120, token, &rec, NOW, &err),
                     PAIRTOK_OK);
    char hash[65];
    pairtok_hash_token(token, hash);
    assert_string_equal(rec.token_hash, hash);
    assert_string_equal(rec.label, "tablet");
    assert_int_equal(rec.expires_at_epoch, NOW + 120);
    pairtok_record_clear(&rec);
}

/* ---- redeem ------------------------------------------------------------- */

static void redeem_is_single_use_and_refusals_look_alike(void **state)
{
    fixture *f = *state;
    char token[33], expired[33];
    issue_ok(f, "alice", "phone", 300, NOW, token);
    issue_ok(f, "bob", NULL, 10, NOW, expired);
    pairtok_error e1, e2, e3;
    assert_int_equal(redeem(f, expired, NOW + 10, NULL, &e1), PAIRTOK_EDENIED);
    assert_int_equal(redeem(f, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", NOW, NULL, &e2),
                     PAIRTOK_EDENIED);
    char padded[64];
    snprintf(padded, sizeof padded, " \t%s\n", token);
    pairtok_record rec;
    assert_int_equal(redeem(f, padded, NOW + 299, &rec, &e3), PAIRTOK_OK);
    assert_string_equal(rec.principal, "alice");
    assert_string_equal(rec.label, "phone");
    pairtok_record_clear(&rec);
    assert_int_equal(redeem(f, token, NOW + 299, NULL, &e3), PAIRTOK_EDENIED);
    assert_string_equal(e1.message, "pair token invalid or expired");
    assert_string_equal(e1.message, e2.message);
    assert_string_equal(e2.message, e3.message);
    /* A file store pruned the expired record in the same write, and an
     * empty store is an empty file; a database leaves pruning to prune
     * (and to issue's bounded batches). */
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(f->store, &list, &e1), PAIRTOK_OK);
    assert_int_equal(list.count, f->at.on_db ? 1 : 0);
    pairtok_record_list_free(&list);
    if (!f->at.on_db) {
        char *text = tu_read_file(f->at.site.path).data;
        assert_string_equal(text, "");
        free(text);
    }
}

static void malformed_tokens_are_invalid_arguments(void **state)
{
    fixture *f = *state;
    pairtok_error err;
    const char *bad[] = {"",
                         "short",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                         "AAAAAAAAAAAAAAAA AAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(redeem(f, bad[i], NOW, NULL, &err), PAIRTOK_EINVAL);
        assert_null(strstr(err.message, bad[i][0] ? bad[i] : "\x01"));
    }
}

static void redeem_on_missing_store_creates_nothing(void **state)
{
    fixture *f = *state;
    pairtok_error err;
    assert_int_equal(redeem(f, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW, NULL, &err),
                     PAIRTOK_EDENIED);
    assert_false(tu_exists(f->at.site.dir));
    mkdir(f->at.site.dir, 0700);
    assert_int_equal(redeem(f, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW, NULL, &err),
                     PAIRTOK_EDENIED);
    assert_int_equal(tu_count_entries(f->at.site.dir, "pair-tokens"), 0);
}

static void over_long_lifetime_is_never_redeemable(void **state)
{
    fixture *f = *state;
    const char *token = "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";
    char hash[65], text[512];
    pairtok_hash_token(token, hash);
    snprintf(text, sizeof text,
             "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"eve\"\n"
             "expires_at_epoch = %u\nissued_at_epoch = %u\n",
             hash, NOW + 3601, NOW);
    write_store(f, text, 0600);
    pairtok_error err;
    assert_int_equal(redeem(f, token, NOW + 1, NULL, &err), PAIRTOK_EDENIED);
    size_t problems;
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1);
}

static void callback_failure_keeps_the_token(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    char *before = snapshot(f);
    tu_bind_ctx bind = {.result = -1};
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, token, tu_bind, &bind, NULL, NOW, &err),
                     PAIRTOK_EABORTED);
    assert_int_equal(bind.calls, 1);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    pairtok_record rec;
    bind.result = 0;
    bind.principal = "alice";
    assert_int_equal(pairtok_redeem_at(f->store, token, tu_bind, &bind, &rec, NOW, &err),
                     PAIRTOK_OK);
    assert_int_equal(bind.calls, 2);
    pairtok_record_clear(&rec);
    assert_int_equal(redeem(f, token, NOW, NULL, &err), PAIRTOK_EDENIED);
}

static void two_handles_in_one_process_serialise(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    pairtok_options quick = {.lock_timeout_ms = 50};
    pairtok_store *second;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(f->at.site.path, &quick, &second, &err), PAIRTOK_OK);
    /* Hold the lock the way another handle would: its own open file
     * description of the lock file. */
    int fd = open(f->at.site.lock, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(pairtok_redeem_at(second, token, NULL, NULL, NULL, NOW, &err), PAIRTOK_EBUSY);
    assert_non_null(strstr(err.message, "busy"));
    close(fd);
    /* Interleaved use of two handles sees each other's writes. */
    char t2[33];
    assert_int_equal(pairtok_issue_at(second, "bob", NULL, 60, t2, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(redeem(f, t2, NOW, NULL, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_redeem_at(second, token, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(redeem(f, token, NOW, NULL, &err), PAIRTOK_EDENIED);
    pairtok_store_close(second);
}

static void cache_notices_outside_edits(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", NULL, 300, NOW, token);
    /* Replace the file behind the handle's back, as an editor does: same
     * size, new file renamed over it. */
    char *text = tu_read_file(f->at.site.path).data;
    char *p = strstr(text, "alice");
    memcpy(p, "alicf", 5);
    const char *edited = tu_join(f->at.site.dir, "edited.toml");
    tu_write_file(edited, text, strlen(text), 0600);
    assert_int_equal(rename(edited, f->at.site.path), 0);
    free(text);
    pairtok_record rec;
    pairtok_error err;
    assert_int_equal(redeem(f, token, NOW, &rec, &err), PAIRTOK_OK);
    assert_string_equal(rec.principal, "alicf");
    pairtok_record_clear(&rec);
}

/* ---- revoke, list, prune ------------------------------------------------ */

static void revoke_by_id_prefix_and_principal(void **state)
{
    fixture *f = *state;
    pairtok_record_list list = {0};
    const char *hashes[] = {"aaaaaaaa11" HASH_A, "aaaaaaaa22" HASH_A, "bbbbbbbb33" HASH_A};
    const char *owners[] = {"alice", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        pairtok_record r = {"", "", NOW + 100 + (uint64_t)i, NOW, NULL};
        memcpy(r.token_hash, hashes[i], 64);
        strcpy(r.principal, owners[i]);
        assert_int_equal(tu_list_push(&list, &r), PAIRTOK_OK);
    }
    pairtok_error err;
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    pairtok_record_list_free(&list);
    size_t removed;
    assert_int_equal(pairtok_revoke_id(f->store, "aaaaaaa", &removed, &err), PAIRTOK_EINVAL);
    assert_int_equal(pairtok_revoke_id(f->store, "aaaaaaaa", &removed, &err), PAIRTOK_EAMBIGUOUS);
    assert_int_equal(removed, 2);
    assert_non_null(strstr(err.message, "matches 2 tokens"));
    assert_int_equal(pairtok_revoke_id(f->store, "cccccccc", &removed, &err), PAIRTOK_ENOTFOUND);
    assert_int_equal(pairtok_revoke_id(f->store, "AAAAAAAA11", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(pairtok_revoke_principal(f->store, "alice", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(pairtok_revoke_principal(f->store, "alice", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(pairtok_revoke_principal(f->store, "a/b", &removed, &err), PAIRTOK_EINVAL);
    assert_int_equal(pairtok_list_at(f->store, NULL, &list, NOW, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].principal, "bob");
    pairtok_record_list_free(&list);
}

static void list_is_sorted_by_expiry_and_filters(void **state)
{
    fixture *f = *state;
    char token[33];
    issue_ok(f, "alice", "late", 900, NOW, token);
    issue_ok(f, "bob", NULL, 60, NOW, token);
    issue_ok(f, "alice", "early", 120, NOW, token);
    issue_ok(f, "carol", NULL, 10, NOW, token);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_list_at(f->store, NULL, &list, NOW + 10, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 3); /* carol's expired exactly now */
    assert_string_equal(list.items[0].principal, "bob");
    assert_string_equal(list.items[1].label, "early");
    assert_string_equal(list.items[2].label, "late");
    assert_int_equal(pairtok_list_at(f->store, "alice", &list, NOW, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 2);
    assert_int_equal(pairtok_list_at(f->store, "a/b", &list, NOW, &err), PAIRTOK_EINVAL);
    assert_int_equal(list.count, 0);
    pairtok_record_list_free(&list);
    size_t removed;
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW + 60, &err), PAIRTOK_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW + 60, &err), PAIRTOK_OK);
    assert_int_equal(removed, 0);
}

static void save_refuses_invalid_records_and_duplicates(void **state)
{
    fixture *f = *state;
    pairtok_record_list list = {0};
    pairtok_record r = {HASH_A, "alice", NOW + 1, NOW, NULL};
    tu_list_push(&list, &r);
    tu_list_push(&list, &r);
    pairtok_error err;
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_EINVAL);
    assert_non_null(strstr(err.message, "twice"));
    list.count = 1;
    strcpy(list.items[0].principal, "x y");
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_EINVAL);
    if (!f->at.on_db) {
        assert_false(tu_exists(f->at.site.path));
    }
    char *text = snapshot(f);
    assert_string_equal(text, "");
    free(text);
    pairtok_record_list_free(&list);
}

static void save_updates_changed_records_and_keeps_their_unknown_keys(void **state)
{
    fixture *f = *state;
    write_store(f,
                "[[pair_token]]\ntoken_hash = \"" HASH_A "\"\nprincipal = \"alice\"\n"
                "expires_at_epoch = 10\nissued_at_epoch = 5\nscope = \"ro\"\n",
                0600);
    pairtok_record_list list = {0};
    pairtok_record r = {HASH_A, "bob", 20, 6, "new label"};
    assert_int_equal(tu_list_push(&list, &r), PAIRTOK_OK);
    pairtok_error err;
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    pairtok_record_list_free(&list);
    char *text = tu_read_file(f->at.site.path).data;
    assert_non_null(strstr(text, "scope = \"ro\""));
    assert_non_null(strstr(text, "principal = \"bob\""));
    assert_non_null(strstr(text, "label = \"new label\""));
    assert_null(strstr(text, "alice"));
    free(text);
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0].expires_at_epoch, 20);
    pairtok_record_list_free(&list);
}

/* ---- paths -------------------------------------------------------------- */

static void default_path_follows_environment(void **state)
{
    (void)state;
    char path[PAIRTOK_PATH_MAX];
    pairtok_error err;
    setenv("ASTRID_HOME", "/srv/astrid", 1);
    assert_int_equal(pairtok_default_path(path, sizeof path, &err), PAIRTOK_OK);
    assert_string_equal(path, "/srv/astrid/etc/pair-tokens.toml");
    unsetenv("ASTRID_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(pairtok_default_path(path, sizeof path, &err), PAIRTOK_OK);
    assert_string_equal(path, "/home/u/.astrid/etc/pair-tokens.toml");
    char *long_home = malloc(PAIRTOK_PATH_MAX);
    memset(long_home, 'h', PAIRTOK_PATH_MAX - 1);
    long_home[0] = '/';
    long_home[PAIRTOK_PATH_MAX - 1] = '\0';
    setenv("HOME", long_home, 1);
    free(long_home);
    assert_int_equal(pairtok_default_path(path, sizeof path, &err), PAIRTOK_EINVAL);
    assert_string_equal(err.message, "HOME: path too long");
    assert_string_equal(path, "");
    unsetenv("HOME");
    assert_int_equal(pairtok_default_path(path, sizeof path, &err), PAIRTOK_EINVAL);
    char tiny[8];
    assert_int_equal(pairtok_path_for("/long/home", tiny, sizeof tiny, &err), PAIRTOK_EINVAL);
    assert_int_equal(pairtok_path_for("", path, sizeof path, &err), PAIRTOK_EINVAL);
    assert_string_equal(path, "");
}

#define T(name) TU_FILE_TEST(name, setup, teardown)
#define SHARED(name) TU_SHARED_TEST(name, setup, teardown)

int main(void)
{
    static const tu_test tests[] = {
        SHARED(save_load_round_trip_with_label),
        T(missing_and_blank_files_are_empty),
        T(rust_style_file_loads_and_redeems),
        T(written_file_has_seed_format),
        T(malformed_files_are_refused_with_line_col_and_unchanged),
        T(foreign_schema_is_refused_and_unchanged),
        T(unknown_keys_and_subtables_survive_issue_and_redeem),
        T(mixed_document_keeps_everything_not_redeemed),
        T(many_records_read_back_exactly),
        T(later_schema_or_syntax_errors_take_precedence),
        T(created_file_is_0600_and_dirs_0700),
        T(group_readable_store_is_refused_with_chmod_hint),
        T(writable_directory_is_refused),
        T(symlink_fifo_directory_and_hard_link_are_refused),
        T(oversize_store_is_refused_before_reading),
        T(failed_save_leaves_no_temp_file_and_old_bytes),
        T(stale_temp_file_is_removed_by_next_writer),
        SHARED(ttl_bounds),
        SHARED(bad_principal_and_label_are_refused_before_io),
        SHARED(per_principal_and_total_caps),
        SHARED(issue_returns_record_and_token_hashes_to_it),
        SHARED(redeem_is_single_use_and_refusals_look_alike),
        SHARED(malformed_tokens_are_invalid_arguments),
        T(redeem_on_missing_store_creates_nothing),
        T(over_long_lifetime_is_never_redeemable),
        SHARED(callback_failure_keeps_the_token),
        T(two_handles_in_one_process_serialise),
        T(cache_notices_outside_edits),
        SHARED(revoke_by_id_prefix_and_principal),
        SHARED(list_is_sorted_by_expiry_and_filters),
        SHARED(save_refuses_invalid_records_and_duplicates),
        T(save_updates_changed_records_and_keeps_their_unknown_keys),
        T(default_path_follows_environment),
    };
    return tu_run_group("store", tests, sizeof tests / sizeof tests[0]);
}
