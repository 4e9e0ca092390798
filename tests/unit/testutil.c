/* SPDX-License-Identifier: ISC */
/* testutil.c - small helpers shared by the unit tests. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);
    if (path == NULL) {
        abort();
    }
    snprintf(path, 4096, "%s/pairtok-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(path) == NULL) {
        abort();
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

void tu_rm_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_join(const char *dir, const char *name)
{
    static char bufs[8][4096];
    static unsigned next;
    char *out = bufs[next++ % 8];
    snprintf(out, 4096, "%s/%s", dir, name);
    return out;
}

void tu_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        abort();
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0 || close(fd) != 0) {
        abort();
    }
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    if (buf == NULL) {
        abort();
    }
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
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

size_t tu_count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        n += strstr(e->d_name, needle) != NULL;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

pairtok_status tu_list_push(pairtok_record_list *list, const pairtok_record *record)
{
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 16;
        pairtok_record *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL) {
            return PAIRTOK_ENOMEM;
        }
        list->items = items;
        list->capacity = cap;
    }
    pairtok_record *slot = &list->items[list->count];
    *slot = *record;
    slot->label = NULL;
    if (record->label != NULL && (slot->label = strdup(record->label)) == NULL) {
        return PAIRTOK_ENOMEM;
    }
    list->count++;
    return PAIRTOK_OK;
}

void tu_location_init(tu_location *loc)
{
    loc->home = tu_mkdtemp();
    snprintf(loc->location, sizeof loc->location, "%s/etc/pair-tokens.toml", loc->home);
}

void tu_location_free(tu_location *loc)
{
    tu_rm_tree(loc->home);
    free(loc->home);
    loc->home = NULL;
}
