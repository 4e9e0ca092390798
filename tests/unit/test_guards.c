/* SPDX-License-Identifier: ISC */
/*
 * test_guards.c - checks that only bite in conditions a test run does not
 * meet by itself, made deterministic: the temp file's mode under a strict
 * umask, the owner checks of the store, its directory and its lock (the
 * tests may run as any user, so a foreign owner is reported by the fstat of
 * a pt_sys table), the expiry boundary of prune, and every field the
 * handle's cache compares before it trusts its parsed copy (a same-size
 * replacement with equal times is made by the same fstat hook).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pairtok.h"
#include "sys.h"
#include "testutil.h"

#define NOW 1764322500u

/* ---------------------------------------------------------------------- */
/* The fstat hook: what it reports, and for which file.                   */
/* ---------------------------------------------------------------------- */

/* The fields the handle's cache compares (same_version in src/store.c). */
typedef enum version_field {
    SAME_ALL, /* report the cached version exactly */
    DIFF_DEV,
    DIFF_INO,
    DIFF_SIZE,
    DIFF_MTIME_SEC,
    DIFF_MTIME_NSEC,
    DIFF_CTIME_SEC,
    DIFF_CTIME_NSEC,
} version_field;

typedef enum fake_kind { FAKE_NONE, FAKE_OWNER, FAKE_VERSION } fake_kind;

/* Test state (the hook has no context argument).  The target is named by
 * the device and inode the real fstat reports. */
static struct {
    fake_kind kind;
    dev_t dev;
    ino_t ino;
    uid_t owner;         /* FAKE_OWNER: the st_uid to report */
    struct stat version; /* FAKE_VERSION: the version to report ... */
    version_field diff;  /* ... with this one field different */
    unsigned hits;       /* calls the hook changed */
} fake;

static void report_version(struct stat *st)
{
    const struct stat *v = &fake.version;
    st->st_dev = fake.diff == DIFF_DEV ? v->st_dev ^ 1 : v->st_dev;
    if (fake.diff != DIFF_INO) {
        st->st_ino = v->st_ino; /* else the new file's own, different inode */
    }
    if (fake.diff != DIFF_SIZE) {
        st->st_size = v->st_size; /* else the real, different size */
    }
    st->st_mtim = v->st_mtim;
    st->st_ctim = v->st_ctim;
    /* ^ 1 keeps a nanosecond count within 0..999999999. */
    st->st_mtim.tv_sec += fake.diff == DIFF_MTIME_SEC;
    st->st_mtim.tv_nsec ^= fake.diff == DIFF_MTIME_NSEC;
    st->st_ctim.tv_sec += fake.diff == DIFF_CTIME_SEC;
    st->st_ctim.tv_nsec ^= fake.diff == DIFF_CTIME_NSEC;
}

static int fstat_hook(int fd, struct stat *st)
{
    if (fstat(fd, st) != 0) {
        return -1;
    }
    if (fake.kind == FAKE_NONE || st->st_dev != fake.dev || st->st_ino != fake.ino) {
        return 0;
    }
    fake.hits++;
    if (fake.kind == FAKE_OWNER) {
        st->st_uid = fake.owner;
    } else {
        report_version(st);
    }
    return 0;
}

static pt_sys hooked_sys;

/* Point the hook at the file at `path` as it is now. */
static void aim_at(const char *path, fake_kind kind)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    fake.dev = st.st_dev;
    fake.ino = st.st_ino;
    fake.hits = 0;
    fake.kind = kind;
}

/* A uid that is neither ours nor root's. */
static uid_t foreign_uid(void)
{
    return geteuid() == 4242 ? 4243 : 4242;
}

/* ---------------------------------------------------------------------- */
/* Fixture: a home with etc/ (0700), a handle using the hooked table.     */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    tu_site site; /* the store is <root>/etc/pair-tokens.toml */
    pairtok_store *store;
    mode_t umask_before;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->umask_before = umask(022);
    umask(f->umask_before);
    tu_site_init(&f->site, "guards", "etc");
    if (mkdir(f->site.dir, 0700) != 0) {
        return -1;
    }
    memset(&fake, 0, sizeof fake);
    hooked_sys = pt_sys_default;
    hooked_sys.fstat = fstat_hook;
    f->store = tu_open(&f->site);
    pt_set_sys(f->store, &hooked_sys);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    umask(f->umask_before); /* also when a failed assertion left it strict */
    pairtok_store_close(f->store);
    tu_site_free(&f->site);
    free(f);
    return 0;
}

