/* SPDX-License-Identifier: ISC */
/* sys.c - the real system calls behind the pt_sys table. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "sys.h"

static int real_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}

static int real_flock(int fd, int operation)
{
    return flock(fd, operation);
}

const pt_sys pt_sys_default = {
    .openat = real_openat,
    .fstat = fstat,
    .read = read,
    .write = write,
    .fsync = fsync,
    .close = close,
    .renameat = renameat,
    .unlinkat = unlinkat,
    .mkdirat = mkdirat,
    .fchmod = fchmod,
    .flock = real_flock,
    .fstatat = fstatat,
    .clock_gettime = clock_gettime,
};
