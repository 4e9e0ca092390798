/* SPDX-License-Identifier: ISC */
/*
 * test_badinput.c - every hostile input of tests/badinput.md, through the
 * library.  Each case asserts the exact status, a stable part of the
 * message, and that the store is unchanged byte for byte (plus its mode,
 * inode and type; a 1 GiB sparse file by size and timestamps) with no temp
 * file left.  The observed message of every case is printed as a TAP
 * comment ("# ...") so the table in badinput.md can be checked against it.
 *
 * Hostile files and directories are refused by every operation - load,
 * list, check (which reports it and still returns PAIRTOK_OK), issue,
 * redeem with and without bind, revoke by id and by principal, prune and
 * save.  Hostile arguments are refused before any I/O.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* The store is <root>/etc/pair-tokens.toml. */
typedef tu_site fixture;

static int setup(void **state)
{
    *state = tu_site_new("badinput", "etc");
    return 0;
}

static int teardown(void **state)
{
    tu_site_delete(*state);
    return 0;
}

/* A fresh directory with the base store in it. */
static void fresh(const fixture *f)
{
    tu_empty_dir(f->root);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    char *text = tu_base_store();
    tu_write_file(f->path, text, strlen(text), 0600);
    free(text);
}

/* ---------------------------------------------------------------------- */
/* Snapshots: "unchanged" means all of this is equal.                     */
/* ---------------------------------------------------------------------- */

typedef struct snapshot {
    bool exists;
    struct stat st;
    tu_blob bytes; /* regular files up to 1 MiB */
    char link[PAIRTOK_PATH_MAX];
    struct stat dir;
} snapshot;

