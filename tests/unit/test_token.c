/* SPDX-License-Identifier: ISC */
/* test_token.c - tokens, hashing, comparison, validation and lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "pairtok.h"
#include "testutil.h"

static void tokens_are_32_url_safe_chars_and_differ(void **state)
{
    (void)state;
    char a[PAIRTOK_TOKEN_LEN + 1], b[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(a), 0);
    assert_int_equal(pairtok_generate_token(b), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strlen(b), 32);
    assert_true(pairtok_token_is_well_formed(a, strlen(a)));
    assert_string_not_equal(a, b);
}

static void hash_is_deterministic_lowercase_hex_with_known_vector(void **state)
{
    (void)state;
    char h1[PAIRTOK_HASH_LEN + 1], h2[PAIRTOK_HASH_LEN + 1];
    pairtok_hash_token("hello", h1);
    pairtok_hash_token("hello", h2);
    assert_string_equal(h1, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_string_equal(h1, h2);
    assert_null(pt_hash_problem(h1, strlen(h1)));
    pairtok_hash_token("hellp", h2);
    assert_string_not_equal(h1, h2);
}

static void ct_hash_eq_compares_length_then_bytes(void **state)
{
    (void)state;
    assert_true(pairtok_ct_hash_eq("abcdef", "abcdef"));
    assert_false(pairtok_ct_hash_eq("abcdef", "abcdeg"));
    assert_false(pairtok_ct_hash_eq("abcdef", "abcde"));
    assert_false(pairtok_ct_hash_eq("", "a"));
    assert_true(pairtok_ct_hash_eq("", ""));
}

static void token_shape_is_exactly_32_alphabet_chars(void **state)
{
    (void)state;
    const char *good = "-AAAAAAAAAAAAAAAAAAAAAAAAAAAAA_9";
    assert_true(pairtok_token_is_well_formed(good, 32));
    assert_false(pairtok_token_is_well_formed(good, 31));
    assert_false(pairtok_token_is_well_formed("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 33));
    assert_false(pairtok_token_is_well_formed("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 32));
    assert_false(pairtok_token_is_well_formed("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 32));
    assert_false(pairtok_token_is_well_formed("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/", 32));
    assert_false(pairtok_token_is_well_formed("AAAAAAAAAAAAAAA\0AAAAAAAAAAAAAAAA", 32));
    assert_false(pairtok_token_is_well_formed(NULL, 32));
}

static void token_shape_agrees_with_the_alphabet_for_every_byte(void **state)
{
    (void)state;
    char token[PAIRTOK_TOKEN_LEN];
    for (unsigned c = 0; c < 256; c++) {
        for (size_t at = 0; at < sizeof token; at += 31) {
            memset(token, 'A', sizeof token);
            token[at] = (char)c;
            bool in_alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                               (c >= '0' && c <= '9') || c == '-' || c == '_';
            assert_int_equal(pairtok_token_is_well_formed(token, sizeof token), in_alphabet);
        }
    }
}

static void principal_rules(void **state)
{
    (void)state;
    assert_true(pairtok_principal_is_valid("alice"));
    assert_true(pairtok_principal_is_valid("A-b_9"));
    char max[65];
    memset(max, 'x', 64);
    max[64] = '\0';
    assert_true(pairtok_principal_is_valid(max));
    char over[66];
    memset(over, 'x', 65);
    over[65] = '\0';
    assert_false(pairtok_principal_is_valid(over));
    assert_false(pairtok_principal_is_valid(""));
    assert_false(pairtok_principal_is_valid("a/b"));
    assert_false(pairtok_principal_is_valid(".."));
    assert_false(pairtok_principal_is_valid("a b"));
    assert_false(pairtok_principal_is_valid("anonymous"));
    assert_false(pairtok_principal_is_valid("\xc3\xa9"));
}

static void label_rules(void **state)
{
    (void)state;
    size_t at;
    assert_null(pt_label_problem("alice's phone \xe2\x9c\x93", 17, &at));
    assert_non_null(pt_label_problem("a\x1b[31m", 6, &at));
    assert_int_equal(at, 1);
    assert_non_null(pt_label_problem("a\x7f", 2, &at));
    assert_non_null(pt_label_problem("a\xc2\x85", 3, &at));    /* U+0085 (C1) */
    assert_non_null(pt_label_problem("\xc0\xaf", 2, &at));     /* overlong */
    assert_non_null(pt_label_problem("\xed\xa0\x80", 3, &at)); /* surrogate */
    assert_non_null(pt_label_problem("\xe2\x9c", 2, &at));     /* truncated */
    char *big = malloc(4097);
    memset(big, 'a', 4097);
    assert_null(pt_label_problem(big, 4096, &at));
    assert_non_null(pt_label_problem(big, 4097, &at));
    free(big);
}

