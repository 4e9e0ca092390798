/* SPDX-License-Identifier: ISC */
/*
 * test_store_safety.c - the holes an independent review found, each closed
 * and held shut: save that brought used tokens back, duplicate hashes,
 * records issued in the future, the clock read before the lock wait or
 * not at all, and an unchecked lock file.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "pairtok.h"
#include "sys.h"
#include "testutil.h"

#define NOW 1764322500u

typedef struct fixture {
    tu_where at; /* <root>/etc/pair-tokens.toml, or a schema (the shared tests) */
    pairtok_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pairtok_options quick = {.lock_timeout_ms = 200};
    f->store = tu_where_open(&f->at, "safety", &quick);
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

static pairtok_store *second_handle(const fixture *f)
{
    pairtok_store *s;
    pairtok_error err;
    assert_int_equal(pairtok_store_open(tu_where_location(&f->at), NULL, &s, &err), PAIRTOK_OK);
    return s;
}

static void issue_at(pairtok_store *s, const char *principal, const char *label, uint64_t now,
                     char token[PAIRTOK_TOKEN_LEN + 1])
{
    pairtok_error err;
    if (pairtok_issue_at(s, principal, label, 300, token, NULL, now, &err) != PAIRTOK_OK) {
        fail_msg("issue: %s", err.message);
    }
}

static char *hash_of(const char *token)
{
    static char hex[4][PAIRTOK_HASH_LEN + 1];
    static int next;
    next = (next + 1) % 4;
    pairtok_hash_token(token, hex[next]);
    return hex[next];
}

static bool stored(fixture *f, const char *token)
{
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    bool found = false;
    const char *hash = hash_of(token);
    for (size_t i = 0; i < list.count; i++) {
        found |= strcmp(list.items[i].token_hash, hash) == 0;
    }
    pairtok_record_list_free(&list);
    return found;
}

static pairtok_record *find(pairtok_record_list *list, const char *token)
{
    const char *hash = hash_of(token);
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].token_hash, hash) == 0) {
            return &list->items[i];
        }
    }
    fail_msg("token not in the list");
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* 1. save applies only the caller's changes.                             */
/* ---------------------------------------------------------------------- */

/* load, another handle redeems A and issues C, the loaded list is saved
 * with a new label on B: A stays used, C stays, B gets its label. */
static void save_never_resurrects_nor_drops(void **state)
{
    fixture *f = *state;
    char a[PAIRTOK_TOKEN_LEN + 1], b[PAIRTOK_TOKEN_LEN + 1], c[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, a);
    issue_at(f->store, "bob", "old", NOW, b);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);

    pairtok_store *other = second_handle(f);
    assert_int_equal(pairtok_redeem_at(other, a, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
    issue_at(other, "carol", NULL, NOW, c);
    pairtok_store_close(other);

    pairtok_record *rb = find(&list, b);
    free(rb->label);
    rb->label = strdup("new");
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    assert_false(stored(f, a));
    assert_true(stored(f, c));
    assert_int_equal(pairtok_redeem_at(f->store, a, NULL, NULL, NULL, NOW, &err), PAIRTOK_EDENIED);
    pairtok_record rec;
    assert_int_equal(pairtok_redeem_at(f->store, b, NULL, NULL, &rec, NOW, &err), PAIRTOK_OK);
    assert_string_equal(rec.label, "new");
    pairtok_record_clear(&rec);
    pairtok_record_list_free(&list);
}

/* Taking a record out of a loaded list deletes it; what others added
 * after the load stays. */
static void save_deletes_what_the_caller_removed(void **state)
{
    fixture *f = *state;
    char a[PAIRTOK_TOKEN_LEN + 1], b[PAIRTOK_TOKEN_LEN + 1], c[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, a);
    issue_at(f->store, "bob", NULL, NOW, b);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(f->store, &list, &err), PAIRTOK_OK);
    pairtok_store *other = second_handle(f);
    issue_at(other, "carol", NULL, NOW, c);
    pairtok_store_close(other);
    assert_int_equal(pairtok_prune_expired(&list, NOW + 1000), 2);
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    assert_false(stored(f, a));
    assert_false(stored(f, b));
    assert_true(stored(f, c));
    pairtok_record_list_free(&list);
}

