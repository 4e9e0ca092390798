/* SPDX-License-Identifier: ISC */
/*
 * audit.c - where the CLI sends the library's audit events: one JSON object
 * a line appended to --audit-log FILE (or $PAIRTOK_AUDIT_LOG), else to
 * syslog (LOG_AUTHPRIV, ident "pairtok"; journald collects it) unless
 * --no-syslog.
 *
 * The log is opened before the store is touched, so a log that cannot be
 * written stops the command before anything changes.  Each line goes out in
 * one write(2) on an O_APPEND descriptor, so lines from concurrent
 * processes never interleave.  An append that fails after a change was
 * committed cannot undo it: the command says so and exits 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"

static const char *event_name(pairtok_event_kind kind)
{
    switch (kind) {
    case PAIRTOK_EVENT_ISSUE:
        return "issue";
    case PAIRTOK_EVENT_REDEEM:
        return "redeem";
    case PAIRTOK_EVENT_REDEEM_REFUSED:
        return "redeem_refused";
    case PAIRTOK_EVENT_RESERVE:
        return "reserve";
    case PAIRTOK_EVENT_RELEASE:
        return "release";
    case PAIRTOK_EVENT_REVOKE:
        return "revoke";
    case PAIRTOK_EVENT_PRUNE:
        return "prune";
    }
    return "unknown";
}

/* json_object_set_new() steals `value` even on failure. */
static int set(json_t *obj, const char *key, json_t *value)
{
    return value == NULL ? -1 : json_object_set_new(obj, key, value);
}

/* The event as one line of JSON (ASCII only: a label cannot smuggle a
 * control sequence into a terminal that shows the log), or NULL. */
static char *event_line(const pairtok_event *e)
{
    json_t *obj = json_object();
    int bad = obj == NULL;
    bad = bad || set(obj, "time", json_integer((json_int_t)e->time)) != 0;
    bad = bad || set(obj, "event", json_string(event_name(e->kind))) != 0;
    bad = bad || (e->id != NULL && set(obj, "id", json_string(e->id)) != 0);
    bad = bad || (e->principal != NULL && set(obj, "principal", json_string(e->principal)) != 0);
    bad = bad || (e->label != NULL && set(obj, "label", json_string(e->label)) != 0);
    bad = bad || set(obj, "count", json_integer((json_int_t)e->count)) != 0;
    char *line =
        bad ? NULL : json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return line;
}

static void record_failure(cli_audit *a, int err)
{
    if (a->failed_errno == 0) {
        a->failed_errno = err != 0 ? err : EIO;
    }
}

/* json_dumps() allocates with the functions cli_json_init() installed
 * (they wipe what they free), so its result goes back through them. */
static void free_line(char *line)
{
    json_malloc_t alloc;
    json_free_t release;
    json_get_alloc_funcs(&alloc, &release);
    release(line);
}

static void append_line(cli_audit *a, const char *line)
{
    size_t len = strlen(line);
    char *buf = malloc(len + 2);
    if (buf == NULL) {
        record_failure(a, ENOMEM);
        return;
    }
    memcpy(buf, line, len);
    buf[len] = '\n';
    /* One write: O_APPEND makes it atomic against other appenders; a short
     * write would leave half a line, so it counts as a failure. */
    ssize_t n;
    while ((n = write(a->fd, buf, len + 1)) < 0 && errno == EINTR) {
    }
    if (n != (ssize_t)(len + 1)) {
        record_failure(a, n < 0 ? errno : EIO);
    }
    free(buf);
}

void cli_audit_event(const pairtok_event *event, void *ctx)
{
    cli_audit *a = ctx;
    char *line = event_line(event);
    if (line == NULL) {
        record_failure(a, ENOMEM);
        return;
    }
    if (a->fd >= 0) {
        append_line(a, line);
    } else if (a->use_syslog) {
        syslog(LOG_AUTHPRIV | LOG_INFO, "%s", line);
    }
    free_line(line);
}

/* A log is ours and only ours to write: a regular file of this user that
 * nobody else can write (it may be readable by a log-reading group). */
static const char *unsafe_log(const struct stat *st)
{
    if (!S_ISREG(st->st_mode)) {
        return "not a regular file";
    }
    if (st->st_uid != geteuid()) {
        return "owned by another user";
    }
    if (st->st_nlink != 1) {
        return "has more than one link";
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return "writable by group or others";
    }
    return NULL;
}

static int open_log(cli_audit *a, const char *path, const char **why)
{
    int fd = open(
        path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        *why = errno == ELOOP ? "is a symbolic link" : strerror(errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    if ((*why = unsafe_log(&st)) != NULL) {
        close(fd);
        return -1;
    }
    a->fd = fd;
    return 0;
}

int cli_audit_start(const cli_ctx *ctx, cli_audit *a)
{
    *a = (cli_audit){.fd = -1};
    const char *path = ctx->audit_log_opt;
    if (path == NULL) {
        path = getenv("PAIRTOK_AUDIT_LOG");
        path = path != NULL && path[0] != '\0' ? path : NULL;
    }
    if (path == NULL) {
        a->use_syslog = !ctx->no_syslog;
        if (a->use_syslog) {
            openlog("pairtok", LOG_PID, LOG_AUTHPRIV);
        }
        return CLI_EXIT_OK;
    }
    const char *why;
    if (open_log(a, path, &why) != 0) {
        cli_warn(ctx, "audit log %s: %s; nothing was changed", path, why);
        return CLI_EXIT_STORE;
    }
    a->path = path;
    return CLI_EXIT_OK;
}

int cli_audit_finish(const cli_ctx *ctx, cli_audit *a, int status)
{
    if (!a->started) {
        return status;
    }
    if (a->failed_errno != 0) {
        cli_warn(ctx, "the change was made, but the audit log %s could not be written: %s",
                 a->path != NULL ? a->path : "(syslog)", strerror(a->failed_errno));
        status = CLI_EXIT_STORE;
    }
    if (a->fd >= 0 && close(a->fd) != 0 && status != CLI_EXIT_STORE) {
        cli_warn(ctx, "the change was made, but closing the audit log %s failed: %s", a->path,
                 strerror(errno));
        status = CLI_EXIT_STORE;
    }
    if (a->use_syslog) {
        closelog();
    }
    a->fd = -1;
    return status;
}
