/* SPDX-License-Identifier: ISC */
/* fsafe.c - safe opening, reading, locking and atomic replacement. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsafe.h"

#define TEMP_INFIX ".tmp-"
#define OPEN_FLAGS (O_NOFOLLOW | O_CLOEXEC)

static pairtok_status io_fail(pairtok_error *err, int e, const char *what, const char *path)
{
    return pt_fail(err, PAIRTOK_EIO, e, "%s: %s: %s", path, what, strerror(e));
}

static pairtok_status check_dir(const struct stat *st, const char *dir, pairtok_error *err)
{
    if (!S_ISDIR(st->st_mode)) {
        return pt_fail(err, PAIRTOK_EUNSAFE, ENOTDIR, "%s: not a directory", dir);
    }
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: directory is owned by uid %lu, not by you (uid %lu)", dir,
                       (unsigned long)st->st_uid, (unsigned long)geteuid());
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: directory is writable by group or others (mode %03o); fix with: "
                       "chmod go-w %s",
                       dir, (unsigned)(st->st_mode & 07777), dir);
    }
    return PAIRTOK_OK;
}

/* Create one directory of `dir` (EEXIST is fine) with mode 0700, whatever
 * the umask: a strict umask would leave it 0500, and the store could not
 * be written into it. */
static pairtok_status make_dir(const pt_sys *sys, const char *partial, const char *dir,
                               pairtok_error *err)
{
    if (sys->mkdirat(AT_FDCWD, partial, 0700) != 0) {
        return errno == EEXIST ? PAIRTOK_OK : io_fail(err, errno, "cannot create directory", dir);
    }
    int fd = sys->openat(AT_FDCWD, partial, O_RDONLY | O_DIRECTORY | OPEN_FLAGS, 0);
    if (fd < 0) {
        return io_fail(err, errno, "cannot open directory", dir);
    }
    struct stat st;
    pairtok_status status = PAIRTOK_OK;
    if (sys->fstat(fd, &st) != 0) {
        status = io_fail(err, errno, "cannot stat directory", dir);
    } else if ((st.st_mode & 07777) != 0700 && sys->fchmod(fd, 0700) != 0) {
        status = io_fail(err, errno, "cannot chmod directory", dir);
    }
    sys->close(fd);
    return status;
}

/* mkdir -p with mode 0700 for every directory it creates. */
static pairtok_status make_dirs(const pt_sys *sys, const char *dir, pairtok_error *err)
{
    char partial[PAIRTOK_PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof partial) {
        return pt_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "%s: path too long", dir);
    }
    memcpy(partial, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (partial[i] != '/' && partial[i] != '\0') {
            continue;
        }
        char saved = partial[i];
        partial[i] = '\0';
        pairtok_status st = make_dir(sys, partial, dir, err);
        partial[i] = saved;
        if (st != PAIRTOK_OK) {
            return st;
        }
    }
    return PAIRTOK_OK;
}

pairtok_status fsafe_open_dir(const pt_sys *sys, const char *dir, bool create, int *dirfd,
                              pairtok_error *err)
{
    *dirfd = -1;
    int flags = O_RDONLY | O_DIRECTORY | OPEN_FLAGS;
    int fd = sys->openat(AT_FDCWD, dir, flags, 0);
    if (fd < 0 && errno == ENOENT && create) {
        pairtok_status st = make_dirs(sys, dir, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
        fd = sys->openat(AT_FDCWD, dir, flags, 0);
    }
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !create) {
            return PAIRTOK_OK;
        }
        if (e == ELOOP || e == ENOTDIR) {
            return pt_fail(err, PAIRTOK_EUNSAFE, e,
                           "%s: not a directory or a symbolic link; the store directory "
                           "must be a real directory",
                           dir);
        }
        return io_fail(err, e, "cannot open directory", dir);
    }
    struct stat st;
    if (sys->fstat(fd, &st) != 0) {
        int e = errno;
        sys->close(fd);
        return io_fail(err, e, "cannot stat directory", dir);
    }
    pairtok_status status = check_dir(&st, dir, err);
    if (status != PAIRTOK_OK) {
        sys->close(fd);
        return status;
    }
    *dirfd = fd;
    return PAIRTOK_OK;
}

