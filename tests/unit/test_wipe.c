/* SPDX-License-Identifier: ISC */
/*
 * test_wipe.c - every library buffer that held a raw token, or the random
 * bytes it encodes, is wiped with sodium_memzero before it is released.
 *
 * Linked with -Wl,--wrap=sodium_memzero,--wrap=randombytes_buf,
 * --wrap=sodium_bin2base64 (mk/wipe.mk), so libpairtok's calls to these
 * come here first.  The wrappers note what each produced and each wipe,
 * and the buffers are told apart by their contents, not by which function
 * or stack frame holds them:
 *
 *   - the raw bytes: a buffer randombytes_buf filled and sodium_bin2base64
 *     then encoded, at the same address with the same bytes;
 *   - the token: the buffer sodium_bin2base64 wrote it to, unless that is
 *     the caller's output buffer.
 *
 * A buffer counts as wiped when one sodium_memzero call covers all of it
 * while it still holds what was produced there (not a later reuse of the
 * same memory).
 *
 * A copy the library makes by assignment or memcpy passes no wrapper, so
 * the same calls also run on a thread whose stack is ours: once the thread
 * has ended, that whole stack is searched for the token and its raw bytes.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "pairtok.h"
#include "sys.h"
#include "testutil.h"

#define NOW 1764322500u

/* ---------------------------------------------------------------------- */
/* The wrappers and what they note.                                       */
/* ---------------------------------------------------------------------- */

void __real_sodium_memzero(void *pnt, size_t len);
void __real_randombytes_buf(void *buf, size_t size);
char *__real_sodium_bin2base64(char *b64, size_t b64_maxlen, const unsigned char *bin,
                               size_t bin_len, int variant);
void __wrap_sodium_memzero(void *pnt, size_t len);
void __wrap_randombytes_buf(void *buf, size_t size);
char *__wrap_sodium_bin2base64(char *b64, size_t b64_maxlen, const unsigned char *bin,
                               size_t bin_len, int variant);

#define SPAN_MAX 64 /* longest content noted; a token is 32 */
#define SPANS 32

/* Bytes produced at an address, and whether they were wiped there. */
typedef struct span {
    const unsigned char *addr;
    size_t len;
    unsigned char bytes[SPAN_MAX];
    bool wiped;
} span;

typedef struct span_set {
    span items[SPANS];
    size_t count;
} span_set;

static struct {
    span_set filled;  /* by randombytes_buf */
    span_set encoded; /* written by sodium_bin2base64 (the string, no NUL) */
    span_set sources; /* read by sodium_bin2base64 */
    size_t wipes;
} seen;

static void note(span_set *set, const void *addr, size_t len)
{
    if (len == 0 || len > SPAN_MAX || set->count == SPANS) {
        return; /* longer than any secret of ours, or too many to keep */
    }
    span *s = &set->items[set->count++];
    s->addr = addr;
    s->len = len;
    memcpy(s->bytes, addr, len);
    s->wiped = false;
}

static void mark_wiped(span_set *set, const unsigned char *from, size_t len)
{
    for (size_t i = 0; i < set->count; i++) {
        span *s = &set->items[i];
        uintptr_t at = (uintptr_t)s->addr, start = (uintptr_t)from;
        bool covered = at >= start && s->len <= len && at - start <= len - s->len;
        if (covered && memcmp(s->addr, s->bytes, s->len) == 0) {
            s->wiped = true;
        }
    }
}

void __wrap_sodium_memzero(void *pnt, size_t len)
{
    seen.wipes++;
    mark_wiped(&seen.filled, pnt, len);
    mark_wiped(&seen.encoded, pnt, len);
    mark_wiped(&seen.sources, pnt, len);
    __real_sodium_memzero(pnt, len);
}

void __wrap_randombytes_buf(void *buf, size_t size)
{
    __real_randombytes_buf(buf, size);
    note(&seen.filled, buf, size);
}

char *__wrap_sodium_bin2base64(char *b64, size_t b64_maxlen, const unsigned char *bin,
                               size_t bin_len, int variant)
{
    note(&seen.sources, bin, bin_len);
    char *out = __real_sodium_bin2base64(b64, b64_maxlen, bin, bin_len, variant);
    note(&seen.encoded, b64, strnlen(b64, b64_maxlen));
    return out;
}

static void forget_all(void)
{
    memset(&seen, 0, sizeof seen);
}

/* ---------------------------------------------------------------------- */
/* The checks.                                                            */
/* ---------------------------------------------------------------------- */

static void hex(const span *s, char *out, size_t cap)
{
    sodium_bin2hex(out, cap, s->bytes, s->len < (cap - 1) / 2 ? s->len : (cap - 1) / 2);
}

/* Every buffer sodium_bin2base64 encoded was filled by randombytes_buf
 * (same address, same bytes, PAIRTOK_TOKEN_RAW_LEN of them) and wiped.
 * Returns how many there were. */
