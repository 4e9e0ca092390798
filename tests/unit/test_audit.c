/* SPDX-License-Identifier: ISC */
/*
 * test_audit.c - the audit events of pairtok_options.on_event: one per
 * issue, redeem, refused redeem, reserve, release and revoked token, one
 * per prune with the count; never the raw token; nothing that says why a
 * redeem was refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pairtok.h"
#include "testutil.h"

#define NOW 1764322500u
#define MAX_EVENTS 16

typedef struct seen {
    pairtok_event_kind kind;
    uint64_t time;
    char id[PAIRTOK_ID_DISPLAY_LEN + 1];
    char principal[PAIRTOK_PRINCIPAL_MAX + 1];
    char label[64];
    bool has_id, has_principal, has_label;
    size_t count;
} seen;

typedef struct fixture {
    tu_location loc;
    pairtok_store *store;
    seen events[MAX_EVENTS];
    size_t n;
} fixture;

static void record_event(const pairtok_event *e, void *ctx)
{
    fixture *f = ctx;
    assert_true(f->n < MAX_EVENTS);
    seen *s = &f->events[f->n++];
    memset(s, 0, sizeof *s);
    s->kind = e->kind;
    s->time = e->time;
    s->count = e->count;
    if ((s->has_id = e->id != NULL)) {
        snprintf(s->id, sizeof s->id, "%s", e->id);
    }
    if ((s->has_principal = e->principal != NULL)) {
        snprintf(s->principal, sizeof s->principal, "%s", e->principal);
    }
    if ((s->has_label = e->label != NULL)) {
        snprintf(s->label, sizeof s->label, "%s", e->label);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_location_init(&f->loc);
    pairtok_options opts = {.on_event = record_event, .event_ctx = f};
    pairtok_error err;
    if (pairtok_store_open(f->loc.location, &opts, &f->store, &err) != PAIRTOK_OK) {
        print_error("open: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pairtok_store_close(f->store);
    tu_location_free(&f->loc);
    free(f);
    return 0;
}

static void issue(fixture *f, const char *principal, const char *label, uint64_t now,
                  char token[PAIRTOK_TOKEN_LEN + 1])
{
    pairtok_error err;
    if (pairtok_issue_at(f->store, principal, label, 300, token, NULL, now, &err) != PAIRTOK_OK) {
        fail_msg("issue: %s", err.message);
    }
}

static void expect(const seen *s, pairtok_event_kind kind, uint64_t time, const char *token,
                   const char *principal, const char *label, size_t count)
{
    assert_int_equal(s->kind, kind);
    assert_int_equal(s->time, time);
    assert_int_equal(s->count, count);
    if (token == NULL) {
        assert_false(s->has_id);
    } else {
        char hash[PAIRTOK_HASH_LEN + 1];
        pairtok_hash_token(token, hash);
        assert_true(s->has_id);
        assert_int_equal(strlen(s->id), PAIRTOK_ID_DISPLAY_LEN);
        assert_memory_equal(s->id, hash, PAIRTOK_ID_DISPLAY_LEN);
    }
    assert_int_equal(s->has_principal, principal != NULL);
    if (principal != NULL) {
        assert_string_equal(s->principal, principal);
    }
    assert_int_equal(s->has_label, label != NULL);
    if (label != NULL) {
        assert_string_equal(s->label, label);
    }
}

static void issue_and_redeem_are_reported(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue(f, "alice", "phone", NOW, t);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW + 1, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW + 2, &err),
                     PAIRTOK_EDENIED);
    assert_int_equal(f->n, 3);
    expect(&f->events[0], PAIRTOK_EVENT_ISSUE, NOW, t, "alice", "phone", 1);
    expect(&f->events[1], PAIRTOK_EVENT_REDEEM, NOW + 1, t, "alice", "phone", 1);
    /* Refused: nothing that tells unknown from used or expired. */
    expect(&f->events[2], PAIRTOK_EVENT_REDEEM_REFUSED, NOW + 2, NULL, NULL, NULL, 1);
}