static pairtok_status check_store(const struct stat *st, const char *path, pairtok_error *err)
{
    if (!S_ISREG(st->st_mode)) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: not a regular file; remove it or point pairtok elsewhere", path);
    }
    if (st->st_uid != geteuid()) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: owned by uid %lu, not by you (uid %lu); fix with: chown %lu %s", path,
                       (unsigned long)st->st_uid, (unsigned long)geteuid(),
                       (unsigned long)geteuid(), path);
    }
    if ((st->st_mode & 077) != 0) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: permissions %03o are too open (group or others have access); "
                       "fix with: chmod 600 %s",
                       path, (unsigned)(st->st_mode & 07777), path);
    }
    /* 0 links: a writer renamed a new version over the file after we
     * opened it.  What we hold is still one complete version (readers take
     * no lock), so that is not a reason to refuse it. */
    if (st->st_nlink > 1) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: has %lu hard links; a store must have exactly one", path,
                       (unsigned long)st->st_nlink);
    }
    if (st->st_size < 0 || (unsigned long long)st->st_size > PAIRTOK_FILE_MAX) {
        return pt_fail(err, PAIRTOK_EUNSAFE, EFBIG,
                       "%s: %lld bytes is over the 64 MiB limit of a store file", path,
                       (long long)st->st_size);
    }
    return PAIRTOK_OK;
}

pairtok_status fsafe_open_store(const pt_sys *sys, int dirfd, const char *base, const char *path,
                                int *fd, struct stat *st, pairtok_error *err)
{
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int f = sys->openat(dirfd, base, O_RDONLY | O_NONBLOCK | O_NOCTTY | OPEN_FLAGS, 0);
    if (f < 0) {
        int e = errno;
        if (e == ENOENT) {
            return PAIRTOK_OK;
        }
        if (e == ELOOP) {
            return pt_fail(err, PAIRTOK_EUNSAFE, e,
                           "%s: is a symbolic link; a store must be a regular file", path);
        }
        return io_fail(err, e, "cannot open", path);
    }
    if (sys->fstat(f, st) != 0) {
        int e = errno;
        sys->close(f);
        return io_fail(err, e, "cannot stat", path);
    }
    pairtok_status status = check_store(st, path, err);
    if (status != PAIRTOK_OK) {
        sys->close(f);
        return status;
    }
    *fd = f;
    return PAIRTOK_OK;
}

void fsafe_text_free(fsafe_text *text)
{
    pages_free(&text->mem);
    *text = (fsafe_text){0};
}

pairtok_status fsafe_read_all(const pt_sys *sys, int fd, size_t size, const char *path,
                              fsafe_text *out, pairtok_error *err)
{
    *out = (fsafe_text){0};
    if (size == 0) {
        return PAIRTOK_OK;
    }
    fsafe_text text = {0};
    if (!pages_alloc(&text.mem, size)) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "%s: out of memory reading the store", path);
    }
    text.data = text.mem.data;
    while (text.len < size) {
        ssize_t n = sys->read(fd, text.data + text.len, size - text.len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            fsafe_text_free(&text);
            return io_fail(err, e, "read failed", path);
        }
        if (n == 0) {
            break;
        }
        text.len += (size_t)n;
    }
    *out = text;
    return PAIRTOK_OK;
}

bool fsafe_lock_name(const char *base, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s.lock", base);
    return n > 0 && (size_t)n < out_size;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The lock file gets the store's checks: a lock file that is a hard link
 * to another file, a FIFO, or someone else's could split the lock or make
 * us touch what is not ours, so it is refused, never repaired. */
static pairtok_status check_lock_file(const struct stat *st, const char *lock_path,
                                      pairtok_error *err)
{
    if (!S_ISREG(st->st_mode)) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: lock file is not a regular file; replace it with an empty "
                       "file of mode 0600 while no pairtok process runs",
                       lock_path);
    }
    if (st->st_uid != geteuid()) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: lock file is owned by uid %lu, not by you (uid %lu)", lock_path,
                       (unsigned long)st->st_uid, (unsigned long)geteuid());
    }
    if (st->st_nlink != 1) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: lock file has %lu hard links; it must have exactly one", lock_path,
                       (unsigned long)st->st_nlink);
    }
    if ((st->st_mode & 077) != 0) {
        return pt_fail(err, PAIRTOK_EUNSAFE, 0,
                       "%s: lock file permissions %03o are too open; fix with: chmod 600 %s",
                       lock_path, (unsigned)(st->st_mode & 07777), lock_path);
    }
    return PAIRTOK_OK;
}

