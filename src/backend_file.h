/* SPDX-License-Identifier: ISC */
/*
 * backend_file.h - the TOML file backend's state (internal to libpairtok).
 *
 * Shared by its files: backend_file.c (the handle, the transaction and the
 * verbs), file_doc_cache.c (the parsed document kept between calls) and
 * file_check.c (pairtok_check on a file).
 *
 * State of a handle:
 *
 *     idle --begin--> in transaction --end--> idle
 *                       |    ^
 *                  commit (write the document if `dirty`)
 *
 * Between transactions the handle may keep the last document it wrote or
 * read (`cache`), with a descriptor of that file version; a transaction
 * takes the cached document over only if the file on disk is provably the
 * same version (same device, inode, size, mtime and ctime; the descriptor
 * keeps the inode alive, so its number cannot be reused), and gives it back
 * at end if it still mirrors the file.
 */
#ifndef PAIRTOK_BACKEND_FILE_H
#define PAIRTOK_BACKEND_FILE_H

#include <limits.h>
#include <sys/stat.h>

#include "backend.h"
#include "doc.h"
#include "sys.h"

/* A document in use, with the file version it mirrors (fd/st) when it is
 * clean. */
typedef struct doc_ref {
    sdoc *doc;
    int fd; /* descriptor of the file the doc mirrors, -1 if none */
    struct stat st;
    size_t edits; /* edits applied since the doc was parsed */
    bool dirty;   /* changed since it mirrored the file */
} doc_ref;

typedef struct file_txn {
    int dirfd;
    int lockfd;
    bool active;
    bool missing; /* no store (and nothing was created) */
    doc_ref ref;
} file_txn;

typedef struct file_backend {
    backend base; /* first: a file_backend is a backend */
    char path[PAIRTOK_PATH_MAX];
    char dir[PAIRTOK_PATH_MAX];
    char name[NAME_MAX + 1];
    char lock_name[NAME_MAX + 1];
    char lock_path[PAIRTOK_PATH_MAX + 8];
    uint32_t lock_timeout_ms;
    const pt_sys *sys;
    doc_ref cache; /* doc NULL when nothing is cached */
    file_txn txn;
} file_backend;

/* file_doc_cache.c */
PT_HIDDEN pairtok_status file_doc_acquire(file_backend *f, int dirfd, doc_ref *ref,
                                          pairtok_error *err);
PT_HIDDEN void file_doc_release(file_backend *f, doc_ref *ref);
PT_HIDDEN void file_doc_ref_free(file_backend *f, doc_ref *ref);
PT_HIDDEN void file_cache_drop(file_backend *f);

/* file_check.c */
PT_HIDDEN pairtok_status file_check(backend *b, uint64_t now, backend_reporter *r,
                                    pairtok_error *err);

/* The clock, through the handle's system-call table. */
PT_HIDDEN pairtok_status file_clock(const file_backend *f, uint64_t *now, pairtok_error *err);

/* The file backend of a store handle, or NULL when it has another (for
 * tests and check). */
PT_HIDDEN file_backend *file_backend_of(pairtok_store *store);

#endif /* PAIRTOK_BACKEND_FILE_H */
