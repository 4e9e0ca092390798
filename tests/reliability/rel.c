/* SPDX-License-Identifier: ISC */
/* rel.c - helpers shared by the reliability suites; see rel.h. */
#define _XOPEN_SOURCE 700
#include "rel.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void rt_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void (*fail_hook)(const char *message);
static pid_t fail_pid;

void rt_fail_via(void (*hook)(const char *message))
{
    fail_hook = hook;
    fail_pid = getpid();
}

void rt_fail(const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (fail_hook != NULL && getpid() == fail_pid) {
        fail_hook(message); /* cmocka's fail_msg does not return */
    }
    rt_die("%s", message);
}

bool rt_is_asan(void)
{
    const char *b = getenv("BUILD");
    return b != NULL && strstr(b, "asan") != NULL;
}

unsigned rt_scale(unsigned full, unsigned reduced)
{
    return rt_is_asan() ? reduced : full;
}

char *rt_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(PAIRTOK_PATH_MAX);
    if (path == NULL) {
        rt_die("out of memory");
    }
    snprintf(path, PAIRTOK_PATH_MAX, "%s/pairtok-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (mkdtemp(path) == NULL) {
        rt_die("mkdtemp %s: %s", path, strerror(errno));
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

void rt_rm_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void rt_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rt_rm_tree(rt_join(dir, e->d_name));
        }
    }
    closedir(d);
}

const char *rt_join(const char *dir, const char *name)
{
    static char bufs[16][PAIRTOK_PATH_MAX];
    static unsigned next;
    char *out = bufs[next++ % 16];
    snprintf(out, PAIRTOK_PATH_MAX, "%s/%s", dir, name);
    return out;
}

void rt_site_init(rt_site *site, const char *tag, const char *sub)
{
    memset(site, 0, sizeof *site);
    site->root = rt_mkdtemp(tag);
    if (sub == NULL) {
        snprintf(site->dir, sizeof site->dir, "%s", site->root);
    } else {
        snprintf(site->dir, sizeof site->dir, "%s/%s", site->root, sub);
    }
    snprintf(site->path, sizeof site->path, "%s/pair-tokens.toml", site->dir);
    snprintf(site->lock, sizeof site->lock, "%s.lock", site->path);
}

void rt_site_free(rt_site *site)
{
    rt_rm_tree(site->root);
    free(site->root);
    site->root = NULL;
}

rt_site *rt_site_new(const char *tag, const char *sub)
{
    rt_site *site = malloc(sizeof *site);
    if (site == NULL) {
        rt_die("out of memory");
    }
    rt_site_init(site, tag, sub);
    return site;
}

void rt_site_delete(rt_site *site)
{
    rt_site_free(site);
    free(site);
}

pairtok_store *rt_open_with(const char *path, const pairtok_options *opts)
{
    pairtok_store *s = NULL;
    pairtok_error err;
    pairtok_status st = pairtok_store_open(path, opts, &s, &err);
    if (st != PAIRTOK_OK) {
        rt_fail("open %s: status %d: %s", path, st, err.message);
    }
    return s;
}

pairtok_store *rt_open(const rt_site *site)
{
    return rt_open_with(site->path, &site->opts);
}

