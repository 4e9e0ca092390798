/* SPDX-License-Identifier: ISC */
/*
 * fsafe.h - safe opening, reading, locking and atomic replacement of the
 * store file (internal to libpairtok).
 *
 * Every open is O_NOFOLLOW|O_CLOEXEC and every check is made with fstat on
 * the descriptor that is then used, never stat-then-open.  All system calls
 * go through the caller's pt_sys table.  `path` arguments are used only
 * in messages.
 */
#ifndef PAIRTOK_FSAFE_H
#define PAIRTOK_FSAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "internal.h"
#include "pages.h"
#include "sys.h"

/* Open directory `dir`, creating it and missing parents (0700) when
 * `create` is set.  Refuses a directory writable by group or others or owned
 * by another user (root excepted).  When the directory is missing and
 * `create` is not set, succeeds with *dirfd = -1. */
PT_HIDDEN pairtok_status fsafe_open_dir(const pt_sys *sys, const char *dir, bool create, int *dirfd,
                                        pairtok_error *err);

/* Open the store `base` inside `dirfd` for reading and check it: regular
 * file, not a symlink, owned by the effective user, no group/other bits,
 * one link, at most PAIRTOK_FILE_MAX bytes.  Never blocks (a FIFO is refused
 * before any read).  When the file is missing, succeeds with *fd = -1. */
PT_HIDDEN pairtok_status fsafe_open_store(const pt_sys *sys, int dirfd, const char *base,
                                          const char *path, int *fd, struct stat *st,
                                          pairtok_error *err);

/* A file's text, in pages of its own (pages.h: freeing it gives the
 * memory back at once). */
typedef struct fsafe_text {
    char *data; /* NULL when empty */
    size_t len;
    pages mem;
} fsafe_text;

/* Read the whole file (`size` bytes expected) into new pages. */
PT_HIDDEN pairtok_status fsafe_read_all(const pt_sys *sys, int fd, size_t size, const char *path,
                                        fsafe_text *out, pairtok_error *err);
/* Free what fsafe_read_all() read; the text is left empty.  Idempotent. */
PT_HIDDEN void fsafe_text_free(fsafe_text *text);

/* Open the lock file `lock_name` in `dirfd` (created 0600 when `create`)
 * and check it like the store: regular, ours, one link, no group/other
 * bits; never chmod.  Without `create`, a missing lock file succeeds with
 * *lockfd = -1.  `st` receives its fstat. */
PT_HIDDEN pairtok_status fsafe_open_lock_file(const pt_sys *sys, int dirfd, const char *lock_name,
                                              const char *lock_path, bool create, int *lockfd,
                                              struct stat *st, pairtok_error *err);

/* Take an exclusive flock on `lock_name` in `dirfd` (created 0600), waiting
 * at most `timeout_ms`.  Once the flock is held, the name must still lead
 * to the locked inode (a lock file replaced under a waiter would split the
 * lock), else it starts over.  *lockfd is then held until fsafe_unlock(). */
PT_HIDDEN pairtok_status fsafe_lock(const pt_sys *sys, int dirfd, const char *lock_name,
                                    const char *lock_path, uint32_t timeout_ms, int *lockfd,
                                    pairtok_error *err);
PT_HIDDEN void fsafe_unlock(const pt_sys *sys, int lockfd);

/* Remove temp files left in `dirfd` by killed writers of `base`.  Only
 * call with the lock held: then no live writer owns one.  Returns how many
 * were found (and removed, when `remove` is set). */
PT_HIDDEN size_t fsafe_stale_temps(const pt_sys *sys, int dirfd, const char *base, bool remove);

/* Output of a file being written: a sink for toml_write. */
typedef struct fsafe_out {
    const pt_sys *sys;
    int fd;
    int saved_errno; /* errno of the failing write, 0 if none failed */
    size_t written;  /* bytes so far */
    bool too_big;    /* refused: the file would exceed PAIRTOK_FILE_MAX */
} fsafe_out;
PT_HIDDEN int fsafe_out_write(const char *bytes, size_t len, void *out);

/* Write the content `produce` emits into a new temp file in `dirfd`, then
 * atomically replace `base` with it: O_EXCL create, fchmod 0600, full write,
 * fsync, checked close, rename, fsync of the directory.  On any failure
 * before the rename the temp file is removed and `base` is untouched.
 * Content that would exceed PAIRTOK_FILE_MAX fails with PAIRTOK_ELIMIT.
 * `produce` returns 0, or -1 after a failed write or allocation.  On
 * success, if `keep` is not NULL, *keep is a read-only descriptor of the new
 * file (for identity checks; the caller closes it), or -1. */
typedef int (*fsafe_produce_fn)(fsafe_out *out, void *ctx);
PT_HIDDEN pairtok_status fsafe_replace(const pt_sys *sys, int dirfd, const char *base,
                                       const char *path, fsafe_produce_fn produce, void *ctx,
                                       int *keep, pairtok_error *err);

/* Name of the lock file of store `base` ("<base>.lock") into out. */
PT_HIDDEN bool fsafe_lock_name(const char *base, char *out, size_t out_size);

#endif /* PAIRTOK_FSAFE_H */