static snapshot take(const fixture *f)
{
    snapshot s;
    memset(&s, 0, sizeof s);
    if (lstat(f->path, &s.st) == 0) {
        s.exists = true;
        if (S_ISREG(s.st.st_mode) && s.st.st_size <= (1 << 20)) {
            s.bytes = tu_read_file(f->path);
        } else if (S_ISLNK(s.st.st_mode)) {
            ssize_t n = readlink(f->path, s.link, sizeof s.link - 1);
            assert_true(n > 0);
        }
    }
    assert_int_equal(lstat(f->dir, &s.dir), 0);
    return s;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void assert_unchanged(const fixture *f, const snapshot *before, const char *what)
{
    snapshot now = take(f);
    bool same = now.exists == before->exists;
    if (same && now.exists) {
        same = now.st.st_ino == before->st.st_ino && now.st.st_mode == before->st.st_mode &&
               now.st.st_size == before->st.st_size && now.st.st_nlink == before->st.st_nlink &&
               now.st.st_uid == before->st.st_uid &&
               same_time(now.st.st_mtim, before->st.st_mtim) &&
               tu_blob_eq(&now.bytes, &before->bytes) && strcmp(now.link, before->link) == 0;
    }
    same = same && now.dir.st_mode == before->dir.st_mode;
    if (!same) {
        fail_msg("%s: the store changed", what);
    }
    if (tu_count_temps(f->dir, "pair-tokens.toml") != 0) {
        fail_msg("%s: temp file left", what);
    }
    tu_blob_free(&now.bytes);
}

/* ---------------------------------------------------------------------- */
/* Every operation against a hostile store.                               */
/* ---------------------------------------------------------------------- */

typedef struct seen {
    const char *want;
    bool found;
    size_t count;
    char first[PAIRTOK_MESSAGE_MAX];
} seen;

static void on_problem(const pairtok_error *problem, void *ctx)
{
    seen *s = ctx;
    if (s->count++ == 0) {
        snprintf(s->first, sizeof s->first, "%s", problem->message);
    }
    s->found = s->found || strstr(problem->message, s->want) != NULL;
}

static int bind_never(const pairtok_record *rec, void *ctx)
{
    (void)rec, (void)ctx;
    fail_msg("bind called on a refused store");
    return 1;
}

#define OP_READS 0x1u  /* load, list, check */
#define OP_WRITES 0x2u /* issue, redeem, revoke, prune, save */

static void expect(const fixture *f, const char *name, const char *op, pairtok_status st,
                   const pairtok_error *err, pairtok_status want, const char *msg,
                   const snapshot *before)
{
    if (st != want || err->code != want || strstr(err->message, msg) == NULL) {
        fail_msg("%s: %s: status %d (%s), want %d with '%s'", name, op, st, err->message, want,
                 msg);
    }
    char what[128];
    snprintf(what, sizeof what, "%s: %s", name, op);
    assert_unchanged(f, before, what);
}

/* Run every operation on the store as it is; each must be refused with
 * `want` and a message containing `msg`, leaving everything unchanged. */
static void refuse_all(const fixture *f, const char *name, pairtok_status want, const char *msg,
                       unsigned ops)
{
    snapshot before = take(f);
    pairtok_store *s = tu_open(f);
    pairtok_error err;
    pairtok_status st;
    char first[PAIRTOK_MESSAGE_MAX] = "";
    if (ops & OP_READS) {
        pairtok_record_list list = {0};
        st = pairtok_store_load(s, &list, &err);
        snprintf(first, sizeof first, "%s", err.message);
        expect(f, name, "load", st, &err, want, msg, &before);
        assert_int_equal(list.count, 0);
        st = pairtok_list_at(s, NULL, &list, TU_T0, &err);
        expect(f, name, "list", st, &err, want, msg, &before);
        seen problems = {msg, false, 0, ""};
        size_t n;
        st = pairtok_check_at(s, on_problem, &problems, &n, TU_T0, &err);
        if (st != PAIRTOK_OK || n == 0 || !problems.found) {
            fail_msg("%s: check: status %d, %zu problems, first: %s", name, st, n, problems.first);
        }
        assert_unchanged(f, &before, "check");
    }
    if (ops & OP_WRITES) {
        char tok[PAIRTOK_TOKEN_LEN + 1];
        size_t removed;
        st = pairtok_issue_at(s, "alice", NULL, 300, tok, NULL, TU_T0, &err);
        if (first[0] == '\0') {
            snprintf(first, sizeof first, "%s", err.message);
        }
        expect(f, name, "issue", st, &err, want, msg, &before);
        assert_string_equal(tok, "");
        st = pairtok_redeem_at(s, tu_tokens[1], NULL, NULL, NULL, TU_T0, &err);
        expect(f, name, "redeem", st, &err, want, msg, &before);
        st = pairtok_redeem_at(s, tu_tokens[1], bind_never, NULL, NULL, TU_T0, &err);
        expect(f, name, "redeem+bind", st, &err, want, msg, &before);
        char id[13];
        memcpy(id, tu_hash_of(1), 12);
        id[12] = '\0';
        st = pairtok_revoke_id(s, id, &removed, &err);
        expect(f, name, "revoke id", st, &err, want, msg, &before);
        st = pairtok_revoke_principal(s, "bob", &removed, &err);
        expect(f, name, "revoke principal", st, &err, want, msg, &before);
        st = pairtok_prune_at(s, &removed, TU_T0 + 100000, &err);
        expect(f, name, "prune", st, &err, want, msg, &before);
        pairtok_record rec = {.expires_at_epoch = TU_T0 + 60, .issued_at_epoch = TU_T0};
        strcpy(rec.token_hash, tu_hash_of(4));
        strcpy(rec.principal, "eve");
        pairtok_record_list one = {&rec, 1, 1, NULL};
        st = pairtok_store_save(s, &one, &err);
        expect(f, name, "save", st, &err, want, msg, &before);
    }
    pairtok_store_close(s);
    tu_blob_free(&before.bytes);
    print_message("# %s: status %d: %s\n", name, want, first);
}

/* A store file with `text` as its content. */
static void store_text(const fixture *f, const char *text)
{
    tu_empty_dir(f->root);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    tu_write_file(f->path, text, strlen(text), 0600);
}

/* One valid record with `field_line` appended (or replacing by order). */
static char *record_with(const char *extra, const char *expires, const char *issued)
{
    char *text = malloc(16384);
    assert_non_null(text);
    snprintf(text, 16384,
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"alice\"\n"
             "expires_at_epoch = %s\n"
             "issued_at_epoch = %s\n"
             "%s",
             tu_hash_of(0), expires, issued, extra);
    return text;
}

/* A hostile input, the case's name, and a stable part of the message. */
typedef struct bad_case {
    const char *input, *name, *msg;
} bad_case;

/* ---------------------------------------------------------------------- */
/* Hostile files and directories.                                         */
/* ---------------------------------------------------------------------- */

static void test_huge_sparse_file(void **state)
{
    fixture *f = *state;
    fresh(f);
    int fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)1 << 30), 0); /* 1 GiB, sparse */
    close(fd);
    refuse_all(f, "1 GiB sparse store", PAIRTOK_EUNSAFE, "over the 64 MiB limit",
               OP_READS | OP_WRITES);
    /* Refused before reading: not one read() on it. */
    pairtok_store *s = tu_open(f);
    pt_set_sys(s, &tu_sys);
    tu_fault_arm(TU_PASS, 0, 0);
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_EUNSAFE);
    assert_int_equal(tu_fault.per_call[TU_READ], 0);
    pairtok_store_close(s);
    /* 64 MiB exactly is allowed past the size check (then parsed). */
}

