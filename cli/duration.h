/* SPDX-License-Identifier: ISC */
/*
 * duration.h - the lifetime `pairtok issue --ttl` takes.
 *
 * Whole seconds, as before (`300`), or the durations people type for other
 * token tools (`kubeadm token create --ttl 1h`): integers with the units h,
 * m and s, in that order, each at most once (`90s`, `5m`, `1m30s`,
 * `1h0m0s`).  Nothing else: no fractions, signs, spaces, other units or
 * upper case, so that a typo is an error and never a surprising lifetime.
 */
#ifndef PAIRTOK_CLI_DURATION_H
#define PAIRTOK_CLI_DURATION_H

#include <stdint.h>

/* The accepted forms, for messages and help. */
#define CLI_DURATION_FORMS                                                                         \
    "give 1 to 3600 seconds, or h, m and s in that order: 300, 90s, 5m, 1m30s, 1h"

typedef enum cli_duration_result {
    CLI_DURATION_OK,
    CLI_DURATION_MALFORMED, /* none of the accepted forms */
    CLI_DURATION_ZERO,      /* well-formed, but no time at all */
    CLI_DURATION_TOO_LONG,  /* well-formed, but over PAIRTOK_MAX_EXPIRY_SECS */
} cli_duration_result;

/* Parse `text` into `*secs` (1 to PAIRTOK_MAX_EXPIRY_SECS).  `*secs` is
 * set only on CLI_DURATION_OK. */
cli_duration_result cli_duration_parse(const char *text, uint32_t *secs);

/* What is wrong, to follow the value in a message: "is zero", ... */
const char *cli_duration_strerror(cli_duration_result result);

#endif /* PAIRTOK_CLI_DURATION_H */