pairtok_status fsafe_open_lock_file(const pt_sys *sys, int dirfd, const char *lock_name,
                                    const char *lock_path, bool create, int *lockfd,
                                    struct stat *st, pairtok_error *err)
{
    *lockfd = -1;
    int flags = (create ? O_RDWR | O_CREAT : O_RDONLY) | O_NONBLOCK | O_NOCTTY | OPEN_FLAGS;
    int fd = sys->openat(dirfd, lock_name, flags, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !create) {
            return PAIRTOK_OK;
        }
        if (e == ELOOP) {
            return pt_fail(err, PAIRTOK_EUNSAFE, e,
                           "%s: lock file is a symbolic link; replace it with an empty file "
                           "of mode 0600 while no pairtok process runs",
                           lock_path);
        }
        return io_fail(err, e, "cannot open lock file", lock_path);
    }
    if (sys->fstat(fd, st) != 0) {
        int e = errno;
        sys->close(fd);
        return io_fail(err, e, "cannot stat lock file", lock_path);
    }
    pairtok_status status = check_lock_file(st, lock_path, err);
    /* Ours, one link, no group/other bits: a strict umask may have left it
     * 0400, which the next opener could not open for writing. */
    if (status == PAIRTOK_OK && create && (st->st_mode & 0777) != 0600 &&
        sys->fchmod(fd, 0600) != 0) {
        status = io_fail(err, errno, "cannot chmod lock file", lock_path);
    }
    if (status != PAIRTOK_OK) {
        sys->close(fd);
        return status;
    }
    *lockfd = fd;
    return PAIRTOK_OK;
}

/* After flock succeeds: does the name still lead to the inode we locked?
 * If the lock file was replaced while we waited, another process may hold
 * a lock on the new one, and ours protects nothing.  1 = yes, 0 = no
 * (retry), -1 = error. */
