/* SPDX-License-Identifier: ISC */
/*
 * timefmt.c - how pairtok shows times to people (timefmt.h).
 */
#include "timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

void cli_format_utc(uint64_t epoch, char out[CLI_TIME_MAX])
{
    struct tm tm;
    /* time_t is 64-bit signed on every target we build for; a hand-edited
     * store may still hold a value gmtime cannot place in a year. */
    time_t t = (time_t)epoch;
    if (epoch > INT64_MAX || gmtime_r(&t, &tm) == NULL ||
        strftime(out, CLI_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, CLI_TIME_MAX, "@%" PRIu64, epoch);
    }
}

void cli_format_duration(uint64_t secs, char out[CLI_TIME_MAX])
{
    uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60, s = secs % 60;
    if (d > 0) {
        snprintf(out, CLI_TIME_MAX, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", d, h, m,
                 s);
    } else if (h > 0) {
        snprintf(out, CLI_TIME_MAX, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s);
    } else if (m > 0) {
        snprintf(out, CLI_TIME_MAX, "%" PRIu64 "m %" PRIu64 "s", m, s);
    } else {
        snprintf(out, CLI_TIME_MAX, "%" PRIu64 "s", s);
    }
}
