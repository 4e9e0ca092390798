/* SPDX-License-Identifier: ISC */
/*
 * timefmt.h - how pairtok shows times to people.
 */
#ifndef PAIRTOK_CLI_TIMEFMT_H
#define PAIRTOK_CLI_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define CLI_TIME_MAX 32

/* `epoch` as UTC ISO-8601, `2025-11-28T09:20:00Z`; `@<epoch>` if the
 * system cannot represent it. */
void cli_format_utc(uint64_t epoch, char out[CLI_TIME_MAX]);

/* A span of seconds the way people read it: `59s`, `4m 59s`, `1h 0m 0s`,
 * `2d 3h 4m 5s`. */
void cli_format_duration(uint64_t secs, char out[CLI_TIME_MAX]);

#endif /* PAIRTOK_CLI_TIMEFMT_H */