static void test_fifo(void **state)
{
    fixture *f = *state;
    fresh(f);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    refuse_all(f, "store is a FIFO", PAIRTOK_EUNSAFE, "not a regular file", OP_READS | OP_WRITES);
}

static void test_directory(void **state)
{
    fixture *f = *state;
    fresh(f);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0700), 0);
    refuse_all(f, "store is a directory", PAIRTOK_EUNSAFE, "not a regular file",
               OP_READS | OP_WRITES);
}

/* Move `path` (of the fresh store's tree) to `name` in `dir` and put a
 * relative symlink to it in its place.  Returns where it went. */
static const char *behind_symlink(const fixture *f, const char *path, const char *dir,
                                  const char *name)
{
    fresh(f);
    const char *real = tu_join(dir, name);
    assert_int_equal(rename(path, real), 0);
    assert_int_equal(symlink(name, path), 0);
    return real;
}

static void test_symlink(void **state)
{
    fixture *f = *state;
    const char *real = behind_symlink(f, f->path, f->dir, "real.toml");
    tu_blob target = tu_read_file(real);
    refuse_all(f, "store is a symlink", PAIRTOK_EUNSAFE, "symbolic link", OP_READS | OP_WRITES);
    tu_blob after = tu_read_file(real);
    assert_true(tu_blob_eq(&target, &after));
    tu_blob_free(&target);
    tu_blob_free(&after);
}

static void test_dangling_symlink(void **state)
{
    fixture *f = *state;
    fresh(f);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(symlink("/nonexistent/pairtok-target", f->path), 0);
    refuse_all(f, "store is a dangling symlink", PAIRTOK_EUNSAFE, "symbolic link",
               OP_READS | OP_WRITES);
}

static void test_hard_link(void **state)
{
    fixture *f = *state;
    fresh(f);
    assert_int_equal(link(f->path, tu_join(f->dir, "other-name")), 0);
    refuse_all(f, "store has 2 hard links", PAIRTOK_EUNSAFE, "has 2 hard links",
               OP_READS | OP_WRITES);
}

/* The fresh store with `target` (its file or its directory) at each of
 * `modes` in turn (put back to `restore` after each, unless 0): every
 * operation refuses with `msg`. */
static void refuse_modes(const fixture *f, const char *target, const char *what,
                         const mode_t *modes, size_t n, const char *msg, mode_t restore)
{
    for (size_t i = 0; i < n; i++) {
        fresh(f);
        assert_int_equal(chmod(target, modes[i]), 0);
        char name[64];
        snprintf(name, sizeof name, "%s mode %04o", what, (unsigned)modes[i]);
        refuse_all(f, name, PAIRTOK_EUNSAFE, msg, OP_READS | OP_WRITES);
        if (restore != 0) {
            assert_int_equal(chmod(target, restore), 0);
        }
    }
}

static void test_modes(void **state)
{
    fixture *f = *state;
    static const mode_t modes[] = {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666};
    refuse_modes(f, f->path, "store", modes, sizeof modes / sizeof modes[0], "too open", 0);
}

static void test_directory_modes(void **state)
{
    fixture *f = *state;
    static const mode_t modes[] = {0777, 0770, 0702, 0720, 01777};
    refuse_modes(f, f->dir, "directory", modes, sizeof modes / sizeof modes[0],
                 "writable by group or others", 0700);
}

static void test_directory_symlink(void **state)
{
    fixture *f = *state;
    const char *real = behind_symlink(f, f->dir, f->root, "real-etc");
    pairtok_store *s = tu_open(f);
    pairtok_error err;
    pairtok_record_list list = {0};
    char tok[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_EUNSAFE);
    assert_non_null(strstr(err.message, "symbolic link"));
    assert_int_equal(pairtok_issue_at(s, "alice", NULL, 300, tok, NULL, TU_T0, &err),
                     PAIRTOK_EUNSAFE);
    print_message("# store directory is a symlink: status %d: %s\n", PAIRTOK_EUNSAFE, err.message);
    pairtok_store_close(s);
    assert_int_equal(tu_count_temps(real, "pair-tokens.toml"), 0);
    assert_false(access(tu_join(real, "pair-tokens.toml.lock"), F_OK) == 0);
}

