/* SPDX-License-Identifier: ISC */
/*
 * rel.h - helpers shared by the reliability suites (tests/reliability/):
 * temp directories and store sites, byte-exact file snapshots,
 * lock/temp-file/fd checks, a fault-injecting pairtok_sys table, fixed test
 * tokens, and the store operations the fault and allocation suites run.
 *
 * Nothing here uses cmocka, so it can run in forked children too; a failed
 * check goes through rt_fail (cmocka's fail_msg once a suite installs it).
 */
#ifndef PAIRTOK_REL_H
#define PAIRTOK_REL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pairtok.h"
#include "sys.h"

/* A fixed "now" for the suites: 2025-11-28 09:15:00 UTC. */
#define RT_T0 ((uint64_t)1764321300)

/* Abort with a message (for helpers and forked children). */
void rt_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Report a failed check: through the hook installed with rt_fail_via (a
 * cmocka suite's fail_msg) in the process that installed it, else - in a
 * forked child, or with no hook - like rt_die. */
void rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void rt_fail_via(void (*hook)(const char *message));
#ifdef fail_msg
/* <cmocka.h> came first: a suite's main calls rt_fail_via(rt_cmocka_fail). */
static inline void rt_cmocka_fail(const char *message)
{
    fail_msg("%s", message);
}
#endif

/* True when $BUILD names the sanitizer build (fewer iterations there). */
bool rt_is_asan(void);
/* `full` in the plain build, `reduced` in the ASan build. */
unsigned rt_scale(unsigned full, unsigned reduced);

/* A fresh 0700 directory under $TMPDIR (or /tmp), malloc'd. */
char *rt_mkdtemp(const char *tag);
/* rm -rf (makes entries writable first). */
void rt_rm_tree(const char *path);
/* Remove everything inside `dir`, keep `dir`. */
void rt_empty_dir(const char *dir);
/* dir + "/" + name into a rotating static buffer (16 slots). */
const char *rt_join(const char *dir, const char *name);

/* Where a suite's store lives. */
typedef struct rt_site {
    char *root;                       /* a fresh rt_mkdtemp directory */
    char dir[PAIRTOK_PATH_MAX];       /* the store's directory: root or root/sub */
    char path[PAIRTOK_PATH_MAX + 32]; /* dir/pair-tokens.toml */
    char lock[PAIRTOK_PATH_MAX + 64]; /* path.lock */
    pairtok_options opts;             /* what rt_open passes; zero: the defaults */
} rt_site;
/* Make the root (rt_mkdtemp(tag)) and name the rest; `sub` NULL: the store
 * is directly in the root.  Only the root is created. */
void rt_site_init(rt_site *site, const char *tag, const char *sub);
/* rm -rf the root. */
void rt_site_free(rt_site *site);
/* The same, for a fixture that is just a site (calloc'd / freed). */
rt_site *rt_site_new(const char *tag, const char *sub);
void rt_site_delete(rt_site *site);
/* pairtok_store_open on the site's store with its options (rt_fail if that
 * fails); rt_open_with takes a path and options of its own. */
pairtok_store *rt_open(const rt_site *site);
pairtok_store *rt_open_with(const char *path, const pairtok_options *opts);

/* A file's bytes, or absence. */
typedef struct rt_blob {
    bool exists;
    char *data; /* malloc'd, NUL-terminated; NULL when !exists */
    size_t len;
} rt_blob;
rt_blob rt_read(const char *path);
/* rt_read, with every 64-hex-digit run that is not a hash of rt_tokens
 * masked (rt_mask_unknown_hashes) when `mask` is set. */
rt_blob rt_read_masked(const char *path, bool mask);
void rt_blob_free(rt_blob *b);
bool rt_blob_eq(const rt_blob *a, const rt_blob *b);
/* Write `len` bytes to `path` (created/truncated) with `mode`. */
void rt_write(const char *path, const char *data, size_t len, mode_t mode);
/* Restore a snapshot: write it, or make sure the file is absent. */
void rt_restore(const char *path, const rt_blob *b, mode_t mode);
/* Replace every 64-hex-digit run that is not in `keep` (n hashes) with
 * 'X's, in place.  Lets a file with a freshly issued (random) token be
 * compared byte for byte with a reference run. */
void rt_mask_unknown_hashes(char *text, size_t len, const char *const *keep, size_t n);

/* Temp files of the store `base` left in `dir` (".<base>.tmp-*"). */
size_t rt_count_temps(const char *dir, const char *base);
/* True if nobody holds the flock on `lock_path` (a missing file is free). */
bool rt_lock_is_free(const char *lock_path);
/* Number of open descriptors of this process. */
size_t rt_open_fds(void);

/* Fixed tokens of the shape the library issues, and their hashes. */
#define RT_NTOK 8
extern const char *const rt_tokens[RT_NTOK];
const char *rt_hash_of(size_t i); /* hex sha256 of rt_tokens[i] */

/* The old version most suites start from (malloc'd): a comment, an unknown
 * top-level key, and three records at RT_T0 - rt_tokens[0] for alice (live,
 * label, unknown key), [1] for bob (live), [2] for carol (expired). */
char *rt_base_store(void);
/* The same as a blob (exists, malloc'd). */
rt_blob rt_base_blob(void);

/* ---------------------------------------------------------------------- */
/* The operations test_faults and test_alloc run on rt_base_store().      */
/* ---------------------------------------------------------------------- */

typedef struct rt_op_ctx {
    /* Set by the suite. */
    bool want_record;         /* issue and redeem ask for record_out, and check it */
    int refusal;              /* what the bind of rt_op_redeem_abort returns (non-zero) */
    const char *revokee;      /* the principal rt_op_revoke_principal revokes */
    const char *capture_path; /* if set, bind reads this file into `captured` */
    /* Filled in by the operation. */
    char token[PAIRTOK_TOKEN_LEN + 1]; /* issue's token_out */
    int bind_calls;
    rt_blob captured;
} rt_op_ctx;

typedef pairtok_status (*rt_op_fn)(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);

/* At RT_T0.  Each checks what it gets back (rt_fail): */
/* issue for alice, label "new phone", 300 s: on failure token_out (and
 * record_out) left empty; with a record, its label. */
pairtok_status rt_op_issue(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* redeem rt_tokens[0] (alice's): with a record, alice's with its label. */
pairtok_status rt_op_redeem(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* The same, two-phase: the bind accepts / refuses with c->refusal. */
pairtok_status rt_op_redeem_bind(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
pairtok_status rt_op_redeem_abort(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* revoke bob's token by its display id: exactly one removed on success. */
pairtok_status rt_op_revoke_id(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* revoke every token of c->revokee. */
pairtok_status rt_op_revoke_principal(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
pairtok_status rt_op_prune(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* save two records: bob's (rt_tokens[1], labelled) and dave's (rt_tokens[3]). */
pairtok_status rt_op_save(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* load: 3 records on success, none on failure. */
pairtok_status rt_op_load(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* list: the 2 live records on success, none on failure. */
pairtok_status rt_op_list(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);
/* check: no problem on success. */
pairtok_status rt_op_check(pairtok_store *s, rt_op_ctx *c, pairtok_error *err);

/* Did a run end as a fault-free one does (status `ok`)?  A refused bind is
 * PAIRTOK_EABORTED either way; the message tells whether releasing the
 * token worked. */
bool rt_op_succeeded(pairtok_status st, pairtok_status ok, const pairtok_error *err);
/* The status of a run whose injected fault was reported: `fault`, or
 * PAIRTOK_EABORTED once a refusing bind ran. */
pairtok_status rt_op_failed_status(pairtok_status ok, const rt_op_ctx *c, pairtok_status fault);

/* ---------------------------------------------------------------------- */
/* A pairtok_sys table that counts every call and can misbehave at one.   */
/* ---------------------------------------------------------------------- */

typedef enum rt_call {
    RT_OPENAT,
    RT_FSTAT,
    RT_READ,
    RT_WRITE,
    RT_FSYNC,
    RT_CLOSE,
    RT_RENAMEAT,
    RT_UNLINKAT,
    RT_MKDIRAT,
    RT_FCHMOD,
    RT_FLOCK,
    RT_FSTATAT,
    RT_CLOCK,
    RT_NCALLS
} rt_call;

typedef enum rt_mode {
    RT_PASS,  /* count only */
    RT_FAIL,  /* the fail_at-th counted call fails with `errnum` */
    RT_EXIT,  /* _exit(exit_code) before the fail_at-th call */
    RT_EINTR, /* the fail_at-th read/write/flock returns -1 EINTR */
} rt_mode;

typedef struct rt_faults {
    rt_mode mode;
    unsigned long fail_at; /* 1-based index among counted calls; 0 = never */
    int errnum;
    int exit_code;
    bool short_io; /* every read/write moves at most half the bytes asked */
    /* Observations. */
    unsigned long calls; /* counted so far */
    bool fired;          /* the fault was injected */
    rt_call fired_call;  /* which call it hit */
    bool fired_on_dir;   /* ... on a directory's descriptor (fsync) */
    unsigned long per_call[RT_NCALLS];
    /* Durability order of successful calls: a renameat must come after an
     * fsync of the last file written, and be followed by an fsync of a
     * directory.  `violation` names the first breach, NULL if none;
     * `rename_pending` is set from a rename until its directory fsync. */
    int written_fd;
    bool written_unsynced;
    bool rename_pending;
    const char *violation;
} rt_faults;

/* The one, process-wide fault state the table below consults. */
extern rt_faults rt_fault;
extern const pairtok_sys rt_sys;
/* Reset the observations and set mode/fail_at/errnum. */
void rt_fault_arm(rt_mode mode, unsigned long fail_at, int errnum);
const char *rt_call_name(rt_call c);
/* Words ('|'-separated alternatives) one of which the error message of a
 * failing `c` must contain. */
const char *rt_call_keyword(rt_call c);

#endif