static int still_named(const pt_sys *sys, int dirfd, const char *lock_name,
                       const struct stat *locked)
{
    struct stat now;
    if (sys->fstatat(dirfd, lock_name, &now, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    return now.st_dev == locked->st_dev && now.st_ino == locked->st_ino;
}

static pairtok_status busy(pairtok_error *err, const char *lock_path, uint32_t timeout_ms)
{
    return pt_fail(err, PAIRTOK_EBUSY, EWOULDBLOCK,
                   "%s: store is busy: another process held the lock for more than %lu ms; "
                   "try again later",
                   lock_path, (unsigned long)timeout_ms);
}

/* One attempt: open, check and flock the lock file, then make sure the
 * name still leads to it.  *retry is set when the caller should try again
 * (lock busy, or the file was replaced under us). */
static pairtok_status try_lock(const pt_sys *sys, int dirfd, const char *lock_name,
                               const char *lock_path, int *lockfd, bool *retry, pairtok_error *err)
{
    struct stat st;
    int fd;
    *retry = false;
    pairtok_status status =
        fsafe_open_lock_file(sys, dirfd, lock_name, lock_path, true, &fd, &st, err);
    if (status != PAIRTOK_OK) {
        return status;
    }
    int got;
    while ((got = sys->flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (got != 0) {
        int e = errno;
        sys->close(fd);
        *retry = e == EWOULDBLOCK;
        return *retry ? PAIRTOK_OK : io_fail(err, e, "cannot lock", lock_path);
    }
    int named = still_named(sys, dirfd, lock_name, &st);
    if (named != 1) {
        int e = errno;
        sys->close(fd);
        *retry = named == 0;
        return *retry ? PAIRTOK_OK : io_fail(err, e, "cannot stat lock file", lock_path);
    }
    *lockfd = fd;
    return PAIRTOK_OK;
}

pairtok_status fsafe_lock(const pt_sys *sys, int dirfd, const char *lock_name,
                          const char *lock_path, uint32_t timeout_ms, int *lockfd,
                          pairtok_error *err)
{
    *lockfd = -1;
    uint64_t deadline = monotonic_ms() + timeout_ms;
    long backoff_us = 200;
    for (;;) {
        bool retry;
        pairtok_status status = try_lock(sys, dirfd, lock_name, lock_path, lockfd, &retry, err);
        if (status != PAIRTOK_OK || !retry) {
            return status;
        }
        if (monotonic_ms() >= deadline) {
            return busy(err, lock_path, timeout_ms);
        }
        /* Poll with a short, growing sleep: flock has no timed wait, and
         * signals are no tool for a library. */
        struct timespec pause = {0, backoff_us * 1000};
        nanosleep(&pause, NULL);
        if (backoff_us < 20000) {
            backoff_us *= 2;
        }
    }
}

void fsafe_unlock(const pt_sys *sys, int lockfd)
{
    if (lockfd >= 0) {
        int saved = errno;
        /* Closing the only descriptor of the open file description drops
         * the flock; no explicit LOCK_UN needed. */
        sys->close(lockfd);
        errno = saved;
    }
}

static bool is_temp_of(const char *name, const char *base)
{
    size_t blen = strlen(base);
    return name[0] == '.' && strncmp(name + 1, base, blen) == 0 &&
           strncmp(name + 1 + blen, TEMP_INFIX, sizeof TEMP_INFIX - 1) == 0;
}

size_t fsafe_stale_temps(const pt_sys *sys, int dirfd, const char *base, bool remove)
{
    int fd = sys->openat(dirfd, ".", O_RDONLY | O_DIRECTORY | OPEN_FLAGS, 0);
    if (fd < 0) {
        return 0;
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        sys->close(fd);
        return 0;
    }
    size_t found = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (is_temp_of(entry->d_name, base)) {
            found++;
            if (remove) {
                sys->unlinkat(dirfd, entry->d_name, 0);
            }
        }
    }
    closedir(dir);
    return found;
}

int fsafe_out_write(const char *bytes, size_t len, void *out_ptr)
{
    fsafe_out *out = out_ptr;
    /* Never write a file the reader would refuse: past the limit every
     * later call, prune and revoke included, could no longer open it. */
    if (len > PAIRTOK_FILE_MAX - out->written) {
        out->too_big = true;
        return -1;
    }
    out->written += len;
    while (len > 0) {
        ssize_t n = out->sys->write(out->fd, bytes, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            out->saved_errno = n < 0 ? errno : EIO;
            return -1;
        }
        bytes += n;
        len -= (size_t)n;
    }
    return 0;
}

static void temp_name(const char *base, char *out, size_t out_size)
{
    unsigned char raw[8];
    char hex[sizeof raw * 2 + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(out, out_size, ".%s" TEMP_INFIX "%s", base, hex);
}

/* Everything from the temp file's creation to its checked close. */
static pairtok_status write_temp(const pt_sys *sys, int dirfd, const char *tmp, const char *path,
                                 fsafe_produce_fn produce, void *ctx, int *keep, pairtok_error *err)
{
    int fd = sys->openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | OPEN_FLAGS, 0600);
    if (fd < 0) {
        return io_fail(err, errno, "cannot create temp file", path);
    }
    pairtok_status status = PAIRTOK_OK;
    fsafe_out out = {sys, fd, 0, 0, false};
    if (sys->fchmod(fd, 0600) != 0) {
        status = io_fail(err, errno, "fchmod of temp file failed", path);
    } else if (produce(&out, ctx) != 0) {
        status = out.too_big ? pt_fail(err, PAIRTOK_ELIMIT, EFBIG,
                                       "%s: the store would grow past the 64 MiB limit of a store "
                                       "file; nothing was changed (revoke or prune tokens first)",
                                       path)
                 : out.saved_errno != 0
                     ? io_fail(err, out.saved_errno, "write failed", path)
                     : pt_fail(err, PAIRTOK_ENOMEM, 0, "%s: out of memory writing", path);
    } else if (sys->fsync(fd) != 0) {
        status = io_fail(err, errno, "fsync failed", path);
    }
    if (status == PAIRTOK_OK && keep != NULL) {
        /* Optional: a failure here only costs the reload cache. */
        *keep = sys->openat(dirfd, tmp, O_RDONLY | OPEN_FLAGS, 0);
    }
    if (sys->close(fd) != 0 && status == PAIRTOK_OK) {
        status = io_fail(err, errno, "close failed", path);
    }
    return status;
}

pairtok_status fsafe_replace(const pt_sys *sys, int dirfd, const char *base, const char *path,
                             fsafe_produce_fn produce, void *ctx, int *keep, pairtok_error *err)
{
    char tmp[NAME_MAX + 1];
    if (strlen(base) + sizeof TEMP_INFIX + 18 > sizeof tmp) {
        return pt_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "%s: file name too long", path);
    }
    temp_name(base, tmp, sizeof tmp);
    int kept = -1;
    pairtok_status status = write_temp(sys, dirfd, tmp, path, produce, ctx, &kept, err);
    if (status == PAIRTOK_OK && sys->renameat(dirfd, tmp, dirfd, base) != 0) {
        status = io_fail(err, errno, "rename of temp file over the store failed", path);
    }
    if (status != PAIRTOK_OK) {
        int saved = errno;
        sys->unlinkat(dirfd, tmp, 0);
        if (kept >= 0) {
            sys->close(kept);
        }
        errno = saved;
        return status;
    }
    /* The new file is in place; report a failed directory fsync rather
     * than assume the rename is durable. */
    if (sys->fsync(dirfd) != 0) {
        status = io_fail(err, errno, "fsync of the directory failed", path);
    }
    if (keep != NULL && status == PAIRTOK_OK) {
        *keep = kept;
    } else if (kept >= 0) {
        sys->close(kept);
    }
    return status;
}