static void test_other_owner(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        skip();
    }
    fresh(f);
    assert_int_equal(chown(f->path, 65534, 65534), 0);
    refuse_all(f, "store owned by uid 65534", PAIRTOK_EUNSAFE, "owned by uid 65534",
               OP_READS | OP_WRITES);
    fresh(f);
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    refuse_all(f, "directory owned by uid 65534", PAIRTOK_EUNSAFE,
               "directory is owned by uid 65534", OP_READS | OP_WRITES);
}

static void test_lock_file(void **state)
{
    fixture *f = *state;
    /* A symlink where the lock goes: mutations refuse; reads need no lock. */
    fresh(f);
    assert_int_equal(symlink("/tmp/pairtok-nowhere", f->lock), 0);
    refuse_all(f, "lock file is a symlink", PAIRTOK_EUNSAFE, "lock file is a symbolic link",
               OP_WRITES);
    fresh(f);
    assert_int_equal(mkfifo(f->lock, 0600), 0);
    refuse_all(f, "lock file is a FIFO", PAIRTOK_EUNSAFE, "lock file is not a regular file",
               OP_WRITES);
    fresh(f);
    assert_int_equal(mkdir(f->lock, 0700), 0);
    refuse_all(f, "lock file is a directory", PAIRTOK_EIO, "cannot open lock file", OP_WRITES);
}

/* ---------------------------------------------------------------------- */
/* Hostile contents.                                                      */
/* ---------------------------------------------------------------------- */

static void test_schema_version(void **state)
{
    fixture *f = *state;
    char *rec = record_with("", "1764321600", "1764321300");
    char text[20000];
    snprintf(text, sizeof text, "schema_version = 2\n\n%s", rec);
    store_text(f, text);
    refuse_all(f, "schema_version = 2", PAIRTOK_ESCHEMA, "schema_version is set",
               OP_READS | OP_WRITES);
    snprintf(text, sizeof text, "schema_version = 1\n");
    store_text(f, text);
    refuse_all(f, "schema_version = 1 (any value)", PAIRTOK_ESCHEMA, "newer format",
               OP_READS | OP_WRITES);
    free(rec);
}

static void test_duplicate_key(void **state)
{
    fixture *f = *state;
    char *text = record_with("principal = \"mallory\"\n", "1764321600", "1764321300");
    store_text(f, text);
    refuse_all(f, "duplicate key in a [[pair_token]] table", PAIRTOK_EPARSE,
               ":6:", OP_READS | OP_WRITES);
    free(text);
}

static void test_duplicate_records(void **state)
{
    fixture *f = *state;
    /* The same token_hash twice: it loads (the format allows it), check
     * flags it, and one redeem consumes both copies - never two redeems. */
    char *one = record_with("", "1764321600", "1764321300");
    char text[40000];
    snprintf(text, sizeof text, "%s\n%s", one, one);
    store_text(f, text);
    pairtok_store *s = tu_open(f);
    pairtok_error err;
    pairtok_record_list list = {0};
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 2);
    /* save of a list with the duplicate refuses, nothing written */
    snapshot before = take(f);
    assert_int_equal(pairtok_store_save(s, &list, &err), PAIRTOK_EINVAL);
    assert_non_null(strstr(err.message, "twice"));
    assert_unchanged(f, &before, "save with duplicates");
    tu_blob_free(&before.bytes);
    pairtok_record_list_free(&list);
    seen problems = {"appears more than once", false, 0, ""};
    size_t n;
    assert_int_equal(pairtok_check_at(s, on_problem, &problems, &n, TU_T0, &err), PAIRTOK_OK);
    assert_true(problems.found);
    print_message("# duplicate records: check: %s\n", problems.first);
    assert_int_equal(pairtok_redeem_at(s, tu_tokens[0], NULL, NULL, NULL, TU_T0, &err), PAIRTOK_OK);
    assert_int_equal(pairtok_redeem_at(s, tu_tokens[0], NULL, NULL, NULL, TU_T0, &err),
                     PAIRTOK_EDENIED);
    assert_int_equal(pairtok_store_load(s, &list, &err), PAIRTOK_OK);
    assert_int_equal(list.count, 0);
    pairtok_store_close(s);
    free(one);
}