static void issue_ok(pairtok_store *store, const char *principal, uint32_t ttl, uint64_t now,
                     char token[PAIRTOK_TOKEN_LEN + 1])
{
    pairtok_error err;
    if (pairtok_issue_at(store, principal, NULL, ttl, token, NULL, now, &err) != PAIRTOK_OK) {
        fail_msg("issue for %s failed: %s", principal, err.message);
    }
}

static void assert_message_has(const pairtok_error *err, const char *fragment)
{
    if (strstr(err->message, fragment) == NULL) {
        fail_msg("message '%s' lacks '%s'", err->message, fragment);
    }
}

/* ---------------------------------------------------------------------- */
/* A. The temp file's mode under a strict umask.                          */
/* ---------------------------------------------------------------------- */

/* O_CREAT's 0600 is cut down by the umask (0277 leaves 0400, 0477 leaves
 * 0200): only the fchmod of the temp file makes the store 0600 - which the
 * next call, as a user without root's override, needs to read it. */
static void store_written_under_strict_umask_is_0600_and_usable(void **state)
{
    fixture *f = *state;
    static const mode_t masks[] = {0277, 0477};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        unlink(f->site.path);
        unlink(f->site.lock);
        umask(masks[i]);
        char token[PAIRTOK_TOKEN_LEN + 1], other[PAIRTOK_TOKEN_LEN + 1];
        issue_ok(f->store, "alice", 300, NOW, token);
        if (tu_mode(f->site.path) != 0600 || tu_mode(f->site.lock) != 0600) {
            fail_msg("umask %03o: store %03o, lock %03o; want 0600 for both", (unsigned)masks[i],
                     (unsigned)tu_mode(f->site.path), (unsigned)tu_mode(f->site.lock));
        }
        /* The next calls, on this handle and on a fresh one, accept it. */
        issue_ok(f->store, "bob", 300, NOW, other);
        assert_int_equal(tu_mode(f->site.path), 0600);
        pairtok_store *fresh;
        pairtok_error err;
        assert_int_equal(pairtok_store_open(f->site.path, NULL, &fresh, &err), PAIRTOK_OK);
        pairtok_record_list list = {0};
        assert_int_equal(pairtok_store_load(fresh, &list, &err), PAIRTOK_OK);
        assert_int_equal(list.count, 2);
        pairtok_record_list_free(&list);
        pairtok_record rec;
        assert_int_equal(pairtok_redeem_at(fresh, token, NULL, NULL, &rec, NOW + 1, &err),
                         PAIRTOK_OK);
        assert_string_equal(rec.principal, "alice");
        pairtok_record_clear(&rec);
        assert_int_equal(tu_mode(f->site.path), 0600);
        pairtok_store_close(fresh);
        umask(f->umask_before);
    }
}

/* The directories the first write creates are 0700 under any umask: 0500
 * would keep everyone but root from writing the store into them. */
static void directories_created_under_strict_umask_are_0700(void **state)
{
    fixture *f = *state;
    char deep[4200];
    snprintf(deep, sizeof deep, "%s/a/b/pair-tokens.toml", f->site.root);
    pairtok_store *s;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(deep, NULL, &s, &err), PAIRTOK_OK);
    umask(0277);
    char token[PAIRTOK_TOKEN_LEN + 1];
    issue_ok(s, "alice", 300, NOW, token);
    umask(f->umask_before);
    assert_int_equal(tu_mode(tu_join(f->site.root, "a")), 0700);
    assert_int_equal(tu_mode(tu_join(f->site.root, "a/b")), 0700);
    assert_int_equal(tu_mode(deep), 0600);
    pairtok_store_close(s);
}

/* ---------------------------------------------------------------------- */
/* C. Owner checks, whoever runs the tests.                               */
/* ---------------------------------------------------------------------- */

/* Every operation refuses with `want` and a message holding `fragment`;
 * reads only when `reads`, mutations only when `writes`.  Nothing changes:
 * same bytes, same inode, no temp file, and the token stays redeemable. */