static void two_phase_redeem_reports_reserve_release_redeem(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue(f, "bob", NULL, NOW, t);
    pairtok_error err;
    tu_bind_ctx refuse = {.result = -1};
    assert_int_equal(pairtok_redeem_at(f->store, t, tu_bind, &refuse, NULL, NOW, &err),
                     PAIRTOK_EABORTED);
    assert_int_equal(pairtok_redeem_at(f->store, t, tu_bind, NULL, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(f->n, 5);
    expect(&f->events[1], PAIRTOK_EVENT_RESERVE, NOW, t, "bob", NULL, 1);
    expect(&f->events[2], PAIRTOK_EVENT_RELEASE, NOW, t, "bob", NULL, 1);
    expect(&f->events[3], PAIRTOK_EVENT_RESERVE, NOW, t, "bob", NULL, 1);
    expect(&f->events[4], PAIRTOK_EVENT_REDEEM, NOW, t, "bob", NULL, 1);
}

static void revoke_reports_each_token_and_prune_the_count(void **state)
{
    fixture *f = *state;
    char a[PAIRTOK_TOKEN_LEN + 1], b[PAIRTOK_TOKEN_LEN + 1], c[PAIRTOK_TOKEN_LEN + 1];
    char d[PAIRTOK_TOKEN_LEN + 1];
    issue(f, "carol", "one", NOW, a);
    issue(f, "carol", "two", NOW, b);
    issue(f, "dave", NULL, NOW, c);
    issue(f, "erin", NULL, NOW - 1000, d); /* expired at NOW */
    f->n = 0;
    size_t removed;
    pairtok_error err;
    assert_int_equal(pairtok_revoke_principal(f->store, "carol", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(f->n, 2);
    const char *first = strcmp(f->events[0].label, "one") == 0 ? a : b;
    assert_int_equal(f->events[0].kind, PAIRTOK_EVENT_REVOKE);
    assert_int_equal(f->events[1].kind, PAIRTOK_EVENT_REVOKE);
    expect(&f->events[0], PAIRTOK_EVENT_REVOKE, f->events[0].time, first, "carol",
           first == a ? "one" : "two", 1);

    char id[PAIRTOK_HASH_LEN + 1];
    pairtok_hash_token(c, id);
    id[PAIRTOK_ID_DISPLAY_LEN] = '\0';
    f->n = 0;
    assert_int_equal(pairtok_revoke_id(f->store, id, &removed, &err), PAIRTOK_OK);
    assert_int_equal(f->n, 1);
    expect(&f->events[0], PAIRTOK_EVENT_REVOKE, f->events[0].time, c, "dave", NULL, 1);

    f->n = 0;
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(f->n, 1);
    expect(&f->events[0], PAIRTOK_EVENT_PRUNE, NOW, NULL, NULL, NULL, 1);
    /* Nothing to prune, nothing revoked: no event. */
    f->n = 0;
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_revoke_principal(f->store, "nobody", &removed, &err), PAIRTOK_OK);
    assert_int_equal(f->n, 0);
}

/* A file store prunes expired records in a redeem's write: that prune is
 * reported, before the redeem. */
static void redeem_reports_what_it_pruned(void **state)
{
    fixture *f = *state;
    char old[PAIRTOK_TOKEN_LEN + 1], t[PAIRTOK_TOKEN_LEN + 1];
    issue(f, "hank", NULL, NOW, t);
    /* Expired at NOW; issued after hank's, whose issue would prune it. */
    issue(f, "gina", NULL, NOW - 1000, old);
    f->n = 0;
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(f->n, 2);
    expect(&f->events[0], PAIRTOK_EVENT_PRUNE, NOW, NULL, NULL, NULL, 1);
    expect(&f->events[1], PAIRTOK_EVENT_REDEEM, NOW, t, "hank", NULL, 1);
}

static void failures_report_nothing(void **state)
{
    fixture *f = *state;
    pairtok_options opts = {.max_per_principal = 1, .on_event = record_event, .event_ctx = f};
    pairtok_store *capped;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(f->loc.location, &opts, &capped, &err), PAIRTOK_OK);
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_issue_at(capped, "frank", NULL, 300, t, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_issue_at(capped, "frank", NULL, 300, t, NULL, NOW, &err),
                     PAIRTOK_ELIMIT);
    assert_int_equal(pairtok_redeem_at(capped, "not-a-token", NULL, NULL, NULL, NOW, &err),
                     PAIRTOK_EINVAL);
    assert_int_equal(f->n, 1);
    pairtok_store_close(capped);
}

#define SHARED(name) TU_SHARED_TEST(name, setup, teardown)

int main(void)
{
    static const tu_test tests[] = {
        SHARED(issue_and_redeem_are_reported),
        SHARED(two_phase_redeem_reports_reserve_release_redeem),
        SHARED(revoke_reports_each_token_and_prune_the_count),
        SHARED(failures_report_nothing),
        TU_FILE_TEST(redeem_reports_what_it_pruned, setup, teardown),
    };
    return tu_run_group("audit", tests, sizeof tests / sizeof tests[0]);
}
