/* SPDX-License-Identifier: ISC */
/*
 * json_out.h - the --json output of pairtok, built with jansson.
 *
 * Keys come out in the order they are added (jansson >= 2.8 keeps insertion
 * order), one JSON value per run, ASCII only so that no label can smuggle
 * terminal control sequences through.
 */
#ifndef PAIRTOK_CLI_JSON_OUT_H
#define PAIRTOK_CLI_JSON_OUT_H

#include <jansson.h>

#include "pairtok.h"

/* Make jansson wipe every buffer it frees: the issue output holds a raw
 * token.  Call once, before any other jansson function. */
void cli_json_init(void);

/* Which fields of a record to emit, in this order:
 * CLI_JSON_ISSUE:  token, id, principal, label, issued_at_epoch, expires_at_epoch
 * CLI_JSON_REDEEM: principal, label, issued_at_epoch, expires_at_epoch, id
 * CLI_JSON_LIST:   id, principal, label, issued_at_epoch, expires_at_epoch */
typedef enum { CLI_JSON_ISSUE, CLI_JSON_REDEEM, CLI_JSON_LIST } cli_json_shape;

/* A new object for `rec` (with `token` for CLI_JSON_ISSUE, else NULL), or
 * NULL when memory ran out.  Release with json_decref(). */
json_t *cli_json_record(const pairtok_record *rec, const char *token, cli_json_shape shape);

/* Write `value` and a newline to `fd` without going through stdio, whose
 * buffer could not be wiped.  Returns 0, or -1 with errno set. */
int cli_json_write(int fd, const json_t *value);

#endif /* PAIRTOK_CLI_JSON_OUT_H */