rt_blob rt_read(const char *path)
{
    rt_blob b = {false, NULL, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT) {
            rt_die("open %s: %s", path, strerror(errno));
        }
        return b;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rt_die("%s: not a regular file", path);
    }
    size_t cap = (size_t)st.st_size + 1;
    b.data = malloc(cap + 1);
    if (b.data == NULL) {
        rt_die("out of memory");
    }
    for (;;) {
        if (b.len == cap) {
            cap *= 2;
            b.data = realloc(b.data, cap + 1);
            if (b.data == NULL) {
                rt_die("out of memory");
            }
        }
        ssize_t n = read(fd, b.data + b.len, cap - b.len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rt_die("read %s: %s", path, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        b.len += (size_t)n;
    }
    close(fd);
    b.data[b.len] = '\0';
    b.exists = true;
    return b;
}

rt_blob rt_read_masked(const char *path, bool mask)
{
    rt_blob b = rt_read(path);
    if (b.exists && mask) {
        const char *known[RT_NTOK];
        for (size_t i = 0; i < RT_NTOK; i++) {
            known[i] = rt_hash_of(i);
        }
        rt_mask_unknown_hashes(b.data, b.len, known, RT_NTOK);
    }
    return b;
}

void rt_blob_free(rt_blob *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->exists = false;
}

bool rt_blob_eq(const rt_blob *a, const rt_blob *b)
{
    if (a->exists != b->exists) {
        return false;
    }
    return !a->exists || (a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
}

void rt_write(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rt_die("create %s: %s", path, strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rt_die("write %s: %s", path, strerror(errno));
        }
        done += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0) {
        rt_die("finish %s: %s", path, strerror(errno));
    }
}

void rt_restore(const char *path, const rt_blob *b, mode_t mode)
{
    if (b->exists) {
        rt_write(path, b->data, b->len, mode);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        rt_die("unlink %s: %s", path, strerror(errno));
    }
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

void rt_mask_unknown_hashes(char *text, size_t len, const char *const *keep, size_t n)
{
    size_t i = 0;
    while (i < len) {
        if (!is_hex(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && is_hex(text[j])) {
            j++;
        }
        if (j - i == PAIRTOK_HASH_LEN) {
            bool known = false;
            for (size_t k = 0; k < n && !known; k++) {
                known = memcmp(text + i, keep[k], PAIRTOK_HASH_LEN) == 0;
            }
            if (!known) {
                memset(text + i, 'X', PAIRTOK_HASH_LEN);
            }
        }
        i = j;
    }
}

size_t rt_count_temps(const char *dir, const char *base)
{
    char prefix[PAIRTOK_PATH_MAX];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    size_t found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        found += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return found;
}

bool rt_lock_is_free(const char *lock_path)
{
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return true;
        }
        rt_die("open %s: %s", lock_path, strerror(errno));
    }
    bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd); /* drops our lock, if taken */
    return free_now;
}

size_t rt_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        rt_die("opendir /proc/self/fd: %s", strerror(errno));
    }
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

const char *const rt_tokens[RT_NTOK] = {
    "wEWrFNsi3D2oYehDDeymv_mEg9_k2qUc", "bZblQOT0g_FFlqDY_gxx_MMjZVbdFlqY",
    "cbtsn1XqLQqGZb4OVLV4326x-NkrQ-Pn", "hCdD3r03RCwSyrtSevkgXZVRE_NT0k3_",
    "irHADbpgHpoWonBFHXCKhuNBHUnUWX54", "X4-DltfPZoj6gOkXYpykLcanL3sTldfV",
    "VmQiHptYTT2VvvYwZV6u0Hg0Po3NAooV", "5GAOkfAdD3h71W1UGMp4DLjrtPENtus-",
};

const char *rt_hash_of(size_t i)
{
    static char hashes[RT_NTOK][PAIRTOK_HASH_LEN + 1];
    if (i >= RT_NTOK) {
        rt_die("no token %zu", i);
    }
    if (hashes[i][0] == '\0') {
        pairtok_hash_token(rt_tokens[i], hashes[i]);
    }
    return hashes[i];
}

char *rt_base_store(void)
{
    char *text = malloc(4096);
    if (text == NULL) {
        rt_die("out of memory");
    }
    snprintf(text, 4096,
             "# pair tokens (reliability fixture)\n"
             "owner_note = \"top-level key from a newer writer\"\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"alice\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n"
             "label = \"alice's phone\"\n"
             "future_field = \"keep me\"\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"bob\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n"
             "\n"
             "[[pair_token]]\n"
             "token_hash = \"%s\"\n"
             "principal = \"carol\"\n"
             "expires_at_epoch = %llu\n"
             "issued_at_epoch = %llu\n",
             rt_hash_of(0), (unsigned long long)(RT_T0 + 200), (unsigned long long)(RT_T0 - 100),
             rt_hash_of(1), (unsigned long long)(RT_T0 + 3000), (unsigned long long)(RT_T0 - 100),
             rt_hash_of(2), (unsigned long long)(RT_T0 - 10), (unsigned long long)(RT_T0 - 310));
    return text;
}