static void test_epochs(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *expires, *issued, *name, *msg;
    } cases[] = {
        {"-1", "1764321300", "expires_at_epoch = -1", "must not be negative"},
        {"1764321600", "-1764321300", "issued_at_epoch negative", "must not be negative"},
        {"18446744073709551616", "1764321300", "expires_at_epoch = 2^64", ":4:"},
        {"9223372036854775808", "1764321300", "expires_at_epoch = 2^63", ":4:"},
        {"1764321600", "18446744073709551615", "issued_at_epoch = 2^64-1", ":5:"},
        {"1.7e9", "1764321300", "expires_at_epoch a float", "expected an integer"},
        {"\"1764321600\"", "1764321300", "expires_at_epoch a string", "expected an integer"},
        {"1979-05-27T07:32:00Z", "1764321300", "expires_at_epoch a date", "expected an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = record_with("", cases[i].expires, cases[i].issued);
        store_text(f, text);
        refuse_all(f, cases[i].name, PAIRTOK_EPARSE, cases[i].msg, OP_READS | OP_WRITES);
        free(text);
    }
    /* INT64_MAX loads, but is never redeemable (lifetime over the cap). */
    char *text = record_with("", "9223372036854775807", "0");
    store_text(f, text);
    pairtok_store *s = tu_open(f);
    pairtok_error err;
    seen problems = {"exceeds the 1-hour cap", false, 0, ""};
    size_t n;
    assert_int_equal(pairtok_check_at(s, on_problem, &problems, &n, TU_T0, &err), PAIRTOK_OK);
    assert_true(problems.found);
    snapshot before = take(f);
    assert_int_equal(pairtok_redeem_at(s, tu_tokens[0], NULL, NULL, NULL, TU_T0, &err),
                     PAIRTOK_EDENIED);
    assert_unchanged(f, &before, "redeem of an INT64_MAX record");
    print_message("# expires_at_epoch = 2^63-1: loads; check: %s; redeem: %s\n", problems.first,
                  err.message);
    tu_blob_free(&before.bytes);
    pairtok_store_close(s);
    free(text);
}

static void test_bad_fields(void **state)
{
    fixture *f = *state;
    static const bad_case cases[] = {
        {"label = \"a\\u0000b\"\n", "label with an escaped NUL", "contains a NUL character"},
        {"label = 5\n", "label an integer", "expected a string"},
        {"reserved_at_epoch = \"x\"\n", "reserved_at_epoch a string", "expected an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = record_with(cases[i].input, "1764321600", "1764321300");
        store_text(f, text);
        refuse_all(f, cases[i].name, PAIRTOK_EPARSE, cases[i].msg, OP_READS | OP_WRITES);
        free(text);
    }
    /* A label of 4097 bytes in the file. */
    char extra[5000] = "label = \"";
    memset(extra + 9, 'x', 4097);
    strcpy(extra + 9 + 4097, "\"\n");
    char *text = record_with(extra, "1764321600", "1764321300");
    store_text(f, text);
    refuse_all(f, "label of 4097 bytes in the file", PAIRTOK_EPARSE, "longer than 4096 bytes",
               OP_READS | OP_WRITES);
    free(text);
    /* Raw invalid UTF-8 anywhere in the file. */
    text = record_with("label = \"\xff\xfe\"\n", "1764321600", "1764321300");
    store_text(f, text);
    refuse_all(f, "invalid UTF-8 in the file", PAIRTOK_EPARSE, ":6:", OP_READS | OP_WRITES);
    free(text);
    /* Bad hash and principal in the file. */
    static const char *const lines[][3] = {
        {"token_hash = \"ABC\"\n", "token_hash not 64 hex", "64 lowercase hex"},
        {"principal = \"../etc\"\n", "principal with ../", "must be 1 to 64"},
    };
    for (size_t i = 0; i < 2; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "[[pair_token]]\n%s%s%s", i == 0 ? "" : "token_hash = \"",
                 i == 0 ? "" : tu_hash_of(0), i == 0 ? "" : "\"\n");
        strcat(buf, lines[i][0]);
        if (i == 0) {
            strcat(buf, "principal = \"alice\"\n");
        }
        strcat(buf, "expires_at_epoch = 1764321600\nissued_at_epoch = 1764321300\n");
        store_text(f, buf);
        refuse_all(f, lines[i][1], PAIRTOK_EPARSE, lines[i][2], OP_READS | OP_WRITES);
    }
}

