/* SPDX-License-Identifier: ISC */
/*
 * audit.h - the CLI's audit trail: the library's events appended to a log
 * file as JSON lines, or sent to syslog (audit.c).
 */
#ifndef PAIRTOK_CLI_AUDIT_H
#define PAIRTOK_CLI_AUDIT_H

#include "cli.h"

/* Open the sink the options and environment choose, before the store is
 * touched.  Returns CLI_EXIT_OK, or CLI_EXIT_STORE after saying why the log
 * cannot be written (then nothing may change). */
int cli_audit_start(const cli_ctx *ctx, cli_audit *audit);

/* pairtok_options.on_event: write one event.  A failure is remembered for
 * cli_audit_finish(). */
void cli_audit_event(const pairtok_event *event, void *audit);

/* Close the sink; if an event could not be written, say that the change
 * was made but not logged, and return CLI_EXIT_STORE; else `status`. */
int cli_audit_finish(const cli_ctx *ctx, cli_audit *audit, int status);

#endif /* PAIRTOK_CLI_AUDIT_H */