rt_blob rt_base_blob(void)
{
    rt_blob b = {true, rt_base_store(), 0};
    b.len = strlen(b.data);
    return b;
}

/* ---------------------------------------------------------------------- */
/* The operations.                                                        */
/* ---------------------------------------------------------------------- */

static int bind_ok(const pairtok_record *rec, void *ctx)
{
    (void)rec;
    rt_op_ctx *c = ctx;
    c->bind_calls++;
    if (c->capture_path != NULL) {
        c->captured = rt_read(c->capture_path);
    }
    return 0;
}

static int bind_refuse(const pairtok_record *rec, void *ctx)
{
    bind_ok(rec, ctx);
    return ((rt_op_ctx *)ctx)->refusal;
}

pairtok_status rt_op_issue(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    pairtok_record rec;
    pairtok_record *out = c->want_record ? &rec : NULL;
    c->token[0] = '?'; /* a failed issue must empty it */
    pairtok_status st = pairtok_issue_at(s, "alice", "new phone", 300, c->token, out, RT_T0, err);
    if (st == PAIRTOK_OK) {
        if (out != NULL && (rec.label == NULL || strcmp(rec.label, "new phone") != 0)) {
            rt_fail("issue: record_out label");
        }
    } else if (c->token[0] != '\0' || (out != NULL && rec.label != NULL)) {
        rt_fail("failed issue left output");
    }
    if (out != NULL) {
        pairtok_record_clear(&rec);
    }
    return st;
}

pairtok_status rt_op_redeem(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    pairtok_record rec;
    pairtok_record *out = c->want_record ? &rec : NULL;
    pairtok_status st = pairtok_redeem_at(s, rt_tokens[0], NULL, NULL, out, RT_T0, err);
    if (out != NULL) {
        if (st == PAIRTOK_OK && (rec.label == NULL || strcmp(rec.principal, "alice") != 0)) {
            rt_fail("redeem: record_out");
        }
        pairtok_record_clear(&rec);
    }
    return st;
}

pairtok_status rt_op_redeem_bind(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    return pairtok_redeem_at(s, rt_tokens[0], bind_ok, c, NULL, RT_T0, err);
}

pairtok_status rt_op_redeem_abort(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    return pairtok_redeem_at(s, rt_tokens[0], bind_refuse, c, NULL, RT_T0, err);
}

pairtok_status rt_op_revoke_id(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    char id[PAIRTOK_ID_DISPLAY_LEN + 1];
    memcpy(id, rt_hash_of(1), PAIRTOK_ID_DISPLAY_LEN);
    id[PAIRTOK_ID_DISPLAY_LEN] = '\0';
    size_t removed = 0;
    pairtok_status st = pairtok_revoke_id(s, id, &removed, err);
    if (st == PAIRTOK_OK && removed != 1) {
        rt_fail("revoke_id removed %zu", removed);
    }
    return st;
}

pairtok_status rt_op_revoke_principal(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    size_t removed = 0;
    return pairtok_revoke_principal(s, c->revokee, &removed, err);
}

pairtok_status rt_op_prune(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t removed = 0;
    return pairtok_prune_at(s, &removed, RT_T0, err);
}

