/* SPDX-License-Identifier: ISC */
/* files.c - temp directories, paths, whole files, directory entries, locks
 * and descriptors; see testutil.h. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(PAIRTOK_PATH_MAX);
    if (path == NULL) {
        tu_die("out of memory");
    }
    snprintf(path, PAIRTOK_PATH_MAX, "%s/pairtok-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (mkdtemp(path) == NULL) {
        tu_die("mkdtemp %s: %s", path, strerror(errno));
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag, (void)ftw;
    if (S_ISDIR(st->st_mode)) {
        chmod(path, 0700);
    }
    remove(path);
    return 0;
}

void tu_rm_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            tu_rm_tree(tu_join(dir, e->d_name));
        }
    }
    closedir(d);
}

const char *tu_join(const char *dir, const char *name)
{
    static char bufs[16][PAIRTOK_PATH_MAX];
    static unsigned next;
    char *out = bufs[next++ % 16];
    snprintf(out, PAIRTOK_PATH_MAX, "%s/%s", dir, name);
    return out;
}

bool tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

mode_t tu_mode(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return (mode_t)-1;
    }
    return st.st_mode & 07777;
}

/* Read all of `fd` into b (data has room for `cap` bytes and a NUL). */
static void read_all(int fd, const char *path, tu_blob *b, size_t cap)
{
    for (;;) {
        if (b->len == cap) {
            cap *= 2;
            b->data = realloc(b->data, cap + 1);
            if (b->data == NULL) {
                tu_die("out of memory");
            }
        }
        ssize_t n = read(fd, b->data + b->len, cap - b->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            tu_die("read %s: %s", path, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        b->len += (size_t)n;
    }
}

tu_blob tu_read_file(const char *path)
{
    tu_blob b = {false, NULL, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT) {
            tu_die("open %s: %s", path, strerror(errno));
        }
        return b;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        tu_die("%s: not a regular file", path);
    }
    size_t cap = (size_t)st.st_size + 1;
    b.data = malloc(cap + 1);
    if (b.data == NULL) {
        tu_die("out of memory");
    }
    read_all(fd, path, &b, cap);
    close(fd);
    b.data[b.len] = '\0';
    b.exists = true;
    return b;
}

void tu_blob_free(tu_blob *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->exists = false;
}

bool tu_blob_eq(const tu_blob *a, const tu_blob *b)
{
    if (a->exists != b->exists) {
        return false;
    }
    return !a->exists || (a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
}

void tu_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        tu_die("create %s: %s", path, strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            tu_die("write %s: %s", path, strerror(errno));
        }
        done += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0) {
        tu_die("finish %s: %s", path, strerror(errno));
    }
}

void tu_restore_file(const char *path, const tu_blob *b, mode_t mode)
{
    if (b->exists) {
        tu_write_file(path, b->data, b->len, mode);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        tu_die("unlink %s: %s", path, strerror(errno));
    }
}

size_t tu_count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    size_t found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        found += strstr(e->d_name, needle) != NULL;
    }
    closedir(d);
    return found;
}

size_t tu_count_temps(const char *dir, const char *base)
{
    char needle[PAIRTOK_PATH_MAX];
    snprintf(needle, sizeof needle, ".%s.tmp-", base);
    return tu_count_entries(dir, needle);
}

bool tu_lock_is_free(const char *lock_path)
{
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return true;
        }
        tu_die("open %s: %s", lock_path, strerror(errno));
    }
    bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd); /* drops our lock, if taken */
    return free_now;
}

size_t tu_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        tu_die("opendir /proc/self/fd: %s", strerror(errno));
    }
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}