/* ---------------------------------------------------------------------- */
/* Hostile arguments: refused before any I/O.                             */
/* ---------------------------------------------------------------------- */

/* An argument test: the base store, its snapshot, a handle on it (whose
 * system calls tu_sys counts, if `counted`), and what the calls need. */
typedef struct argtest {
    const fixture *f;
    snapshot before;
    pairtok_store *s;
    pairtok_error err;
    char tok[PAIRTOK_TOKEN_LEN + 1];
} argtest;

static void arg_begin(argtest *t, void **state, bool counted)
{
    t->f = *state;
    fresh(t->f);
    t->before = take(t->f);
    t->s = tu_open(t->f);
    if (counted) {
        pt_set_sys(t->s, &tu_sys);
    }
}

static void arg_end(argtest *t)
{
    pairtok_store_close(t->s);
    tu_blob_free(&t->before.bytes);
}

/* `st` (of a call that reported into t->err) refuses the argument. */
static void refuse_arg(const argtest *t, const char *name, pairtok_status st, const char *msg)
{
    expect(t->f, name, "", st, &t->err, PAIRTOK_EINVAL, msg, &t->before);
    print_message("# %s: status %d: %s\n", name, st, t->err.message);
}

static void test_labels(void **state)
{
    argtest t;
    arg_begin(&t, state, true);
    char big[PAIRTOK_LABEL_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    static const bad_case cases[] = {
        {"\x1b[2J\x1b[31mred", "label with an ANSI escape", "control character (at byte 0)"},
        {"line1\nline2", "label with a newline", "control character (at byte 5)"},
        {"tab\there", "label with a tab", "control character"},
        {"del\x7f", "label with DEL", "control character"},
        {"c1 \xc2\x85", "label with a C1 control (U+0085)", "control character"},
        {"bad \xff", "label with invalid UTF-8 (0xFF)", "not valid UTF-8 (at byte 4)"},
        {"\xc0\xaf", "label with an overlong encoding", "not valid UTF-8"},
        {"\xed\xa0\x80", "label with a UTF-16 surrogate", "not valid UTF-8"},
        {"\xf4\x90\x80\x80", "label above U+10FFFF", "not valid UTF-8"},
        {"trunc \xe2\x82", "label with a truncated sequence", "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_fault_arm(TU_PASS, 0, 0);
        pairtok_status st =
            pairtok_issue_at(t.s, "alice", cases[i].input, 300, t.tok, NULL, TU_T0, &t.err);
        refuse_arg(&t, cases[i].name, st, cases[i].msg);
        assert_int_equal(tu_fault.calls, 0); /* before any I/O */
    }
    pairtok_status st = pairtok_issue_at(t.s, "alice", big, 300, t.tok, NULL, TU_T0, &t.err);
    refuse_arg(&t, "label of 4097 bytes", st, "longer than the 4096-byte limit");
    /* 4096 bytes and a NUL-free UTF-8 label with emoji are fine. */
    big[PAIRTOK_LABEL_MAX] = '\0';
    assert_int_equal(pairtok_issue_at(t.s, "alice", big, 300, t.tok, NULL, TU_T0, &t.err),
                     PAIRTOK_OK);
    assert_int_equal(pairtok_issue_at(t.s, "alice", "t\xc3\xa9l\xc3\xa9phone \xf0\x9f\x93\xb1", 300,
                                      t.tok, NULL, TU_T0, &t.err),
                     PAIRTOK_OK);
    arg_end(&t);
}

static void test_principals(void **state)
{
    argtest t;
    arg_begin(&t, state, false);
    char p65[66];
    memset(p65, 'a', 65);
    p65[65] = '\0';
    static const char *const bad[][2] = {
        {"a/b", "principal with /"},
        {"..", "principal .."},
        {"../etc", "principal ../etc"},
        {"a b", "principal with a space"},
        {"", "empty principal"},
        {"al\xc3\xaf"
         "ce",
         "principal with non-ASCII"},
        {"a\nb", "principal with a newline"},
        {"a.b", "principal with ."},
    };
    size_t removed;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pairtok_status st = pairtok_issue_at(t.s, bad[i][0], NULL, 300, t.tok, NULL, TU_T0, &t.err);
        refuse_arg(&t, bad[i][1], st, "principal: must be 1 to 64 characters");
        st = pairtok_revoke_principal(t.s, bad[i][0], &removed, &t.err);
        expect(t.f, bad[i][1], "revoke", st, &t.err, PAIRTOK_EINVAL, "principal:", &t.before);
    }
    pairtok_status st = pairtok_issue_at(t.s, p65, NULL, 300, t.tok, NULL, TU_T0, &t.err);
    refuse_arg(&t, "principal of 65 characters", st, "must be 1 to 64 characters");
    st = pairtok_issue_at(t.s, "anonymous", NULL, 300, t.tok, NULL, TU_T0, &t.err);
    refuse_arg(&t, "principal anonymous", st, "'anonymous' is reserved");
    p65[64] = '\0';
    assert_int_equal(pairtok_issue_at(t.s, p65, NULL, 300, t.tok, NULL, TU_T0, &t.err), PAIRTOK_OK);
    arg_end(&t);
}

static void test_tokens(void **state)
{
    argtest t;
    arg_begin(&t, state, true);
    char t31[32], t33[34];
    memcpy(t31, tu_tokens[0], 31);
    t31[31] = '\0';
    snprintf(t33, sizeof t33, "%sA", tu_tokens[0]);
    char eq[33], plus[33], slash[33], space[33];
    snprintf(eq, sizeof eq, "%.31s=", tu_tokens[0]);
    snprintf(plus, sizeof plus, "+%.31s", tu_tokens[0] + 1);
    snprintf(slash, sizeof slash, "%.16s/%.15s", tu_tokens[0], tu_tokens[0] + 17);
    snprintf(space, sizeof space, "%.16s %.15s", tu_tokens[0], tu_tokens[0] + 17);
    const char *const bad[][2] = {
        {t31, "token of 31 characters"},
        {t33, "token of 33 characters"},
        {eq, "token with ="},
        {plus, "token with +"},
        {slash, "token with /"},
        {space, "token with an inner space"},
        {"", "empty token"},
        {"   \t\n", "token of whitespace"},
        {"wEWrFNsi3D2oYehDDeymv_mEg9_k2q\xc3\xa9", "token with non-ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_fault_arm(TU_PASS, 0, 0);
        pairtok_status st = pairtok_redeem_at(t.s, bad[i][0], NULL, NULL, NULL, TU_T0, &t.err);
        refuse_arg(&t, bad[i][1], st, "token: malformed");
        assert_int_equal(tu_fault.calls, 0); /* before any I/O, no lock */
        assert_null(strstr(t.err.message, bad[i][0][0] ? bad[i][0] : "\x01"));
    }
    /* Surrounding whitespace is trimmed: a valid token with it works. */
    char padded[64];
    snprintf(padded, sizeof padded, " \t%s\r\n", tu_tokens[1]);
    assert_int_equal(pairtok_redeem_at(t.s, padded, NULL, NULL, NULL, TU_T0, &t.err), PAIRTOK_OK);
    arg_end(&t);
}

static void test_other_arguments(void **state)
{
    argtest t;
    arg_begin(&t, state, false);
    size_t removed;
    pairtok_status st = pairtok_issue_at(t.s, "alice", NULL, 0, t.tok, NULL, TU_T0, &t.err);
    refuse_arg(&t, "ttl 0", st, "ttl: must be greater than 0");
    st = pairtok_issue_at(t.s, "alice", NULL, 3601, t.tok, NULL, TU_T0, &t.err);
    refuse_arg(&t, "ttl 3601", st, "exceeds the 1-hour cap");
    static const char *const ids[][2] = {
        {"abcdef1", "id of 7 hex digits"},
        {"zzzzzzzz", "id not hex"},
        {"abcd-efgh", "id with -"},
        {"00000000000000000000000000000000000000000000000000000000000000000", "id of 65"},
    };
    for (size_t i = 0; i < 4; i++) {
        st = pairtok_revoke_id(t.s, ids[i][0], &removed, &t.err);
        refuse_arg(&t, ids[i][1], st, "id: must be 8 to 64 hex digits");
    }
    /* save validates every record first */
    pairtok_record rec = {.expires_at_epoch = TU_T0 + 60, .issued_at_epoch = TU_T0};
    strcpy(rec.principal, "alice");
    pairtok_record_list one = {&rec, 1, 1, NULL};
    strcpy(rec.token_hash, tu_hash_of(0));
    rec.token_hash[0] = 'G';
    st = pairtok_store_save(t.s, &one, &t.err);
    refuse_arg(&t, "save: hash not hex", st, "records[0]:");
    strcpy(rec.token_hash, tu_hash_of(0));
    strcpy(rec.principal, "a/b");
    st = pairtok_store_save(t.s, &one, &t.err);
    refuse_arg(&t, "save: principal a/b", st, "records[0]: principal");
    strcpy(rec.principal, "alice");
    rec.label = (char *)"bell\a";
    st = pairtok_store_save(t.s, &one, &t.err);
    refuse_arg(&t, "save: label with a control character", st, "control character");
    rec.label = NULL;
    rec.expires_at_epoch = (uint64_t)INT64_MAX + 1;
    st = pairtok_store_save(t.s, &one, &t.err);
    refuse_arg(&t, "save: epoch 2^63", st, "epoch out of range");
    arg_end(&t);
    /* Paths. */
    pairtok_error err;
    pairtok_store *none = (pairtok_store *)&removed;
    assert_int_equal(pairtok_store_open("", NULL, &none, &err), PAIRTOK_EINVAL);
    assert_null(none);
    print_message("# store path empty: status 1: %s\n", err.message);
    assert_int_equal(pairtok_store_open("/tmp/", NULL, &none, &err), PAIRTOK_EINVAL);
    print_message("# store path ending in /: status 1: %s\n", err.message);
    assert_int_equal(pairtok_store_open("/tmp/..", NULL, &none, &err), PAIRTOK_EINVAL);
    char *longp = malloc(PAIRTOK_PATH_MAX + 10);
    assert_non_null(longp);
    memset(longp, 'a', PAIRTOK_PATH_MAX + 9);
    longp[PAIRTOK_PATH_MAX + 9] = '\0';
    assert_int_equal(pairtok_store_open(longp, NULL, &none, &err), PAIRTOK_EINVAL);
    print_message("# store path of 4105 bytes: status 1: %s\n", err.message);
    free(longp);
}

/* A reader must not refuse a store that a writer replaced between the
 * reader's open and its fstat (the opened file then has 0 links): found by
 * test_concurrency's race test, made deterministic here. */
static const fixture *replace_fixture;
static int replace_armed;
static int replacing_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd = openat(dirfd, path, flags, mode);
    if (fd >= 0 && replace_armed && strcmp(path, "pair-tokens.toml") == 0) {
        replace_armed = 0;
        const char *next = tu_join(replace_fixture->dir, "next");
        char *text = tu_base_store();
        tu_write_file(next, text, strlen(text), 0600);
        free(text);
        if (rename(next, replace_fixture->path) != 0) {
            tu_die("rename");
        }
    }
    return fd;
}

static void test_replaced_while_opening(void **state)
{
    fixture *f = *state;
    fresh(f);
    replace_fixture = f;
    pt_sys sys = pt_sys_default;
    sys.openat = replacing_openat;
    pairtok_store *s = tu_open(f);
    pt_set_sys(s, &sys);
    pairtok_error err;
    pairtok_record_list list = {0};
    replace_armed = 1;
    pairtok_status st = pairtok_store_load(s, &list, &err);
    if (st != PAIRTOK_OK) {
        fail_msg("load refused a store replaced by a writer meanwhile: %s", err.message);
    }
    assert_int_equal(list.count, 3);
    pairtok_record_list_free(&list);
    replace_armed = 1;
    size_t problems;
    assert_int_equal(pairtok_check_at(s, NULL, NULL, &problems, TU_T0, &err), PAIRTOK_OK);
    assert_int_equal(problems, 0);
    replace_armed = 1; /* the redeem's unlocked existence check */
    assert_int_equal(pairtok_redeem_at(s, tu_tokens[0], NULL, NULL, NULL, TU_T0, &err), PAIRTOK_OK);
    pairtok_store_close(s);
}

/* Every test has the fixture's setup and teardown. */
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_huge_sparse_file),
        TEST(test_fifo),
        TEST(test_directory),
        TEST(test_symlink),
        TEST(test_dangling_symlink),
        TEST(test_hard_link),
        TEST(test_modes),
        TEST(test_directory_modes),
        TEST(test_directory_symlink),
        TEST(test_other_owner),
        TEST(test_lock_file),
        TEST(test_schema_version),
        TEST(test_duplicate_key),
        TEST(test_duplicate_records),
        TEST(test_epochs),
        TEST(test_bad_fields),
        TEST(test_labels),
        TEST(test_principals),
        TEST(test_tokens),
        TEST(test_other_arguments),
        TEST(test_replaced_while_opening),
    };
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
