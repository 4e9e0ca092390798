/* SPDX-License-Identifier: ISC */
/*
 * sys.h - the system calls of the load/save/lock path, behind one table
 * (internal to libpairtok).
 *
 * Every system call the store makes on its file, its directory and its lock
 * goes through the pt_sys table of the handle.  Production handles use
 * pt_sys_default (the real calls).  Tests install their own table on a
 * handle with pt_set_sys() to make the N-th call fail with a
 * chosen errno, or to _exit() there, without touching any global state.
 *
 * EINTR and short reads/writes are retried by the store itself, so a table
 * may return them to check that they are.
 */
#ifndef PAIRTOK_SYS_H
#define PAIRTOK_SYS_H

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "pairtok.h"

typedef struct pt_sys {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    int (*fstat)(int fd, struct stat *st);
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    int (*fsync)(int fd);
    int (*close)(int fd);
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    int (*mkdirat)(int dirfd, const char *path, mode_t mode);
    int (*fchmod)(int fd, mode_t mode);
    int (*flock)(int fd, int operation);
    int (*fstatat)(int dirfd, const char *path, struct stat *st, int flags);
    int (*clock_gettime)(clockid_t clock, struct timespec *ts);
} pt_sys;

/* The real system calls. */
extern __attribute__((visibility("hidden"))) const pt_sys pt_sys_default;

/* Replace the table a handle uses (NULL restores the default).  The table
 * must outlive the handle.  For tests only; not part of the public API and
 * not exported from the shared library. */
__attribute__((visibility("hidden"))) void pt_set_sys(pairtok_store *store, const pt_sys *sys);

#endif /* PAIRTOK_SYS_H */