static pairtok_record make_record(const char *principal, uint64_t expires)
{
    pairtok_record r = {.expires_at_epoch = expires, .issued_at_epoch = expires - 1};
    strcpy(r.principal, principal);
    memset(r.token_hash, 'a', PAIRTOK_HASH_LEN);
    return r;
}

static void prune_counts_expiry_equal_to_now_as_expired(void **state)
{
    (void)state;
    pairtok_record_list list = {0};
    pairtok_record r1 = make_record("a", 99), r2 = make_record("b", 100),
                   r3 = make_record("c", 101);
    r3.label = "kept";
    assert_int_equal(tu_list_push(&list, &r1), PAIRTOK_OK);
    assert_int_equal(tu_list_push(&list, &r2), PAIRTOK_OK);
    assert_int_equal(tu_list_push(&list, &r3), PAIRTOK_OK);
    assert_int_equal(pairtok_prune_expired(&list, 100), 2);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].principal, "c");
    assert_string_equal(list.items[0].label, "kept");
    pairtok_record_list_free(&list);
    assert_int_equal(list.count, 0);
    pairtok_record_list_free(&list); /* twice is safe */
}

static void strerror_covers_every_status(void **state)
{
    (void)state;
    for (int s = PAIRTOK_OK; s <= PAIRTOK_ERANDOM; s++) {
        assert_non_null(pairtok_strerror((pairtok_status)s));
        assert_string_not_equal(pairtok_strerror((pairtok_status)s), "unknown status");
    }
    assert_string_equal(pairtok_strerror(PAIRTOK_EDENIED), "pair token invalid or expired");
}

static void now_epoch_is_plausible(void **state)
{
    (void)state;
    assert_true(pairtok_now_epoch() > 1700000000u);
}

static void version_is_the_headers(void **state)
{
    (void)state;
    assert_string_equal(pairtok_version(), PAIRTOK_VERSION);
}

static void list_append_copies_the_record(void **state)
{
    (void)state;
    char label[] = "phone";
    pairtok_record rec = {.expires_at_epoch = 2, .issued_at_epoch = 1, .label = label};
    strcpy(rec.principal, "alice");
    pairtok_record_list list = {0};
    pairtok_error err;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(pairtok_record_list_append(&list, &rec, &err), PAIRTOK_OK);
    }
    label[0] = 'P';
    assert_int_equal(list.count, 40);
    assert_true(list.capacity >= 40);
    assert_string_equal(list.items[39].label, "phone");
    assert_ptr_not_equal(list.items[39].label, label);
    assert_string_equal(list.items[0].principal, "alice");
    pairtok_record_list_free(&list);
    assert_int_equal(list.count, 0);
    assert_null(list.items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_32_url_safe_chars_and_differ),
        cmocka_unit_test(hash_is_deterministic_lowercase_hex_with_known_vector),
        cmocka_unit_test(ct_hash_eq_compares_length_then_bytes),
        cmocka_unit_test(token_shape_is_exactly_32_alphabet_chars),
        cmocka_unit_test(token_shape_agrees_with_the_alphabet_for_every_byte),
        cmocka_unit_test(principal_rules),
        cmocka_unit_test(label_rules),
        cmocka_unit_test(prune_counts_expiry_equal_to_now_as_expired),
        cmocka_unit_test(strerror_covers_every_status),
        cmocka_unit_test(now_epoch_is_plausible),
        cmocka_unit_test(version_is_the_headers),
        cmocka_unit_test(list_append_copies_the_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
