/* SPDX-License-Identifier: ISC */
/*
 * file_check.c - pairtok_check on the file backend: find every problem of
 * a store file, its directory and its lock file without changing them.
 * Reads the file directly (no cache, no lock): a check must see what is on
 * disk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_file.h"
#include "fsafe.h"

typedef backend_reporter reporter;
#define report backend_report

static void report_error(reporter *r, const pairtok_error *e)
{
    report(r, e->code, "%s", e->message);
}

static bool label_has_control(const srec *rec)
{
    size_t at;
    return rec->label != NULL && pt_label_problem(rec->label, rec->label_len, &at) != NULL;
}

static void check_record(reporter *r, const char *path, const srec *rec, size_t i, uint64_t now)
{
    unsigned line = rec->line, col = rec->col;
    uint64_t expires = rec->expires, issued = rec->issued;
    if (issued > now && issued - now > PAIRTOK_CLOCK_SKEW_SECS) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: issued %llus in the future (more than the %ds clock "
               "skew allowed); it can never be redeemed",
               path, line, col, i, (unsigned long long)(issued - now), PAIRTOK_CLOCK_SKEW_SECS);
    }
    if (expires < issued) {
        report(r, PAIRTOK_EPARSE, "%s:%u:%u: pair_token[%zu]: expires before it was issued", path,
               line, col, i);
    } else if (expires - issued > PAIRTOK_MAX_EXPIRY_SECS) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: lifetime of %llus exceeds the 1-hour cap; it can "
               "never be redeemed",
               path, line, col, i, (unsigned long long)(expires - issued));
    }
    if (rec->flags & REC_RESERVED) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: reserved by a redeem that did not finish; it can "
               "never be redeemed and goes at the first prune after it expires",
               path, line, col, i);
    }
    if (pt_principal_is_reserved(rec->principal, rec->principal_len)) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: principal 'anonymous' cannot be paired; the token "
               "can never be redeemed",
               path, line, col, i);
    }
    if (label_has_control(rec)) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: label contains control characters or invalid text", path,
               line, col, i);
    }
}

static int by_hash(const void *a, const void *b)
{
    const srec *x = *(const srec *const *)a, *y = *(const srec *const *)b;
    int order = memcmp(x->hash, y->hash, sizeof x->hash);
    /* Ties in file order, so a duplicate is reported where it repeats. */
    return order != 0 ? order : (x > y) - (x < y);
}

static pairtok_status check_duplicates(reporter *r, const char *path, const sdoc *doc,
                                       pairtok_error *err)
{
    size_t n = doc_count(doc);
    const srec **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (sorted == NULL) {
        return pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = doc_at(doc, i);
    }
    qsort(sorted, n, sizeof *sorted, by_hash);
    for (size_t i = 1; i < n; i++) {
        if (memcmp(sorted[i - 1]->hash, sorted[i]->hash, HASH_BYTES) == 0) {
            char hex[PAIRTOK_HASH_LEN + 1];
            rec_hash_hex(sorted[i], hex);
            report(r, PAIRTOK_EPARSE, "%s:%u:%u: token_hash %.12s... appears more than once", path,
                   sorted[i]->line, sorted[i]->col, hex);
        }
    }
    free(sorted);
    return PAIRTOK_OK;
}

/* Parse and validate the open store `fd`; report what is wrong. */
static pairtok_status check_content(file_backend *s, int fd, const struct stat *st, uint64_t now,
                                    reporter *r, pairtok_error *err)
{
    fsafe_text text;
    pairtok_error problem;
    if (fsafe_read_all(s->sys, fd, (size_t)st->st_size, s->path, &text, &problem) != PAIRTOK_OK) {
        report_error(r, &problem);
        return problem.code == PAIRTOK_ENOMEM ? pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory")
                                              : PAIRTOK_OK;
    }
    sdoc *doc = NULL;
    pairtok_status result = PAIRTOK_OK;
    if (doc_parse(&text, s->path, &doc, &problem) != PAIRTOK_OK) {
        if (problem.code == PAIRTOK_ENOMEM) {
            result = pt_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
        } else {
            report_error(r, &problem);
        }
    } else {
        for (size_t i = 0; i < doc_count(doc); i++) {
            check_record(r, s->path, doc_at(doc, i), i, now);
        }
        result = check_duplicates(r, s->path, doc, err);
    }
    doc_free(doc);
    return result;
}

/* The lock file is checked like the store; a missing one is fine (the
 * next write creates it). */
static void check_lock_file(file_backend *f, int dirfd, reporter *r)
{
    int fd;
    struct stat st;
    pairtok_error problem;
    if (fsafe_open_lock_file(f->sys, dirfd, f->lock_name, f->lock_path, false, &fd, &st,
                             &problem) != PAIRTOK_OK) {
        report_error(r, &problem);
    } else if (fd >= 0) {
        f->sys->close(fd);
    }
}

pairtok_status file_check(backend *b, uint64_t now, reporter *r, pairtok_error *err)
{
    file_backend *store = (file_backend *)b;
    if (now == BACKEND_NOW) {
        pairtok_status st = file_clock(store, &now, err);
        if (st != PAIRTOK_OK) {
            return st;
        }
    }
    int dirfd;
    pairtok_error problem;
    if (fsafe_open_dir(store->sys, store->dir, false, &dirfd, &problem) != PAIRTOK_OK) {
        report_error(r, &problem);
        return PAIRTOK_OK;
    }
    if (dirfd < 0) {
        return PAIRTOK_OK;
    }
    pairtok_status result = PAIRTOK_OK;
    int fd;
    struct stat st;
    if (fsafe_open_store(store->sys, dirfd, store->name, store->path, &fd, &st, &problem) !=
        PAIRTOK_OK) {
        report_error(r, &problem);
    } else if (fd >= 0) {
        result = check_content(store, fd, &st, now, r, err);
        store->sys->close(fd);
    }
    check_lock_file(store, dirfd, r);
    size_t temps = fsafe_stale_temps(store->sys, dirfd, store->name, false);
    if (temps > 0) {
        report(r, PAIRTOK_EIO,
               "%s: %zu stale temp file(s) from an interrupted write; the next write removes "
               "them",
               store->dir, temps);
    }
    store->sys->close(dirfd);
    return result;
}
