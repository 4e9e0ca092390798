/* SPDX-License-Identifier: ISC */
/* store.h - the store handle (internal to libpairtok). */
#ifndef PAIRTOK_STORE_H
#define PAIRTOK_STORE_H

#include <limits.h>
#include <sys/stat.h>

#include "internal.h"
#include "sys.h"
#include "doc.h"

/* The last version of the file this handle wrote, kept parsed so that the
 * next locked operation can skip reading and parsing when the file is
 * provably unchanged: same device, inode (held open by `fd`, so the number
 * cannot be reused), size, mtime and ctime. */
typedef struct store_cache {
    sdoc *doc;
    int fd;    /* read-only descriptor of the file written, or -1 */
    struct stat st;
    size_t edits; /* edits applied since the doc was parsed */
} store_cache;

struct pairtok_store {
    char path[PAIRTOK_PATH_MAX];
    char dir[PAIRTOK_PATH_MAX];
    char base[NAME_MAX + 1];
    char lock_name[NAME_MAX + 1];
    char lock_path[PAIRTOK_PATH_MAX + 8];
    pairtok_options opts;
    const pairtok_sys *sys;
    store_cache cache;
};

#endif /* PAIRTOK_STORE_H */