static size_t assert_raw_bytes_wiped(void)
{
    for (size_t i = 0; i < seen.sources.count; i++) {
        const span *src = &seen.sources.items[i];
        char shown[2 * SPAN_MAX + 1];
        hex(src, shown, sizeof shown);
        assert_int_equal(src->len, PAIRTOK_TOKEN_RAW_LEN);
        bool from_csprng = false;
        for (size_t j = 0; j < seen.filled.count; j++) {
            const span *fill = &seen.filled.items[j];
            from_csprng |= fill->addr == src->addr && fill->len == src->len &&
                           memcmp(fill->bytes, src->bytes, src->len) == 0;
        }
        if (!from_csprng) {
            fail_msg("raw bytes %s were not filled by randombytes_buf", shown);
        }
        if (!src->wiped) {
            fail_msg("the %zu raw bytes %s were not wiped where they were drawn", src->len, shown);
        }
    }
    return seen.sources.count;
}

/* Every buffer sodium_bin2base64 wrote a token to, except the caller's
 * `out` (may be NULL), was wiped.  Returns how many encoded spans there
 * were in all. */
static size_t assert_tokens_wiped(const char *out)
{
    for (size_t i = 0; i < seen.encoded.count; i++) {
        const span *s = &seen.encoded.items[i];
        if (out != NULL && s->addr == (const unsigned char *)out) {
            continue;
        }
        assert_int_equal(s->len, PAIRTOK_TOKEN_LEN);
        if (!s->wiped) {
            fail_msg("a library buffer holding the token %.*s was not wiped", (int)s->len,
                     (const char *)s->bytes);
        }
    }
    return seen.encoded.count;
}

/* The token the caller got is one sodium_bin2base64 produced. */
static void assert_token_was_encoded(const char *token)
{
    for (size_t i = 0; i < seen.encoded.count; i++) {
        const span *s = &seen.encoded.items[i];
        if (s->len == strlen(token) && memcmp(s->bytes, token, s->len) == 0) {
            return;
        }
    }
    fail_msg("token %s was not produced by sodium_bin2base64: the wrappers see nothing", token);
}

/* ---------------------------------------------------------------------- */
/* Fixture.                                                               */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    tu_site site; /* the store is <root>/etc/pair-tokens.toml */
    pairtok_store *store;
    /* Heap memory of the stack test, freed by teardown also when it fails. */
    unsigned char *stack_copy;
    char *token;
    pairtok_error *err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_site_init(&f->site, "wipe", "etc");
    f->site.opts.max_per_principal = 2;
    f->store = tu_open(&f->site);
    forget_all();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pairtok_store_close(f->store);
    free(f->stack_copy);
    free(f->token);
    free(f->err);
    tu_site_free(&f->site);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Tests.                                                                 */
/* ---------------------------------------------------------------------- */

static void generate_token_wipes_its_raw_bytes(void **state)
{
    (void)state;
    char token[PAIRTOK_TOKEN_LEN + 1];
    assert_int_equal(pairtok_generate_token(token), 0);
    assert_token_was_encoded(token);
    assert_int_equal(assert_raw_bytes_wiped(), 1);
    assert_tokens_wiped(token); /* the only token buffer is the caller's */
}

static void issue_wipes_the_token_and_its_raw_bytes(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_record rec;
    pairtok_error err;
    assert_int_equal(pairtok_issue_at(f->store, "alice", "phone", 300, token, &rec, NOW, &err),
                     PAIRTOK_OK);
    pairtok_record_clear(&rec);
    assert_token_was_encoded(token);
    assert_true(assert_raw_bytes_wiped() >= 1);
    assert_tokens_wiped(token);
    assert_true(seen.wipes > 0);
    /* The token works: the wrappers changed nothing. */
    assert_int_equal(pairtok_redeem_at(f->store, token, NULL, NULL, NULL, NOW, &err), PAIRTOK_OK);
}

/* Refused after the token was drawn (in this version: the per-principal
 * cap is checked under the lock): whatever was drawn is wiped too. */
static void refused_issue_wipes_what_it_drew(void **state)
{
    fixture *f = *state;
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_error err;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 300, token, NULL, NOW, &err),
                         PAIRTOK_OK);
    }
    forget_all();
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 300, token, NULL, NOW, &err),
                     PAIRTOK_ELIMIT);
    assert_string_equal(token, "");
    assert_raw_bytes_wiped();
    assert_tokens_wiped(NULL); /* the caller got nothing: every copy is the library's */
}

static int fail_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    (void)olddirfd, (void)oldpath, (void)newdirfd, (void)newpath;
    errno = EIO;
    return -1;
}

/* Failing to store the token: it was certainly drawn, and must be wiped. */
static void failed_issue_wipes_the_token_it_could_not_store(void **state)
{
    fixture *f = *state;
    pt_sys broken = pt_sys_default;
    broken.renameat = fail_rename;
    pt_set_sys(f->store, &broken);
    char token[PAIRTOK_TOKEN_LEN + 1];
    pairtok_error err;
    assert_int_equal(pairtok_issue_at(f->store, "alice", NULL, 300, token, NULL, NOW, &err),
                     PAIRTOK_EIO);
    assert_string_equal(token, "");
    assert_true(assert_raw_bytes_wiped() >= 1);
    assert_true(assert_tokens_wiped(NULL) >= 1);
    pt_set_sys(f->store, NULL);
}

