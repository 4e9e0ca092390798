/* SPDX-License-Identifier: ISC */
/*
 * test_limits.c - the 64 MiB wall: no write may produce a store larger than
 * PAIRTOK_FILE_MAX, which every later call (prune and revoke included)
 * would refuse to read.  A write that would cross it fails with
 * PAIRTOK_ELIMIT and leaves the file byte for byte as it was.  Here, not in
 * the unit tests: it writes 64 MiB files, too slow under valgrind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

static char big_label[PAIRTOK_LABEL_MAX + 1];

/* `n` records of 4 KiB labels, for principals p0, p1, ... (hashes from a
 * counter: save does not care where they came from). */
static void fill(pairtok_record_list *list, size_t n)
{
    pairtok_error err;
    for (size_t i = list->count; i < n; i++) {
        pairtok_record rec = {
            .expires_at_epoch = TU_T0 + 3000, .issued_at_epoch = TU_T0, .label = big_label};
        snprintf(rec.principal, sizeof rec.principal, "p%05zu", i % 50000);
        snprintf(rec.token_hash, sizeof rec.token_hash, "%064zx", i + 1);
        if (pairtok_record_list_append(list, &rec, &err) != PAIRTOK_OK) {
            tu_die("append: %s", err.message);
        }
    }
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static long long saved_size(pairtok_store *s, const tu_site *site, size_t n)
{
    pairtok_record_list list = {0};
    fill(&list, n);
    pairtok_error err;
    if (pairtok_store_save(s, &list, &err) != PAIRTOK_OK) {
        tu_die("save %zu: %s", n, err.message);
    }
    pairtok_record_list_free(&list);
    return size_of(site->path);
}

/* Fill the store to within one record of the limit; returns the size. */
static long long fill_to_the_brim(pairtok_store *s, const tu_site *site)
{
    long long one = saved_size(s, site, 1);
    long long per = saved_size(s, site, 2) - one;
    size_t n = (size_t)(((long long)PAIRTOK_FILE_MAX - (one - per)) / per);
    long long size = saved_size(s, site, n);
    assert_true(size <= (long long)PAIRTOK_FILE_MAX);
    assert_true(size + per > (long long)PAIRTOK_FILE_MAX);
    return size;
}

static void writes_never_cross_the_read_limit(void **state)
{
    (void)state;
    memset(big_label, 'x', PAIRTOK_LABEL_MAX);
    tu_site *site = tu_site_new("limits", NULL);
    site->opts.max_total = 1000000;
    site->opts.max_per_principal = 1000000;
    pairtok_store *s = tu_open(site);
    long long size = fill_to_the_brim(s, site);
    tu_blob before = tu_read_file(site->path);

    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_error err;
    pairtok_status st = pairtok_issue_at(s, "alice", big_label, 300, token, NULL, TU_T0, &err);
    assert_int_equal(st, PAIRTOK_ELIMIT);
    assert_non_null(strstr(err.message, "64 MiB"));
    assert_string_equal(token, "");
    tu_blob after = tu_read_file(site->path);
    assert_true(tu_blob_eq(&before, &after));
    tu_blob_free(&after);

    /* A save that adds one more record is refused the same way. */
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    fill(&list, list.count + 1);
    assert_int_equal(pairtok_store_save(s, &list, &err), PAIRTOK_ELIMIT);
    after = tu_read_file(site->path);
    assert_true(tu_blob_eq(&before, &after));
    tu_blob_free(&after);
    pairtok_record_list_free(&list);

    /* The full store still reads, and revoke makes room. */
    size_t removed;
    assert_int_equal(pairtok_revoke_principal(s, "p00000", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_true(size_of(site->path) < size);
    assert_int_equal(pairtok_issue_at(s, "alice", NULL, 300, token, NULL, TU_T0, &err), PAIRTOK_OK);
    tu_blob_free(&before);
    pairtok_store_close(s);
    tu_site_delete(site);
}

int main(void)
{
    tu_fail_via(tu_cmocka_fail);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_never_cross_the_read_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