/* A list built by hand adds its records and takes nothing away; saving it
 * again after its record was redeemed does not bring the record back. */
static void hand_built_list_adds_once(void **state)
{
    fixture *f = *state;
    char a[PAIRTOK_TOKEN_LEN + 1], x[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, a);
    assert_int_equal(pairtok_generate_token(x), 0);
    pairtok_record rec = {.expires_at_epoch = NOW + 300, .issued_at_epoch = NOW};
    strcpy(rec.principal, "xavier");
    pairtok_hash_token(x, rec.token_hash);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_record_list_append(&list, &rec, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    assert_true(stored(f, a));
    assert_int_equal(pairtok_redeem_at(f->store, x, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    assert_false(stored(f, x));
    assert_int_equal(pairtok_redeem_at(f->store, x, NULL, NULL, NULL, NOW, &err), PAIRTOK_EDENIED);
    pairtok_record_list_free(&list);
}

/* ---------------------------------------------------------------------- */
/* 2. Duplicate hashes.                                                   */
/* ---------------------------------------------------------------------- */

static void write_store(const fixture *f, const char *text)
{
    mkdir(tu_join(f->at.site.root, "etc"), 0700);
    tu_write_file(f->at.site.path, text, strlen(text), 0600);
}

static void write_twins(const fixture *f, const char *token)
{
    char text[1024];
    const char *hash = hash_of(token);
    snprintf(text, sizeof text,
             "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"alice\"\n"
             "expires_at_epoch = %u\nissued_at_epoch = %u\n\n"
             "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"alice\"\n"
             "expires_at_epoch = %u\nissued_at_epoch = %u\n",
             hash, NOW + 300, NOW, hash, NOW + 300, NOW);
    write_store(f, text);
}

static size_t occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

/* A process that dies inside bind leaves every copy reserved: the twin is
 * not redeemable either. */
static void death_in_bind_reserves_every_copy(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    write_twins(f, t);
    tu_bind_ctx die = {.die = true, .exit_code = 7};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pairtok_error err;
        pairtok_status st = pairtok_redeem_at(f->store, t, tu_bind, &die, NULL, NOW, &err);
        _exit(st == PAIRTOK_OK ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    char *text = tu_read_file(f->at.site.path).data;
    assert_int_equal(occurrences(text, "reserved_at_epoch"), 2);
    free(text);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EDENIED);
    assert_int_equal(pairtok_redeem_at(f->store, t, tu_bind, &die, NULL, NOW, &err),
                     PAIRTOK_EDENIED);
}

static void two_phase_redeem_deletes_every_copy(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    write_twins(f, t);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, tu_bind, NULL, NULL, NOW, &err), PAIRTOK_OK);
    char *text = tu_read_file(f->at.site.path).data;
    assert_int_equal(occurrences(text, hash_of(t)), 0);
    free(text);
}

static void revoke_by_full_id_removes_every_copy(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    write_twins(f, t);
    size_t removed;
    pairtok_error err;
    assert_int_equal(pairtok_revoke_id(f->store, hash_of(t), &removed, &err), PAIRTOK_OK);
    assert_int_equal(removed, 2);
    assert_false(stored(f, t));
}

static void save_collapses_stored_duplicates(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    write_twins(f, t);
    pairtok_record rec = {.expires_at_epoch = NOW + 300, .issued_at_epoch = NOW};
    strcpy(rec.principal, "alice");
    strcpy(rec.token_hash, hash_of(t));
    rec.label = "one";
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_record_list_append(&list, &rec, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_store_save(f->store, &list, &err), PAIRTOK_OK);
    char *text = tu_read_file(f->at.site.path).data;
    assert_int_equal(occurrences(text, hash_of(t)), 1);
    free(text);
    pairtok_record_list_free(&list);
}

/* ---------------------------------------------------------------------- */
/* 3. Records issued in the future.                                       */
/* ---------------------------------------------------------------------- */

static void write_record(const fixture *f, const char *token, uint64_t issued, uint64_t expires)
{
    char text[512];
    snprintf(text, sizeof text,
             "[[pair_token]]\ntoken_hash = \"%s\"\nprincipal = \"alice\"\n"
             "expires_at_epoch = %llu\nissued_at_epoch = %llu\n",
             hash_of(token), (unsigned long long)expires, (unsigned long long)issued);
    write_store(f, text);
}

static void count_problem(const pairtok_error *problem, void *ctx)
{
    if (strstr(problem->message, "in the future") != NULL) {
        ++*(int *)ctx;
    }
}

static void future_issue_escapes_no_cap(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    uint64_t year = 365u * 86400u;
    write_record(f, t, NOW + year, NOW + year + 3600);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EDENIED);
    assert_true(stored(f, t));
    size_t problems;
    int future = 0;
    assert_int_equal(pairtok_check_at(f->store, count_problem, &future, &problems, NOW, &err),
                     PAIRTOK_OK);
    assert_int_equal(future, 1);
    assert_int_equal(problems, 1);
}

