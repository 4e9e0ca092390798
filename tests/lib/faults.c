/* SPDX-License-Identifier: ISC */
/* faults.c - a pt_sys table that counts every call and can misbehave
 * at one; see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

tu_faults tu_fault;

void tu_fault_arm(tu_fault_mode mode, unsigned long fail_at, int errnum)
{
    bool short_io = tu_fault.short_io;
    memset(&tu_fault, 0, sizeof tu_fault);
    tu_fault.mode = mode;
    tu_fault.fail_at = fail_at;
    tu_fault.errnum = errnum;
    tu_fault.exit_code = 77;
    tu_fault.short_io = short_io;
    tu_fault.written_fd = -1;
}

static const char *const call_names[TU_NCALLS] = {
    "openat",   "fstat",   "read",   "write", "fsync",   "close",         "renameat",
    "unlinkat", "mkdirat", "fchmod", "flock", "fstatat", "clock_gettime",
};
/* What the library's message says when the call fails (fsafe.c wording). */
static const char *const call_keywords[TU_NCALLS] = {
    "open|create",      "stat",  "read", "write", "fsync", "close", "rename", "unlink",
    "create directory", "chmod", "lock", "stat",  "clock",
};

const char *tu_call_name(tu_call c)
{
    return c < TU_NCALLS ? call_names[c] : "?";
}

const char *tu_call_keyword(tu_call c)
{
    return c < TU_NCALLS ? call_keywords[c] : "?";
}

/* Set by f_fsync around its gate: is the descriptor a directory's? */
static bool call_on_dir;

/* Decide the fate of one call: 0 = go ahead, -1 = fail it (errno set). */
static int gate(tu_call c)
{
    tu_fault.per_call[c]++;
    bool eligible = tu_fault.mode != TU_EINTR || c == TU_READ || c == TU_WRITE || c == TU_FLOCK;
    if (!eligible) {
        return 0;
    }
    tu_fault.calls++;
    if (tu_fault.mode == TU_PASS || tu_fault.fail_at == 0 || tu_fault.calls != tu_fault.fail_at) {
        return 0;
    }
    tu_fault.fired = true;
    tu_fault.fired_call = c;
    tu_fault.fired_on_dir = call_on_dir;
    switch (tu_fault.mode) {
    case TU_EXIT:
        _exit(tu_fault.exit_code);
    case TU_EINTR:
        errno = EINTR;
        return -1;
    case TU_FAIL:
        errno = tu_fault.errnum;
        return -1;
    case TU_PASS:
        break;
    }
    return 0;
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return gate(TU_OPENAT) ? -1 : openat(dirfd, path, flags, mode);
}

static int f_fstat(int fd, struct stat *st)
{
    return gate(TU_FSTAT) ? -1 : fstat(fd, st);
}

static ssize_t f_read(int fd, void *buf, size_t len)
{
    if (gate(TU_READ)) {
        return -1;
    }
    return read(fd, buf, tu_fault.short_io && len > 1 ? len / 2 : len);
}

static ssize_t f_write(int fd, const void *buf, size_t len)
{
    if (gate(TU_WRITE)) {
        return -1;
    }
    ssize_t n = write(fd, buf, tu_fault.short_io && len > 1 ? len / 2 : len);
    if (n > 0) {
        tu_fault.written_fd = fd;
        tu_fault.written_unsynced = true;
    }
    return n;
}

static int f_fsync(int fd)
{
    struct stat st;
    call_on_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    int failed = gate(TU_FSYNC);
    bool on_dir = call_on_dir;
    call_on_dir = false;
    if (failed || fsync(fd) != 0) {
        return -1;
    }
    if (on_dir) {
        tu_fault.rename_pending = false;
    } else if (fd == tu_fault.written_fd) {
        tu_fault.written_unsynced = false;
    }
    return 0;
}

static int f_close(int fd)
{
    if (gate(TU_CLOSE)) {
        /* Linux: the descriptor is released even when close fails. */
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

static int f_renameat(int od, const char *op, int nd, const char *np)
{
    if (gate(TU_RENAMEAT) || renameat(od, op, nd, np) != 0) {
        return -1;
    }
    if (tu_fault.written_unsynced && tu_fault.violation == NULL) {
        tu_fault.violation = "renamed a file over the store before fsyncing what was written";
    }
    if (tu_fault.rename_pending && tu_fault.violation == NULL) {
        tu_fault.violation = "two renames without a directory fsync between them";
    }
    tu_fault.rename_pending = true;
    return 0;
}

static int f_unlinkat(int dirfd, const char *path, int flags)
{
    return gate(TU_UNLINKAT) ? -1 : unlinkat(dirfd, path, flags);
}

static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return gate(TU_MKDIRAT) ? -1 : mkdirat(dirfd, path, mode);
}

static int f_fchmod(int fd, mode_t mode)
{
    return gate(TU_FCHMOD) ? -1 : fchmod(fd, mode);
}

static int f_flock(int fd, int op)
{
    return gate(TU_FLOCK) ? -1 : flock(fd, op);
}

static int f_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return gate(TU_FSTATAT) ? -1 : fstatat(dirfd, path, st, flags);
}

static int f_clock_gettime(clockid_t clock, struct timespec *ts)
{
    return gate(TU_CLOCK) ? -1 : clock_gettime(clock, ts);
}

const pt_sys tu_sys = {
    .openat = f_openat,
    .fstat = f_fstat,
    .read = f_read,
    .write = f_write,
    .fsync = f_fsync,
    .close = f_close,
    .renameat = f_renameat,
    .unlinkat = f_unlinkat,
    .mkdirat = f_mkdirat,
    .fchmod = f_fchmod,
    .flock = f_flock,
    .fstatat = f_fstatat,
    .clock_gettime = f_clock_gettime,
};