static void assert_all_refused(fixture *f, bool reads, bool writes, const char *fragment)
{
    char *before = tu_read_file(f->site.path).data;
    struct stat st_before, st_after;
    assert_int_equal(stat(f->site.path, &st_before), 0);
    pairtok_error err;
    pairtok_record_list list = {0};
    pairtok_status want_read = reads ? PAIRTOK_EUNSAFE : PAIRTOK_OK;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), want_read);
    pairtok_record_list_free(&list);
    if (reads) {
        assert_message_has(&err, fragment);
        assert_int_equal(pairtok_list_at(f->store, NULL, &list, NOW, &err), PAIRTOK_EUNSAFE);
    }
    if (writes) {
        char token[PAIRTOK_TOKEN_LEN + 1];
        size_t removed;
        assert_int_equal(pairtok_issue_at(f->store, "bob", NULL, 60, token, NULL, NOW, &err),
                         PAIRTOK_EUNSAFE);
        assert_message_has(&err, fragment);
        assert_string_equal(token, "");
        assert_int_equal(pairtok_prune_at(f->store, &removed, NOW + 9999, &err), PAIRTOK_EUNSAFE);
        assert_message_has(&err, fragment);
        assert_int_equal(pairtok_revoke_principal(f->store, "alice", &removed, &err),
                         PAIRTOK_EUNSAFE);
        assert_int_equal(pairtok_redeem_at(f->store, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, NULL,
                                           NULL, NOW, &err),
                         PAIRTOK_EUNSAFE);
        assert_message_has(&err, fragment);
    }
    assert_true(fake.hits > 0); /* the refusal came from the reported owner */
    char *after = tu_read_file(f->site.path).data;
    assert_string_equal(before, after);
    assert_int_equal(stat(f->site.path, &st_after), 0);
    assert_true(st_after.st_ino == st_before.st_ino);
    assert_int_equal(tu_count_entries(f->site.dir, ".tmp-"), 0);
    free(before);
    free(after);
}

static void issue_then_aim(fixture *f, const char *target, uid_t owner,
                           char token[PAIRTOK_TOKEN_LEN + 1])
{
    issue_ok(f->store, "alice", 300, NOW, token);
    aim_at(target, FAKE_OWNER);
    fake.owner = owner;
}

static void assert_still_redeemable(fixture *f, const char *token)
{
    fake.kind = FAKE_NONE;
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, token, NULL, NULL, NULL, NOW + 1, &err),
                     PAIRTOK_OK);
}

static void store_owned_by_another_user_is_refused(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1], want[4500];
    issue_then_aim(f, f->site.path, foreign_uid(), token);
    snprintf(want, sizeof want, "owned by uid %lu, not by you (uid %lu); fix with: chown %lu ",
             (unsigned long)foreign_uid(), (unsigned long)geteuid(), (unsigned long)geteuid());
    assert_all_refused(f, true, true, want);
    pairtok_error err;
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_EUNSAFE);
    assert_message_has(&err, f->site.path);
    assert_int_equal(err.code, PAIRTOK_EUNSAFE);
    assert_still_redeemable(f, token);
}

static void directory_owned_by_another_user_is_refused(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1], want[4500];
    issue_then_aim(f, f->site.dir, foreign_uid(), token);
    snprintf(want, sizeof want, "%s: directory is owned by uid %lu, not by you", f->site.dir,
             (unsigned long)foreign_uid());
    assert_all_refused(f, true, true, want);
    assert_still_redeemable(f, token);
}

/* A directory of root's (say /etc/astrid for a service) is trusted. */
static void directory_owned_by_root_is_accepted(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1], other[PAIRTOK_TOKEN_LEN + 1];
    issue_then_aim(f, f->site.dir, 0, token);
    issue_ok(f->store, "bob", 300, NOW, other);
    assert_true(fake.hits > 0);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, token, NULL, NULL, NULL, NOW + 1, &err),
                     PAIRTOK_OK);
}

/* Reads take no lock, so only the mutations see a foreign lock file. */
static void lock_file_owned_by_another_user_is_refused(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1];
    issue_then_aim(f, f->site.lock, foreign_uid(), token);
    assert_all_refused(f, false, true, "lock file is owned by uid");
    assert_still_redeemable(f, token);
}

/* ---------------------------------------------------------------------- */
/* C. The expiry boundary: a token expiring at now is gone, now + 1 stays. */
/* ---------------------------------------------------------------------- */

static void assert_only_survivor(fixture *f, const char *principal, uint64_t expires)
{
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].principal, principal);
    assert_int_equal(list.items[0].expires_at_epoch, expires);
    pairtok_record_list_free(&list);
}