static void small_clock_skew_is_allowed(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(t), 0);
    uint64_t issued = NOW + PAIRTOK_CLOCK_SKEW_SECS;
    write_record(f, t, issued, issued + 300);
    size_t problems;
    pairtok_error err;
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 0);
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
}

/* ---------------------------------------------------------------------- */
/* 4, 5. The clock: read after the lock, and never taken as 0.            */
/* ---------------------------------------------------------------------- */

/* A clock that jumps 400 s once the store lock is held: a redeem that
 * reads it before waiting for the lock sees the token live. */
static bool lock_held;
static time_t clock_base;
static int fail_clock;

static int watching_flock(int fd, int op)
{
    int r = flock(fd, op);
    if (r == 0 && (op & LOCK_EX)) {
        lock_held = true;
    }
    return r;
}

static int jumping_clock(clockid_t id, struct timespec *ts)
{
    if (fail_clock) {
        errno = EINVAL;
        return -1;
    }
    int r = clock_gettime(id, ts);
    ts->tv_sec = clock_base + (lock_held ? 400 : 0);
    return r;
}

static void plain_redeem_reads_the_clock_after_the_lock(void **state)
{
    fixture *f = *state;
    clock_base = time(NULL);
    lock_held = false;
    fail_clock = 0;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, (uint64_t)clock_base, t); /* expires base + 300 */
    pt_sys sys = pt_sys_default;
    sys.flock = watching_flock;
    sys.clock_gettime = jumping_clock;
    pt_set_sys(f->store, &sys);
    pairtok_error err;
    assert_int_equal(pairtok_redeem(f->store, t, NULL, NULL, NULL, &err), PAIRTOK_EDENIED);
    pt_set_sys(f->store, NULL);
    assert_true(stored(f, t));
}

static void failed_clock_fails_the_call(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, (uint64_t)time(NULL), t);
    char *before = tu_read_file(f->at.site.path).data;
    pt_sys sys = pt_sys_default;
    sys.clock_gettime = jumping_clock;
    fail_clock = 1;
    pt_set_sys(f->store, &sys);
    pairtok_error err;
    char t2[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_redeem(f->store, t, NULL, NULL, NULL, &err), PAIRTOK_EIO);
    assert_non_null(strstr(err.message, "cannot read the system clock"));
    assert_int_equal(pairtok_issue(f->store, "bob", NULL, 300, t2, NULL, &err), PAIRTOK_EIO);
    assert_string_equal(t2, "");
    size_t removed;
    assert_int_equal(pairtok_prune(f->store, &removed, &err), PAIRTOK_EIO);
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_list(f->store, NULL, &list, &err), PAIRTOK_EIO);
    fail_clock = 0;
    pt_set_sys(f->store, NULL);
    char *after = tu_read_file(f->at.site.path).data;
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(pairtok_redeem(f->store, t, NULL, NULL, NULL, &err), PAIRTOK_OK);
}

/* ---------------------------------------------------------------------- */
/* 7. The lock file.                                                      */
/* ---------------------------------------------------------------------- */

