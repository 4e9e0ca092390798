/* SPDX-License-Identifier: ISC */
/*
 * file_doc_cache.c - the file backend's parsed document, kept between
 * calls while the file on disk is provably the version it mirrors, so that
 * a host process issuing and redeeming on one handle does not read and
 * parse the whole store on every call.
 */
#include <string.h>

#include "backend_file.h"
#include "fsafe.h"

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void file_doc_ref_free(file_backend *f, doc_ref *ref)
{
    doc_free(ref->doc);
    if (ref->fd >= 0) {
        f->sys->close(ref->fd);
    }
    memset(ref, 0, sizeof *ref);
    ref->fd = -1;
}

void file_cache_drop(file_backend *f)
{
    file_doc_ref_free(f, &f->cache);
}

/* Move a document reference, leaving the source empty. */
static void ref_move(doc_ref *to, doc_ref *from)
{
    *to = *from;
    memset(from, 0, sizeof *from);
    from->fd = -1;
}

static pairtok_status parse_file(file_backend *f, doc_ref *ref, pairtok_error *err)
{
    fsafe_text text;
    pairtok_status st =
        fsafe_read_all(f->sys, ref->fd, (size_t)ref->st.st_size, f->path, &text, err);
    if (st != PAIRTOK_OK) {
        return st;
    }
    return doc_parse(&text, f->path, &ref->doc, err);
}

pairtok_status file_doc_acquire(file_backend *f, int dirfd, doc_ref *ref, pairtok_error *err)
{
    memset(ref, 0, sizeof *ref);
    pairtok_status st = fsafe_open_store(f->sys, dirfd, f->name, f->path, &ref->fd, &ref->st, err);
    if (st != PAIRTOK_OK) {
        ref->fd = -1;
        return st;
    }
    if (ref->fd >= 0 && f->cache.doc != NULL && same_version(&ref->st, &f->cache.st)) {
        f->sys->close(ref->fd);
        ref_move(ref, &f->cache);
        ref->dirty = false;
        return PAIRTOK_OK;
    }
    file_cache_drop(f);
    if (ref->fd < 0) {
        ref->doc = doc_new();
    } else {
        st = parse_file(f, ref, err);
        if (st != PAIRTOK_OK) {
            file_doc_ref_free(f, ref);
            return st;
        }
    }
    if (ref->doc == NULL) {
        file_doc_ref_free(f, ref);
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    return PAIRTOK_OK;
}

/* Keep the document for next time if it still mirrors a file version and
 * has not grown too far from a fresh parse (removed records and rewritten
 * strings stay in its pool until it is freed). */
void file_doc_release(file_backend *f, doc_ref *ref)
{
    size_t limit = ref->doc ? doc_count(ref->doc) : 0;
    limit = limit < 1024 ? 1024 : limit;
    if (ref->doc != NULL && !ref->dirty && ref->fd >= 0 && ref->edits <= limit) {
        file_cache_drop(f);
        ref_move(&f->cache, ref);
        return;
    }
    file_doc_ref_free(f, ref);
}
