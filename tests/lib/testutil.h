/* SPDX-License-Identifier: ISC */
/*
 * testutil.h - the one helper library of every C test (tests/lib/): unit
 * tests, reliability suites and ctgrind.  One prefix, tu_ (TU_ for macros
 * and enum values).
 *
 *   run.c     failing a check, fewer iterations under ASan
 *   files.c   temp directories, paths, whole files, directory entries,
 *             locks and descriptors
 *   store.c   where a test's store lives, fixed tokens and the fixture
 *             store, record lists, the bind callback of two-phase redeems
 *   ops.c     the store operations the fault and allocation suites run
 *   faults.c  a pt_sys table that counts every call and can fail one
 *
 * Nothing here uses cmocka, so it runs in forked children and in ctgrind
 * too; a failed check goes through tu_fail (cmocka's fail_msg once a test
 * installs it with tu_fail_via(tu_cmocka_fail)).
 */
#ifndef PAIRTOK_TESTUTIL_H
#define PAIRTOK_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pairtok.h"
#include "sys.h"

/* ---------------------------------------------------------------------- */
/* Failing, and how much to run (run.c).                                  */
/* ---------------------------------------------------------------------- */

/* Abort with a message (for helpers and forked children). */
void tu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Report a failed check: through the hook installed with tu_fail_via (a
 * cmocka test's fail_msg) in the process that installed it, else - in a
 * forked child, or with no hook - like tu_die. */
void tu_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void tu_fail_via(void (*hook)(const char *message));
/* True when PAIRTOK_TEST_BACKEND=pg: the tests that hold for every
 * backend run on a database (tests/pg/test-shared.sh). */
bool tu_backend_is_db(void);

#ifdef fail_msg
/* <cmocka.h> came first: a test's main calls tu_fail_via(tu_cmocka_fail). */
static inline void tu_cmocka_fail(const char *message)
{
    fail_msg("%s", message);
}

/* A cmocka test that holds for every backend (shared), or only for the
 * file store. */
typedef struct tu_test {
    struct CMUnitTest test;
    bool shared;
} tu_test;
#define TU_FILE_TEST(fn, setup, teardown)                                                          \
    {                                                                                              \
        cmocka_unit_test_setup_teardown(fn, setup, teardown), false                                \
    }
#define TU_SHARED_TEST(fn, setup, teardown)                                                        \
    {                                                                                              \
        cmocka_unit_test_setup_teardown(fn, setup, teardown), true                                 \
    }

/* Run the group: every test on a file store, or only the shared ones on a
 * database (then the group's name says so). */
static inline int tu_run_group(const char *name, const tu_test *tests, size_t n)
{
    struct CMUnitTest *run = calloc(n ? n : 1, sizeof *run);
    size_t count = 0;
    bool db = tu_backend_is_db();
    for (size_t i = 0; i < n; i++) {
        if (tests[i].shared || !db) {
            run[count++] = tests[i].test;
        }
    }
    char group[128];
    snprintf(group, sizeof group, "%s%s", name, db ? " (postgresql)" : "");
    tu_fail_via(tu_cmocka_fail);
    int failed = _cmocka_run_group_tests(group, run, count, NULL, NULL);
    free(run);
    return failed;
}
#endif

/* True when $BUILD names the sanitizer build (fewer iterations there). */
bool tu_is_asan(void);
/* `full` in the plain build, `reduced` in the ASan build. */
unsigned tu_scale(unsigned full, unsigned reduced);

/* ---------------------------------------------------------------------- */
/* Files and directories (files.c).  Each dies (tu_die) when the system   */
/* refuses what a test needs to set up.                                   */
/* ---------------------------------------------------------------------- */

/* A fresh 0700 directory $TMPDIR/pairtok-<tag>-XXXXXX (or under /tmp),
 * malloc'd. */
char *tu_mkdtemp(const char *tag);
/* rm -rf (makes directories writable first); a missing path is no error. */
void tu_rm_tree(const char *path);
/* Remove everything inside `dir`, keep `dir`. */
void tu_empty_dir(const char *dir);
/* dir + "/" + name into a rotating static buffer (16 slots). */
const char *tu_join(const char *dir, const char *name);
/* lstat: does `path` exist (a dangling link does)?  Its permission bits,
 * or (mode_t)-1 if it does not. */
bool tu_exists(const char *path);
mode_t tu_mode(const char *path);

/* A file's bytes, or absence. */
typedef struct tu_blob {
    bool exists;
    char *data; /* malloc'd, NUL-terminated; NULL when !exists */
    size_t len;
} tu_blob;
/* The regular file at `path` (not followed if a link), or !exists if there
 * is none.  `.data` alone is a malloc'd string, NULL if absent. */
tu_blob tu_read_file(const char *path);
void tu_blob_free(tu_blob *b);
bool tu_blob_eq(const tu_blob *a, const tu_blob *b);
/* Write `len` bytes to `path` (created or truncated, not through a link)
 * and set its mode to exactly `mode`. */
void tu_write_file(const char *path, const char *data, size_t len, mode_t mode);
/* Restore a snapshot: write it, or make sure the file is absent. */
void tu_restore_file(const char *path, const tu_blob *b, mode_t mode);

/* Entries of `dir` whose name contains `needle` (0 if there is no dir). */
size_t tu_count_entries(const char *dir, const char *needle);
/* Temp files of the store `base` left in `dir` (".<base>.tmp-*"). */
size_t tu_count_temps(const char *dir, const char *base);
/* True if nobody holds the flock on `lock_path` (a missing file is free). */
bool tu_lock_is_free(const char *lock_path);
/* Number of open descriptors of this process. */
size_t tu_open_fds(void);

/* ---------------------------------------------------------------------- */
/* Where a store lives; fixed tokens and records (store.c).               */
/* ---------------------------------------------------------------------- */

/* A fixed "now" for the suites: 2025-11-28 09:15:00 UTC. */
#define TU_T0 ((uint64_t)1764321300)

/* A store in a fresh temp directory, with every path a test touches. */
typedef struct tu_site {
    char *root;                       /* a fresh tu_mkdtemp directory */
    char dir[PAIRTOK_PATH_MAX];       /* the store's directory: root or root/sub */
    char path[PAIRTOK_PATH_MAX + 32]; /* dir/pair-tokens.toml */
    char lock[PAIRTOK_PATH_MAX + 64]; /* path.lock */
    pairtok_options opts;             /* what tu_open passes; zero: the defaults */
} tu_site;
/* Make the root (tu_mkdtemp(tag)) and name the rest; `sub` NULL: the store
 * is directly in the root.  Only the root is created. */
void tu_site_init(tu_site *site, const char *tag, const char *sub);
/* rm -rf the root. */
void tu_site_free(tu_site *site);
/* The same, for a fixture that is just a site (malloc'd / freed). */
tu_site *tu_site_new(const char *tag, const char *sub);
void tu_site_delete(tu_site *site);
/* pairtok_store_open on the site's store with its options (tu_fail if that
 * fails); tu_open_with takes a path and options (NULL: defaults) of its own. */
pairtok_store *tu_open(const tu_site *site);
pairtok_store *tu_open_with(const char *path, const pairtok_options *opts);

/* Where a test that holds for every backend keeps its store: a fresh
 * file store under a temp directory. */
/* With PAIRTOK_TEST_BACKEND=pg (under tests/pg/with-pg), a schema of its
 * own on the test server instead: the same tests then hold for both
 * backends. */
typedef struct tu_location {
    char *home;                      /* temp directory (file store), or NULL */
    char schema[64];                 /* its schema (database) */
    char location[PAIRTOK_PATH_MAX]; /* what pairtok_store_open takes */
} tu_location;
void tu_location_init(tu_location *loc);
/* Always a schema on the test server (the database's own suites). */
void tu_location_init_db(tu_location *loc);
void tu_location_free(tu_location *loc);

/* Where a test that may run on either backend keeps its store: a site
 * (store in <root>/etc, `opts` its options) on the file store, or a schema
 * of its own when tu_backend_is_db(). */
typedef struct tu_where {
    tu_site site;
    tu_location db;
    bool on_db;
} tu_where;
pairtok_store *tu_where_open(tu_where *w, const char *tag, const pairtok_options *opts);
void tu_where_free(tu_where *w);
/* What pairtok_store_open takes for it. */
const char *tu_where_location(const tu_where *w);

/* A database suite run without a server runs itself again under
 * tests/pg/with-pg (PAIRTOK_WITH_PG overrides where that is): returns only
 * when PAIRTOK_TEST_PG names a server. */
#define TU_WITH_PG "tests/pg/with-pg"
void tu_run_under_pg(char **argv);

/* A start line for forked clients: each, once connected, says it is ready
 * and waits; the parent lets them all go at once, so that their calls
 * really overlap. */
typedef struct tu_start_line {
    int ready[2];
    int go[2];
} tu_start_line;
void tu_start_line_open(tu_start_line *s);
/* In the child: ready, then wait for the go (_exit(fail_code) if the
 * parent is gone). */
void tu_start_line_wait(tu_start_line *s, int fail_code);
/* In the parent, once n children are forked: wait until all are ready;
 * then tu_start_line_go lets them run (release does both). */
void tu_start_line_ready(tu_start_line *s, int n);
void tu_start_line_go(tu_start_line *s);
void tu_start_line_release(tu_start_line *s, int n);
/* True for a file store: a test may then also look at the file. */
bool tu_location_is_file(const tu_location *loc);

/* Fixed tokens of the shape the library issues, and their hashes. */
#define TU_NTOK 8
extern const char *const tu_tokens[TU_NTOK];
const char *tu_hash_of(size_t i); /* hex sha256 of tu_tokens[i] */

/* The old version most suites start from (malloc'd): a comment, an unknown
 * top-level key, and three records at TU_T0 - tu_tokens[0] for alice (live,
 * label, unknown key), [1] for bob (live), [2] for carol (expired). */
char *tu_base_store(void);
/* The same as a blob (exists, malloc'd). */
tu_blob tu_base_blob(void);

/* Replace every 64-hex-digit run that is not in `keep` (n hashes) with
 * 'X's, in place.  Lets a file with a freshly issued (random) token be
 * compared byte for byte with a reference run. */
void tu_mask_unknown_hashes(char *text, size_t len, const char *const *keep, size_t n);
/* tu_read_file, with every 64-hex-digit run that is not a hash of
 * tu_tokens masked when `mask` is set. */
tu_blob tu_read_file_masked(const char *path, bool mask);

/* Append a copy of `record` (label duplicated) to `list`: PAIRTOK_OK, or
 * PAIRTOK_ENOMEM. */
pairtok_status tu_list_push(pairtok_record_list *list, const pairtok_record *record);

/* What tu_bind does when a two-phase redeem calls it. */
typedef struct tu_bind_ctx {
    int result;               /* returned: 0 accepts the record, non-zero refuses it */
    const char *principal;    /* if set, the record must be this principal's (tu_fail) */
    const char *capture_path; /* if set, this file is read into `captured` */
    bool die;                 /* _exit(exit_code) instead of returning: the host */
    int exit_code;            /* bound the key, then the process died */
    /* Filled in. */
    int calls;
    tu_blob captured; /* the last capture; tu_blob_free it */
} tu_bind_ctx;
/* The bind callback of pairtok_redeem_at; `ctx` is a tu_bind_ctx, or NULL
 * to accept. */
int tu_bind(const pairtok_record *rec, void *ctx);

/* ---------------------------------------------------------------------- */
/* The operations test_faults and test_alloc run on tu_base_store()       */
/* (ops.c).                                                               */
/* ---------------------------------------------------------------------- */

typedef struct tu_op_ctx {
    /* Set by the suite. */
    bool want_record;    /* issue and redeem ask for record_out, and check it */
    int refusal;         /* what the bind of tu_op_redeem_abort returns (non-zero) */
    const char *revokee; /* the principal tu_op_revoke_principal revokes */
    tu_bind_ctx bind;    /* the bind of the two-phase redeems: set capture_path */
    /* Filled in by the operation. */
    char token[PAIRTOK_TOKEN_LEN + 1]; /* issue's token_out */
} tu_op_ctx;

typedef pairtok_status (*tu_op_fn)(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);

/* At TU_T0.  Each checks what it gets back (tu_fail): */
/* issue for alice, label "new phone", 300 s: on failure token_out (and
 * record_out) left empty; with a record, its label. */
pairtok_status tu_op_issue(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* redeem tu_tokens[0] (alice's): with a record, alice's with its label. */
pairtok_status tu_op_redeem(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* The same, two-phase: the bind accepts / refuses with c->refusal. */
pairtok_status tu_op_redeem_bind(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
pairtok_status tu_op_redeem_abort(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* revoke bob's token by its display id: exactly one removed on success. */
pairtok_status tu_op_revoke_id(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* revoke every token of c->revokee. */
pairtok_status tu_op_revoke_principal(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
pairtok_status tu_op_prune(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* save two records: bob's (tu_tokens[1], labelled) and dave's (tu_tokens[3]). */
pairtok_status tu_op_save(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* load: 3 records on success, none on failure. */
pairtok_status tu_op_load(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* list: the 2 live records on success, none on failure. */
pairtok_status tu_op_list(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);
/* check: no problem on success. */
pairtok_status tu_op_check(pairtok_store *s, tu_op_ctx *c, pairtok_error *err);

/* Did a run end as a fault-free one does (status `ok`)?  A refused bind is
 * PAIRTOK_EABORTED either way; the message tells whether releasing the
 * token worked. */
bool tu_op_succeeded(pairtok_status st, pairtok_status ok, const pairtok_error *err);
/* The status of a run whose injected fault was reported: `fault`, or
 * PAIRTOK_EABORTED once a refusing bind ran. */
pairtok_status tu_op_failed_status(pairtok_status ok, const tu_op_ctx *c, pairtok_status fault);

/* ---------------------------------------------------------------------- */
/* A pt_sys table that counts every call and can misbehave at one    */
/* (faults.c).                                                            */
/* ---------------------------------------------------------------------- */

typedef enum tu_call {
    TU_OPENAT,
    TU_FSTAT,
    TU_READ,
    TU_WRITE,
    TU_FSYNC,
    TU_CLOSE,
    TU_RENAMEAT,
    TU_UNLINKAT,
    TU_MKDIRAT,
    TU_FCHMOD,
    TU_FLOCK,
    TU_FSTATAT,
    TU_CLOCK,
    TU_NCALLS
} tu_call;

typedef enum tu_fault_mode {
    TU_PASS,  /* count only */
    TU_FAIL,  /* the fail_at-th counted call fails with `errnum` */
    TU_EXIT,  /* _exit(exit_code) before the fail_at-th call */
    TU_EINTR, /* the fail_at-th read/write/flock returns -1 EINTR */
} tu_fault_mode;

typedef struct tu_faults {
    tu_fault_mode mode;
    unsigned long fail_at; /* 1-based index among counted calls; 0 = never */
    int errnum;
    int exit_code;
    bool short_io; /* every read/write moves at most half the bytes asked */
    /* Observations. */
    unsigned long calls; /* counted so far */
    bool fired;          /* the fault was injected */
    tu_call fired_call;  /* which call it hit */
    bool fired_on_dir;   /* ... on a directory's descriptor (fsync) */
    unsigned long per_call[TU_NCALLS];
    /* Durability order of successful calls: a renameat must come after an
     * fsync of the last file written, and be followed by an fsync of a
     * directory.  `violation` names the first breach, NULL if none;
     * `rename_pending` is set from a rename until its directory fsync. */
    int written_fd;
    bool written_unsynced;
    bool rename_pending;
    const char *violation;
} tu_faults;

/* The one, process-wide fault state the table below consults. */
extern tu_faults tu_fault;
extern const pt_sys tu_sys;
/* Reset the observations and set mode/fail_at/errnum. */
void tu_fault_arm(tu_fault_mode mode, unsigned long fail_at, int errnum);
const char *tu_call_name(tu_call c);
/* Words ('|'-separated alternatives) one of which the error message of a
 * failing `c` must contain. */
const char *tu_call_keyword(tu_call c);

#endif