pairtok_status rt_op_save(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    char label[] = "bob's tablet";
    pairtok_record items[2] = {
        {.expires_at_epoch = RT_T0 + 3000, .issued_at_epoch = RT_T0 - 100, .label = label},
        {.expires_at_epoch = RT_T0 + 60, .issued_at_epoch = RT_T0},
    };
    strcpy(items[0].token_hash, rt_hash_of(1));
    strcpy(items[0].principal, "bob");
    strcpy(items[1].token_hash, rt_hash_of(3));
    strcpy(items[1].principal, "dave");
    pairtok_record_list list = {items, 2, 2, NULL};
    pairtok_status st = pairtok_store_save(s, &list, err);
    list_origin_free(list.origin); /* the items are on the stack */
    return st;
}

/* A listing of `want` records on success, of none on failure. */
static void check_count(const char *what, pairtok_status st, pairtok_record_list *list, size_t want)
{
    size_t count = list->count;
    pairtok_record_list_free(list);
    if (st == PAIRTOK_OK && count != want) {
        rt_fail("%s: %zu records", what, count);
    }
    if (st != PAIRTOK_OK && count != 0) {
        rt_fail("failed %s left %zu records", what, count);
    }
}

pairtok_status rt_op_load(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_store_load(s, &list, err);
    check_count("load", st, &list, 3);
    return st;
}

pairtok_status rt_op_list(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    pairtok_record_list list = {0};
    pairtok_status st = pairtok_list_at(s, NULL, &list, RT_T0, err);
    check_count("list", st, &list, 2);
    return st;
}

pairtok_status rt_op_check(pairtok_store *s, rt_op_ctx *c, pairtok_error *err)
{
    (void)c;
    size_t problems;
    pairtok_status st = pairtok_check_at(s, NULL, NULL, &problems, RT_T0, err);
    if (st == PAIRTOK_OK && problems != 0) {
        rt_fail("check: %zu problems", problems);
    }
    return st;
}

bool rt_op_succeeded(pairtok_status st, pairtok_status ok, const pairtok_error *err)
{
    return st == ok && (st != PAIRTOK_EABORTED || strstr(err->message, "still redeemable") != NULL);
}

pairtok_status rt_op_failed_status(pairtok_status ok, const rt_op_ctx *c, pairtok_status fault)
{
    return ok == PAIRTOK_EABORTED && c->bind_calls > 0 ? PAIRTOK_EABORTED : fault;
}

/* ---------------------------------------------------------------------- */
/* The fault-injecting table.                                             */
/* ---------------------------------------------------------------------- */

rt_faults rt_fault;

void rt_fault_arm(rt_mode mode, unsigned long fail_at, int errnum)
{
    bool short_io = rt_fault.short_io;
    memset(&rt_fault, 0, sizeof rt_fault);
    rt_fault.mode = mode;
    rt_fault.fail_at = fail_at;
    rt_fault.errnum = errnum;
    rt_fault.exit_code = 77;
    rt_fault.short_io = short_io;
    rt_fault.written_fd = -1;
}

static const char *const call_names[RT_NCALLS] = {
    "openat",   "fstat",   "read",   "write", "fsync",   "close",         "renameat",
    "unlinkat", "mkdirat", "fchmod", "flock", "fstatat", "clock_gettime",
};
/* What the library's message says when the call fails (fsafe.c wording). */
static const char *const call_keywords[RT_NCALLS] = {
    "open|create",      "stat",  "read", "write", "fsync", "close", "rename", "unlink",
    "create directory", "chmod", "lock", "stat",  "clock",
};

const char *rt_call_name(rt_call c)
{
    return c < RT_NCALLS ? call_names[c] : "?";
}

const char *rt_call_keyword(rt_call c)
{
    return c < RT_NCALLS ? call_keywords[c] : "?";
}

/* Set by f_fsync around its gate: is the descriptor a directory's? */
static bool call_on_dir;