/* ---------------------------------------------------------------------- */
/* No copy left on the stack.                                             */
/* ---------------------------------------------------------------------- */

#define STACK_SIZE (4u << 20) /* ample, also for ASan's larger frames */
#define HEADROOM 16384        /* above the calls: what the thread's exit uses */

typedef enum stack_op { OP_GENERATE, OP_ISSUE, OP_REDEEM } stack_op;

/* Everything the thread passes in or out lives on the heap, so that the
 * only copies on its stack are the library's. */
typedef struct stack_job {
    stack_op op;
    pairtok_store *store;
    char *token; /* out for generate and issue, in for redeem */
    pairtok_status status;
    pairtok_error *err;
} stack_job;

/* The calls run below HEADROOM bytes of this frame, out of reach of what
 * runs on the stack after them (the thread's exit). */
__attribute__((noinline)) static void run_below_headroom(stack_job *job)
{
    volatile char headroom[HEADROOM];
    headroom[0] = headroom[HEADROOM - 1] = 0;
    switch (job->op) {
    case OP_GENERATE:
        job->status = pairtok_generate_token(job->token) == 0 ? PAIRTOK_OK : PAIRTOK_ERANDOM;
        break;
    case OP_ISSUE:
        job->status =
            pairtok_issue_at(job->store, "alice", NULL, 300, job->token, NULL, NOW, job->err);
        break;
    case OP_REDEEM:
        job->status = pairtok_redeem_at(job->store, job->token, NULL, NULL, NULL, NOW, job->err);
        break;
    }
    headroom[0] = headroom[HEADROOM - 1];
}

static void *stack_thread(void *arg)
{
    run_below_headroom(arg);
    return NULL;
}

/* Copy into `copy` the thread's stack after it ended, read through
 * /proc/self/mem: no sanitizer or valgrind takes that for a read of dead
 * stack. */
static void run_on_own_stack(stack_job *job, unsigned char *copy)
{
    void *stack =
        mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(stack != MAP_FAILED);
    pthread_attr_t attr;
    pthread_t thread;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstack(&attr, stack, STACK_SIZE), 0);
    assert_int_equal(pthread_create(&thread, &attr, stack_thread, job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    pthread_attr_destroy(&attr);
    int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    assert_true(mem >= 0);
    ssize_t got = pread(mem, copy, STACK_SIZE, (off_t)(uintptr_t)stack);
    close(mem);
    munmap(stack, STACK_SIZE);
    assert_int_equal(got, (ssize_t)STACK_SIZE);
}

static void assert_absent(const unsigned char *stack, const void *secret, size_t len,
                          const char *what)
{
    const unsigned char *at = memmem(stack, STACK_SIZE, secret, len);
    if (at != NULL) {
        fail_msg("%s left on the stack, %zu bytes from its top", what,
                 (size_t)(stack + STACK_SIZE - at));
    }
}

/* The token (and, when one was drawn, its raw bytes) is nowhere on the
 * stack the call ran on. */
static void assert_no_residue(stack_job *job, unsigned char *stack)
{
    run_on_own_stack(job, stack);
    assert_int_equal(job->status, PAIRTOK_OK);
    assert_int_equal(strlen(job->token), PAIRTOK_TOKEN_LEN);
    assert_absent(stack, job->token, PAIRTOK_TOKEN_LEN, "the token");
    for (size_t i = 0; i < seen.sources.count; i++) {
        assert_absent(stack, seen.sources.items[i].bytes, seen.sources.items[i].len,
                      "the raw bytes");
    }
}

static void no_copy_on_the_stack_after_generate_issue_or_redeem(void **state)
{
    fixture *f = *state;
    f->stack_copy = malloc(STACK_SIZE);
    f->token = malloc(PAIRTOK_TOKEN_LEN + 1);
    f->err = malloc(sizeof *f->err);
    assert_true(f->stack_copy != NULL && f->token != NULL && f->err != NULL);
    stack_job generate = {OP_GENERATE, NULL, f->token, PAIRTOK_EIO, f->err};
    assert_no_residue(&generate, f->stack_copy);
    assert_int_equal(seen.sources.count, 1);

    forget_all();
    stack_job issue = {OP_ISSUE, f->store, f->token, PAIRTOK_EIO, f->err};
    assert_no_residue(&issue, f->stack_copy);
    assert_true(seen.sources.count >= 1);

    forget_all(); /* redeem is handed the token: the caller's copy only */
    stack_job redeem = {OP_REDEEM, f->store, f->token, PAIRTOK_EIO, f->err};
    assert_no_residue(&redeem, f->stack_copy);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(generate_token_wipes_its_raw_bytes),
        T(issue_wipes_the_token_and_its_raw_bytes),
        T(refused_issue_wipes_what_it_drew),
        T(failed_issue_wipes_the_token_it_could_not_store),
        T(no_copy_on_the_stack_after_generate_issue_or_redeem),
    };
    tu_fail_via(tu_cmocka_fail);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
