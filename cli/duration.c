/* SPDX-License-Identifier: ISC */
/*
 * duration.c - the lifetime `pairtok issue --ttl` takes (see duration.h).
 */
#include "duration.h"

#include <stdbool.h>
#include <string.h>

#include "pairtok.h"

/* Numbers are clamped here while they are read: any larger value is out of
 * range anyway, and the sum of three clamped parts cannot overflow. */
#define NUMBER_CLAMP ((uint64_t)UINT32_MAX)

static const char units[] = "hms";
static const uint64_t unit_secs[] = {3600, 60, 1};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read the decimal digits at *p, clamped to NUMBER_CLAMP; returns false if
 * there are none. */
static bool read_number(const char **p, uint64_t *value)
{
    const char *start = *p;
    *value = 0;
    for (; is_digit(**p); (*p)++) {
        *value = *value * 10 + (uint64_t)(**p - '0');
        if (*value > NUMBER_CLAMP) {
            *value = NUMBER_CLAMP;
        }
    }
    return *p != start;
}

/* The seconds `text` stands for, clamped; false if it is malformed. */
static bool total_secs(const char *text, uint64_t *total)
{
    const char *p = text;
    size_t next_unit = 0; /* units before this one are used up */
    *total = 0;
    do {
        uint64_t value;
        if (!read_number(&p, &value)) {
            return false;
        }
        if (*p == '\0' && next_unit == 0) {
            *total = value; /* digits only: seconds */
            return true;
        }
        const char *unit = *p != '\0' ? strchr(units + next_unit, *p) : NULL;
        if (unit == NULL) {
            return false; /* "1.5m", "5 m", "1s1m", "1m30" */
        }
        next_unit = (size_t)(unit - units) + 1;
        *total += value * unit_secs[next_unit - 1];
        p++;
    } while (*p != '\0');
    return true;
}

cli_duration_result cli_duration_parse(const char *text, uint32_t *secs)
{
    uint64_t total;
    if (!total_secs(text, &total)) {
        return CLI_DURATION_MALFORMED;
    }
    if (total == 0) {
        return CLI_DURATION_ZERO;
    }
    if (total > PAIRTOK_MAX_EXPIRY_SECS) {
        return CLI_DURATION_TOO_LONG;
    }
    *secs = (uint32_t)total;
    return CLI_DURATION_OK;
}

const char *cli_duration_strerror(cli_duration_result result)
{
    switch (result) {
    case CLI_DURATION_OK:
        return "is a duration";
    case CLI_DURATION_MALFORMED:
        return "is not a duration";
    case CLI_DURATION_ZERO:
        return "is zero";
    case CLI_DURATION_TOO_LONG:
        return "is more than one hour";
    }
    return "is not a duration";
}
