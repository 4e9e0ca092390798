/*
 * check.c - pairtok_check_at: find every problem of a store without
 * changing it.  Reads the file directly (no cache, no lock): a check must
 * see what is on disk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doc.h"
#include "fsafe.h"
#include "store.h"

typedef struct reporter {
    pairtok_problem_fn fn;
    void *ctx;
    size_t count;
} reporter;

static void report(reporter *r, pairtok_status code, const char *fmt, ...) PAIRTOK_PRINTF(3, 4);
static void report(reporter *r, pairtok_status code, const char *fmt, ...)
{
    pairtok_error problem = {code, 0, ""};
    va_list args;
    va_start(args, fmt);
    vsnprintf(problem.message, sizeof problem.message, fmt, args);
    va_end(args);
    r->count++;
    if (r->fn != NULL) {
        r->fn(&problem, r->ctx);
    }
}

static void report_error(reporter *r, const pairtok_error *e)
{
    report(r, e->code, "%s", e->message);
}

static bool label_has_control(const toml_node *rec)
{
    size_t len, at;
    const char *text = rec_label(rec, &len);
    return text != NULL && pairtok_label_problem(text, len, &at) != NULL;
}

static void check_record(reporter *r, const char *path, const toml_node *rec, size_t i)
{
    unsigned line = toml_node_line(rec), col = toml_node_col(rec);
    uint64_t expires = rec_expires(rec), issued = rec_issued(rec);
    size_t plen;
    const char *principal = rec_principal(rec, &plen);
    if (expires < issued) {
        report(r, PAIRTOK_EPARSE, "%s:%u:%u: pair_token[%zu]: expires before it was issued", path,
               line, col, i);
    } else if (expires - issued > PAIRTOK_MAX_EXPIRY_SECS) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: lifetime of %llus exceeds the 1-hour cap; it can "
               "never be redeemed",
               path, line, col, i, (unsigned long long)(expires - issued));
    }
    if (rec_reserved(rec)) {
        report(r, PAIRTOK_EPARSE,
               "%s:%u:%u: pair_token[%zu]: reserved by a redeem that did not finish; it can "
               "never be redeemed and goes at the first prune after it expires",
               path, line, col, i);
    }
    if (pairtok_principal_is_reserved(principal, plen)) {
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
    return memcmp(rec_hash(*(const toml_node *const *)a), rec_hash(*(const toml_node *const *)b),
                  PAIRTOK_HASH_LEN);
}

static pairtok_status check_duplicates(reporter *r, const char *path, const toml_node *records,
                                       pairtok_error *err)
{
    size_t n = doc_count(records);
    const toml_node **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (sorted == NULL) {
        return pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = toml_array_at(records, i);
    }
    qsort(sorted, n, sizeof *sorted, by_hash);
    for (size_t i = 1; i < n; i++) {
        if (by_hash(&sorted[i - 1], &sorted[i]) == 0) {
            report(r, PAIRTOK_EPARSE, "%s:%u:%u: token_hash %.12s... appears more than once", path,
                   toml_node_line(sorted[i]), toml_node_col(sorted[i]), rec_hash(sorted[i]));
        }
    }
    free(sorted);
    return PAIRTOK_OK;
}

/* Parse and validate the open store `fd`; report what is wrong. */
static pairtok_status check_content(pairtok_store *s, int fd, const struct stat *st, reporter *r,
                                    pairtok_error *err)
{
    char *buf;
    size_t len;
    pairtok_error problem;
    if (fsafe_read_all(s->sys, fd, (size_t)st->st_size, s->path, &buf, &len, &problem) !=
        PAIRTOK_OK) {
        report_error(r, &problem);
        return problem.code == PAIRTOK_ENOMEM
                   ? pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory")
                   : PAIRTOK_OK;
    }
    toml_doc *doc = NULL;
    toml_error terr;
    pairtok_status result = PAIRTOK_OK;
    if (toml_parse(buf, len, &doc, &terr) != 0) {
        if (terr.oom) {
            result = pairtok_fail(err, PAIRTOK_ENOMEM, 0, "out of memory");
        } else {
            report(r, PAIRTOK_EPARSE, "%s:%u:%u: %s", s->path, terr.line, terr.col, terr.message);
        }
    } else if (doc_validate(doc, s->path, &problem) != PAIRTOK_OK) {
        report_error(r, &problem);
    } else {
        const toml_node *records = doc_records(doc, false);
        for (size_t i = 0; i < doc_count(records); i++) {
            check_record(r, s->path, toml_array_at(records, i), i);
        }
        result = check_duplicates(r, s->path, records, err);
    }
    toml_free(doc);
    free(buf);
    return result;
}

pairtok_status pairtok_check_at(pairtok_store *store, pairtok_problem_fn report_fn, void *ctx,
                                size_t *problems, uint64_t now, pairtok_error *err)
{
    (void)now; /* every problem found is one at any time; kept for the API's shape */
    pairtok_error_clear(err);
    reporter r = {report_fn, ctx, 0};
    *problems = 0;
    int dirfd;
    pairtok_error problem;
    if (fsafe_open_dir(store->sys, store->dir, false, &dirfd, &problem) != PAIRTOK_OK) {
        report_error(&r, &problem);
        *problems = r.count;
        return PAIRTOK_OK;
    }
    if (dirfd < 0) {
        return PAIRTOK_OK;
    }
    pairtok_status result = PAIRTOK_OK;
    int fd;
    struct stat st;
    if (fsafe_open_store(store->sys, dirfd, store->base, store->path, &fd, &st, &problem) !=
        PAIRTOK_OK) {
        report_error(&r, &problem);
    } else if (fd >= 0) {
        result = check_content(store, fd, &st, &r, err);
        store->sys->close(fd);
    }
    size_t temps = fsafe_stale_temps(store->sys, dirfd, store->base, false);
    if (temps > 0) {
        report(&r, PAIRTOK_EIO,
               "%s: %zu stale temp file(s) from an interrupted write; the next write removes "
               "them",
               store->dir, temps);
    }
    store->sys->close(dirfd);
    *problems = r.count;
    return result;
}