/* Decide the fate of one call: 0 = go ahead, -1 = fail it (errno set). */
static int gate(rt_call c)
{
    rt_fault.per_call[c]++;
    bool eligible = rt_fault.mode != RT_EINTR || c == RT_READ || c == RT_WRITE || c == RT_FLOCK;
    if (!eligible) {
        return 0;
    }
    rt_fault.calls++;
    if (rt_fault.mode == RT_PASS || rt_fault.fail_at == 0 || rt_fault.calls != rt_fault.fail_at) {
        return 0;
    }
    rt_fault.fired = true;
    rt_fault.fired_call = c;
    rt_fault.fired_on_dir = call_on_dir;
    switch (rt_fault.mode) {
    case RT_EXIT:
        _exit(rt_fault.exit_code);
    case RT_EINTR:
        errno = EINTR;
        return -1;
    case RT_FAIL:
        errno = rt_fault.errnum;
        return -1;
    case RT_PASS:
        break;
    }
    return 0;
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return gate(RT_OPENAT) ? -1 : openat(dirfd, path, flags, mode);
}

static int f_fstat(int fd, struct stat *st)
{
    return gate(RT_FSTAT) ? -1 : fstat(fd, st);
}

static ssize_t f_read(int fd, void *buf, size_t len)
{
    if (gate(RT_READ)) {
        return -1;
    }
    return read(fd, buf, rt_fault.short_io && len > 1 ? len / 2 : len);
}

static ssize_t f_write(int fd, const void *buf, size_t len)
{
    if (gate(RT_WRITE)) {
        return -1;
    }
    ssize_t n = write(fd, buf, rt_fault.short_io && len > 1 ? len / 2 : len);
    if (n > 0) {
        rt_fault.written_fd = fd;
        rt_fault.written_unsynced = true;
    }
    return n;
}

static int f_fsync(int fd)
{
    struct stat st;
    call_on_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    int failed = gate(RT_FSYNC);
    bool on_dir = call_on_dir;
    call_on_dir = false;
    if (failed || fsync(fd) != 0) {
        return -1;
    }
    if (on_dir) {
        rt_fault.rename_pending = false;
    } else if (fd == rt_fault.written_fd) {
        rt_fault.written_unsynced = false;
    }
    return 0;
}

static int f_close(int fd)
{
    if (gate(RT_CLOSE)) {
        /* Linux: the descriptor is released even when close fails. */
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

static int f_renameat(int od, const char *op, int nd, const char *np)
{
    if (gate(RT_RENAMEAT) || renameat(od, op, nd, np) != 0) {
        return -1;
    }
    if (rt_fault.written_unsynced && rt_fault.violation == NULL) {
        rt_fault.violation = "renamed a file over the store before fsyncing what was written";
    }
    if (rt_fault.rename_pending && rt_fault.violation == NULL) {
        rt_fault.violation = "two renames without a directory fsync between them";
    }
    rt_fault.rename_pending = true;
    return 0;
}

static int f_unlinkat(int dirfd, const char *path, int flags)
{
    return gate(RT_UNLINKAT) ? -1 : unlinkat(dirfd, path, flags);
}

static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return gate(RT_MKDIRAT) ? -1 : mkdirat(dirfd, path, mode);
}

static int f_fchmod(int fd, mode_t mode)
{
    return gate(RT_FCHMOD) ? -1 : fchmod(fd, mode);
}

static int f_flock(int fd, int op)
{
    return gate(RT_FLOCK) ? -1 : flock(fd, op);
}

static int f_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return gate(RT_FSTATAT) ? -1 : fstatat(dirfd, path, st, flags);
}

static int f_clock_gettime(clockid_t clock, struct timespec *ts)
{
    return gate(RT_CLOCK) ? -1 : clock_gettime(clock, ts);
}

const pairtok_sys rt_sys = {
    .openat = f_openat,
    .fstat = f_fstat,
    .read = f_read,
    .write = f_write,
    .fsync = f_fsync,
    .close = f_close,
    .renameat = f_renameat,
    .unlinkat = f_unlinkat,
    .mkdirat = f_mkdirat,
    .fchmod = f_fchmod,
    .flock = f_flock,
    .fstatat = f_fstatat,
    .clock_gettime = f_clock_gettime,
};
