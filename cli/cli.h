/* SPDX-License-Identifier: ISC */
/*
 * cli.h - what the pairtok command-line tool shares between its files.
 *
 * main.c resolves the global options and dispatches to one cmd_*.c file per
 * command; each command parses its own arguments with args.c and reports
 * library failures through cli_fail(), which also picks the exit status.
 */
#ifndef PAIRTOK_CLI_H
#define PAIRTOK_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "pairtok.h"

/* Exit statuses, documented in pairtok(1). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1, /* redeem refused (PAIRTOK_EDENIED) */
    CLI_EXIT_USAGE = 2,   /* usage error or invalid argument */
    CLI_EXIT_STORE = 3,   /* store or system problem, or check found one */
};

/* Where audit events go (audit.c). */
typedef struct cli_audit {
    bool started;
    int fd;           /* the --audit-log file, or -1 */
    const char *path; /* its name, for messages */
    bool use_syslog;
    int failed_errno; /* first failed append, 0 if none */
} cli_audit;

/* State shared by every command: its name for messages and where the
 * store is.  Filled by main() and by the global options a command sees. */
typedef struct cli_ctx {
    const char *command; /* "issue", ...; NULL before the command is known */
    const char *store_opt;
    const char *home_opt;
    const char *audit_log_opt;
    bool no_syslog;
    char path[PAIRTOK_PATH_MAX]; /* a file path or a postgresql:// URI */
    cli_audit audit;
} cli_ctx;

/* Commands: argv[0] is the command name; each returns an exit status. */
int cmd_issue(cli_ctx *ctx, int argc, char **argv);
int cmd_redeem(cli_ctx *ctx, int argc, char **argv);
int cmd_list(cli_ctx *ctx, int argc, char **argv);
int cmd_revoke(cli_ctx *ctx, int argc, char **argv);
int cmd_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_path(cli_ctx *ctx, int argc, char **argv);
int cmd_check(cli_ctx *ctx, int argc, char **argv);
int cmd_init(cli_ctx *ctx, int argc, char **argv);

/* Resolve ctx->path: --store, else --home, else $PAIRTOK_STORE (a path or a
 * URI), else $ASTRID_HOME or $HOME.  Returns CLI_EXIT_OK or an exit status
 * after printing why. */
int cli_resolve_path(cli_ctx *ctx);

/* Resolve the path and open a handle on it.  For a command that changes
 * the store, the audit sink is opened first and receives its events.
 * Returns an exit status. */
int cli_open_store(cli_ctx *ctx, pairtok_store **out);

/* Exit status for a library status. */
int cli_exit_status(pairtok_status status);

/* Print `pairtok: <command>: <err->message>` and return its exit status. */
int cli_fail(const cli_ctx *ctx, const pairtok_error *err);

/* Print `pairtok: <command>: <message>` on stderr (printf-style). */
void cli_warn(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_warn() plus a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write all of `buf` to `fd`, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int cli_write_all(int fd, const char *buf, size_t len);

/* Flush stdout and report a failed write (full disk, closed pipe).
 * Returns `status`, or CLI_EXIT_STORE if the output was lost. */
int cli_finish_stdout(const cli_ctx *ctx, int status);

/* Flush and close stdout, so that an error only close(2) reports (a
 * delayed write on a network file system) is not lost at exit either.
 * Returns 0, or -1 with errno set.  Nothing may use stdout afterwards. */
int cli_close_stdout(void);

#endif /* PAIRTOK_CLI_H */
