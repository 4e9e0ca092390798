/* SPDX-License-Identifier: ISC */
/*
 * fuzz_store - libFuzzer harness for reading a store file.
 *
 * The input is written as a 0600 store file in a private temp directory,
 * then read every way the library reads it: pairtok_store_load,
 * pairtok_list_at, pairtok_check_at and a redeem.  Nothing may crash, and:
 *   - every record load accepts obeys the validation rules: token_hash is
 *     64 lowercase hex digits, principal is 1-64 of [A-Za-z0-9_-], label
 *     (if any) is at most 4096 bytes;
 *   - list and redeem fail exactly when load fails, with the same status;
 *     check runs (PAIRTOK_OK) and reports at least one problem then;
 *   - list returns only unexpired records, sorted by expiry;
 *   - redeem of a fixed token gives PAIRTOK_OK or PAIRTOK_EDENIED;
 *   - a loaded list saved back (PAIRTOK_OK, or PAIRTOK_EINVAL for records
 *     the writer refuses: control characters, 'anonymous', duplicates) and
 *     loaded again gives the same records.
 * fsync is a no-op in this harness (speed); everything else is real.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pairtok.h"
#include "sys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((uint64_t)1764321300)
/* A fixed token: seeds hold its hash, so the redeem can succeed. */
static const char token[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static char dir[256];
static char path[300];
static pt_sys fast_sys;

static int no_fsync(int fd)
{
    (void)fd;
    return 0;
}

static void cleanup(void)
{
    char lock[320];
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    rmdir(dir);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_store: %s\n", what);
        abort();
    }
}

static void init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pairtok-fuzz-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    check(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/pair-tokens.toml", dir);
    fast_sys = pt_sys_default;
    fast_sys.fsync = no_fsync;
    atexit(cleanup);
}

static void write_input(const uint8_t *data, size_t size)
{
    /* A new inode every time, as a real writer makes. */
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s/input", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    check(fd >= 0, "open input");
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        check(n > 0, "write input");
        done += (size_t)n;
    }
    check(close(fd) == 0 && rename(tmp, path) == 0, "place input");
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int is_name(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void check_record(const pairtok_record *r)
{
    check(strlen(r->token_hash) == PAIRTOK_HASH_LEN, "hash length");
    for (size_t i = 0; i < PAIRTOK_HASH_LEN; i++) {
        check(is_hex(r->token_hash[i]), "hash not lowercase hex");
    }
    size_t plen = strlen(r->principal);
    check(plen >= 1 && plen <= PAIRTOK_PRINCIPAL_MAX, "principal length");
    for (size_t i = 0; i < plen; i++) {
        check(is_name(r->principal[i]), "principal character");
    }
    check(r->label == NULL || strlen(r->label) <= PAIRTOK_LABEL_MAX, "label too long");
    check(r->expires_at_epoch <= INT64_MAX && r->issued_at_epoch <= INT64_MAX, "epoch range");
}

static int same_record(const pairtok_record *a, const pairtok_record *b)
{
    return strcmp(a->token_hash, b->token_hash) == 0 && strcmp(a->principal, b->principal) == 0 &&
           a->expires_at_epoch == b->expires_at_epoch && a->issued_at_epoch == b->issued_at_epoch &&
           ((a->label == NULL && b->label == NULL) ||
            (a->label != NULL && b->label != NULL && strcmp(a->label, b->label) == 0));
}

static pairtok_store *open_store(void)
{
    pairtok_store *s;
    pairtok_error err;
    pairtok_options opts = {.lock_timeout_ms = 1000};
    check(pairtok_store_open(path, &opts, &s, &err) == PAIRTOK_OK, "open");
    pt_set_sys(s, &fast_sys);
    return s;
}

static void count_problem(const pairtok_error *problem, void *ctx)
{
    check(problem->message[0] != '\0', "problem without a message");
    (*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        init();
    }
    write_input(data, size);
    pairtok_store *s = open_store();
    pairtok_error err;

    pairtok_record_list all = {0};
    pairtok_status loaded = pairtok_store_load(s, &all, &err);
    if (loaded == PAIRTOK_OK) {
        for (size_t i = 0; i < all.count; i++) {
            check_record(&all.items[i]);
        }
    } else {
        check(all.count == 0 && err.code == loaded && err.message[0] != '\0', "failed load");
        check(loaded == PAIRTOK_EPARSE || loaded == PAIRTOK_ESCHEMA, "unexpected load status");
    }

    pairtok_record_list live = {0};
    pairtok_status listed = pairtok_list_at(s, NULL, &live, NOW, &err);
    check(listed == loaded, "list and load disagree");
    for (size_t i = 0; i < live.count; i++) {
        check(live.items[i].expires_at_epoch > NOW, "list shows an expired record");
        check(i == 0 || live.items[i - 1].expires_at_epoch <= live.items[i].expires_at_epoch,
              "list not sorted");
    }
    pairtok_record_list_free(&live);

    size_t problems = 0, reported = 0;
    check(pairtok_check_at(s, count_problem, &reported, &problems, NOW, &err) == PAIRTOK_OK,
          "check failed to run");
    check(problems == reported, "problem count");
    check(loaded == PAIRTOK_OK || problems > 0, "check passes a store load refuses");

    pairtok_status redeemed = pairtok_redeem_at(s, token, NULL, NULL, NULL, NOW, &err);
    if (loaded == PAIRTOK_OK) {
        check(redeemed == PAIRTOK_OK || redeemed == PAIRTOK_EDENIED, "redeem status");
    } else {
        check(redeemed == loaded, "redeem and load disagree");
    }
    pairtok_store_close(s);

    if (loaded == PAIRTOK_OK && redeemed == PAIRTOK_EDENIED) {
        /* Round trip through the writer. */
        s = open_store();
        pairtok_status saved = pairtok_store_save(s, &all, &err);
        check(saved == PAIRTOK_OK || saved == PAIRTOK_EINVAL, "save status");
        if (saved == PAIRTOK_OK) {
            pairtok_record_list again = {0};
            check(pairtok_store_load(s, &again, &err) == PAIRTOK_OK, "saved store does not load");
            check(again.count == all.count, "saved store lost records");
            for (size_t i = 0; i < all.count; i++) {
                check(same_record(&all.items[i], &again.items[i]), "saved record differs");
            }
            pairtok_record_list_free(&again);
        }
        pairtok_store_close(s);
    }
    pairtok_record_list_free(&all);
    return 0;
}