static void prune_removes_expiry_now_and_keeps_now_plus_one(void **state)
{
    fixture *f = *state;
    char later[PAIRTOK_TOKEN_LEN + 1], now[PAIRTOK_TOKEN_LEN + 1];
    issue_ok(f->store, "alice", 1, NOW, later); /* expires NOW + 1 */
    issue_ok(f->store, "bob", 1, NOW - 1, now); /* expires NOW */
    size_t removed;
    pairtok_error err;
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_only_survivor(f, "alice", NOW + 1);
    assert_int_equal(pairtok_prune_at(f->store, &removed, NOW, &err), PAIRTOK_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(pairtok_redeem_at(f->store, later, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
}

/* Issue prunes in the same write, on the same boundary. */
static void issue_prunes_expiry_now_and_keeps_now_plus_one(void **state)
{
    fixture *f = *state;
    char later[PAIRTOK_TOKEN_LEN + 1], now[PAIRTOK_TOKEN_LEN + 1], fresh[PAIRTOK_TOKEN_LEN + 1];
    issue_ok(f->store, "alice", 2, NOW - 1, later); /* expires NOW + 1 */
    issue_ok(f->store, "bob", 1, NOW - 1, now);     /* expires NOW */
    issue_ok(f->store, "carol", 300, NOW, fresh);
    pairtok_error err;
    size_t removed;
    assert_int_equal(pairtok_revoke_principal(f->store, "carol", &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 1);
    assert_only_survivor(f, "alice", NOW + 1);
    assert_int_equal(pairtok_redeem_at(f->store, now, NULL, NULL, NULL, NOW, &err),
                     PAIRTOK_EDENIED);
    assert_int_equal(pairtok_redeem_at(f->store, later, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
}

/* ---------------------------------------------------------------------- */
/* C. The cache re-reads when any compared field of the file differs.     */
/* ---------------------------------------------------------------------- */

/* Issue a token for alice (the handle keeps the version it wrote), then
 * rename over the store a copy naming `principal` instead, and make the
 * hook report that file as the cached version except in field `diff`.
 * Redeem must see `want`: the new principal when the handle re-read. */
static void replace_and_redeem(fixture *f, const char *principal, version_field diff,
                               const char *want)
{
    char token[PAIRTOK_TOKEN_LEN + 1];
    issue_ok(f->store, "alice", 300, NOW, token);
    assert_int_equal(stat(f->site.path, &fake.version), 0);
    char *text = tu_read_file(f->site.path).data;
    char *at = strstr(text, "\"alice\"");
    assert_non_null(at);
    size_t len = strlen(text), plen = strlen(principal);
    char *edited = malloc(len + plen + 1);
    snprintf(edited, len + plen + 1, "%.*s\"%s\"%s", (int)(at - text), text, principal, at + 7);
    const char *tmp = tu_join(f->site.dir, "edited.toml");
    tu_write_file(tmp, edited, strlen(edited), 0600);
    assert_int_equal(rename(tmp, f->site.path), 0);
    free(text);
    free(edited);

    aim_at(f->site.path, FAKE_VERSION);
    fake.diff = diff;
    pairtok_record rec;
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, token, NULL, NULL, &rec, NOW, &err), PAIRTOK_OK);
    assert_true(fake.hits > 0);
    assert_string_equal(rec.principal, want);
    pairtok_record_clear(&rec);
}

/* The control: the version reported equal in every field, the handle
 * trusts its copy - so each test below changes exactly one field. */
static void cache_is_used_when_every_field_is_equal(void **state)
{
    replace_and_redeem(*state, "alicf", SAME_ALL, "alice");
}

static void cache_rereads_on_new_inode(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_INO, "alicf");
}

static void cache_rereads_on_new_device(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_DEV, "alicf");
}

static void cache_rereads_on_new_size(void **state)
{
    replace_and_redeem(*state, "alicef", DIFF_SIZE, "alicef");
}

static void cache_rereads_on_new_mtime_seconds(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_MTIME_SEC, "alicf");
}

static void cache_rereads_on_new_mtime_nanoseconds(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_MTIME_NSEC, "alicf");
}

static void cache_rereads_on_new_ctime_seconds(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_CTIME_SEC, "alicf");
}

static void cache_rereads_on_new_ctime_nanoseconds(void **state)
{
    replace_and_redeem(*state, "alicf", DIFF_CTIME_NSEC, "alicf");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(store_written_under_strict_umask_is_0600_and_usable),
        T(directories_created_under_strict_umask_are_0700),
        T(store_owned_by_another_user_is_refused),
        T(directory_owned_by_another_user_is_refused),
        T(directory_owned_by_root_is_accepted),
        T(lock_file_owned_by_another_user_is_refused),
        T(prune_removes_expiry_now_and_keeps_now_plus_one),
        T(issue_prunes_expiry_now_and_keeps_now_plus_one),
        T(cache_is_used_when_every_field_is_equal),
        T(cache_rereads_on_new_inode),
        T(cache_rereads_on_new_device),
        T(cache_rereads_on_new_size),
        T(cache_rereads_on_new_mtime_seconds),
        T(cache_rereads_on_new_mtime_nanoseconds),
        T(cache_rereads_on_new_ctime_seconds),
        T(cache_rereads_on_new_ctime_nanoseconds),
    };
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
