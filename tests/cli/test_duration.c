/* SPDX-License-Identifier: ISC */
/* test_duration.c - cli_duration_parse(), the parser of `issue --ttl`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "duration.h"
#include "pairtok.h"

#define UNTOUCHED 12345u

/* Parse `text` and check the result, and that *secs is set only on
 * success; a failure names the text. */
static void check(const char *text, cli_duration_result expected, uint32_t expected_secs)
{
    uint32_t secs = UNTOUCHED;
    cli_duration_result result = cli_duration_parse(text, &secs);
    if (expected != CLI_DURATION_OK) {
        expected_secs = UNTOUCHED;
    }
    if (result != expected || secs != expected_secs) {
        print_error("'%s': result %d, %u s; expected %d, %u s\n", text, (int)result, (unsigned)secs,
                    (int)expected, (unsigned)expected_secs);
        fail();
    }
}

static void accepts(const char *text, uint32_t expected)
{
    check(text, CLI_DURATION_OK, expected);
}

static void refuses(const char *text, cli_duration_result expected)
{
    check(text, expected, 0);
}

static void bare_seconds(void **state)
{
    (void)state;
    accepts("1", 1);
    accepts("300", 300);
    accepts("3600", 3600);
    accepts("0300", 300);
    refuses("0", CLI_DURATION_ZERO);
    refuses("000", CLI_DURATION_ZERO);
    refuses("3601", CLI_DURATION_TOO_LONG);
}

static void units_in_order(void **state)
{
    (void)state;
    accepts("90s", 90);
    accepts("5m", 300);
    accepts("1h", 3600);
    accepts("1m30s", 90);
    accepts("1h0m0s", 3600);
    accepts("0h1s", 1);
    accepts("0h0m1s", 1);
    accepts("60m", 3600);
    accepts("59m60s", 3600);
    accepts("3600s", 3600);
    accepts("1h0s", 3600);
}

static void zero_and_over_an_hour(void **state)
{
    (void)state;
    refuses("0s", CLI_DURATION_ZERO);
    refuses("0h0m0s", CLI_DURATION_ZERO);
    refuses("61m", CLI_DURATION_TOO_LONG);
    refuses("2h", CLI_DURATION_TOO_LONG);
    refuses("1h1s", CLI_DURATION_TOO_LONG);
    refuses("3601s", CLI_DURATION_TOO_LONG);
}

static void overflow_is_too_long_not_a_wrap(void **state)
{
    (void)state;
    refuses("99999999999999999999", CLI_DURATION_TOO_LONG);
    refuses("99999999999999999999s", CLI_DURATION_TOO_LONG);
    refuses("4294967296", CLI_DURATION_TOO_LONG);           /* 2^32: would wrap to 0 */
    refuses("4294967297s", CLI_DURATION_TOO_LONG);          /* 2^32 + 1: would wrap to 1 */
    refuses("1193047h", CLI_DURATION_TOO_LONG);             /* * 3600 wraps 32 bits */
    refuses("18446744073709551617", CLI_DURATION_TOO_LONG); /* 2^64 + 1: would wrap to 1 */
    refuses("1147797409030816545h", CLI_DURATION_TOO_LONG); /* * 3600 wraps to 16 */
    refuses("99999999999999999999h99999999999999999999m99999999999999999999s",
            CLI_DURATION_TOO_LONG);
}

static void malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",       "m",    "s",   "h",    "ms",   "hms",   "-5",   "+5",     "1.5m",
        "5 m",    " 5",   "5 ",  "5\n",  "1s1m", "1m1h",  "1s1h", "1m1m",   "1h1h",
        "1s1s",   "1h30", "5M",  "5S",   "1H",   "1d",    "5ms",  "1hm",    "1m30sx",
        "1m 30s", "h5",   "1e3", "0x10", "5min", "1h-1m", "\xff", "1h\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        refuses(bad[i], CLI_DURATION_MALFORMED);
    }
}

static void malformed_wins_over_range(void **state)
{
    (void)state;
    /* The whole text is checked before its value. */
    refuses("0x", CLI_DURATION_MALFORMED);
    refuses("99999999999999999999x", CLI_DURATION_MALFORMED);
    refuses("2h1h", CLI_DURATION_MALFORMED);
}

static void messages(void **state)
{
    (void)state;
    assert_string_equal(cli_duration_strerror(CLI_DURATION_MALFORMED), "is not a duration");
    assert_string_equal(cli_duration_strerror(CLI_DURATION_ZERO), "is zero");
    assert_string_equal(cli_duration_strerror(CLI_DURATION_TOO_LONG), "is more than one hour");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bare_seconds),
        cmocka_unit_test(units_in_order),
        cmocka_unit_test(zero_and_over_an_hour),
        cmocka_unit_test(overflow_is_too_long_not_a_wrap),
        cmocka_unit_test(malformed),
        cmocka_unit_test(malformed_wins_over_range),
        cmocka_unit_test(messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