static void hard_linked_lock_file_is_refused_and_not_chmodded(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, t);
    const char *victim = tu_join(f->at.site.root, "victim");
    static const char mine[] = "not yours to chmod\n";
    tu_write_file(victim, mine, sizeof mine - 1, 0644);
    assert_int_equal(unlink(f->at.site.lock), 0);
    assert_int_equal(link(victim, f->at.site.lock), 0);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "hard links"));
    assert_int_equal(tu_mode(victim) & 07777, 0644);
    assert_true(stored(f, t));
}

static void unsafe_lock_files_are_reported_by_check(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, t);
    size_t problems;
    pairtok_error err;
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 0);

    assert_int_equal(chmod(f->at.site.lock, 0644), 0);
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1);
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_int_equal(tu_mode(f->at.site.lock) & 07777, 0644);

    assert_int_equal(unlink(f->at.site.lock), 0);
    assert_int_equal(symlink(f->at.site.path, f->at.site.lock), 0);
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1);

    assert_int_equal(unlink(f->at.site.lock), 0);
    assert_int_equal(mkfifo(f->at.site.lock, 0600), 0);
    assert_int_equal(pairtok_check_at(f->store, NULL, NULL, &problems, NOW, &err), PAIRTOK_OK);
    assert_int_equal(problems, 1);
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EUNSAFE);
    assert_true(stored(f, t));
}

/* The lock file is replaced while we wait: the first flock we get is on a
 * file nobody else will ever lock again, so it must be taken again on the
 * file the name now leads to. */
static int flocks;
static int replaced_once;
static int counting_flock(int fd, int op)
{
    flocks++;
    return flock(fd, op);
}

static int replacing_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    int r = fstatat(dirfd, path, st, flags);
    if (r == 0 && !replaced_once && strstr(path, ".lock") != NULL) {
        replaced_once = 1;
        st->st_ino++; /* as if a new file had taken the name */
    }
    return r;
}

static void lock_file_replaced_under_a_waiter_is_locked_again(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, t);
    pt_sys sys = pt_sys_default;
    sys.flock = counting_flock;
    sys.fstatat = replacing_fstatat;
    flocks = 0;
    replaced_once = 0;
    pt_set_sys(f->store, &sys);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
    pt_set_sys(f->store, NULL);
    assert_int_equal(flocks, 2);
    assert_false(stored(f, t));
}

static void busy_message_does_not_invite_deleting_the_lock(void **state)
{
    fixture *f = *state;
    char t[PAIRTOK_TOKEN_LEN + 1];
    issue_at(f->store, "alice", NULL, NOW, t);
    int fd = open(f->at.site.lock, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    pairtok_error err;
    assert_int_equal(pairtok_redeem_at(f->store, t, NULL, NULL, NULL, NOW, &err), PAIRTOK_EBUSY);
    assert_null(strstr(err.message, "remove"));
    assert_null(strstr(err.message, "delete"));
    close(fd);
    assert_true(stored(f, t));
}

#define T(name) TU_FILE_TEST(name, setup, teardown)
#define SHARED(name) TU_SHARED_TEST(name, setup, teardown)

int main(void)
{
    static const tu_test tests[] = {
        SHARED(save_never_resurrects_nor_drops),
        SHARED(save_deletes_what_the_caller_removed),
        SHARED(hand_built_list_adds_once),
        T(death_in_bind_reserves_every_copy),
        T(two_phase_redeem_deletes_every_copy),
        T(revoke_by_full_id_removes_every_copy),
        T(save_collapses_stored_duplicates),
        T(future_issue_escapes_no_cap),
        T(small_clock_skew_is_allowed),
        T(plain_redeem_reads_the_clock_after_the_lock),
        T(failed_clock_fails_the_call),
        T(hard_linked_lock_file_is_refused_and_not_chmodded),
        T(unsafe_lock_files_are_reported_by_check),
        T(lock_file_replaced_under_a_waiter_is_locked_again),
        T(busy_message_does_not_invite_deleting_the_lock),
    };
    return tu_run_group("store safety", tests, sizeof tests / sizeof tests[0]);
}
