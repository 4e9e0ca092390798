#!/bin/bash
# SPDX-License-Identifier: ISC
# The toml-test runner finds its suite through TOML_TEST_DIR or
# ../shared/toml-test; with neither, it reports one skipped case saying how
# to enable it, except under CI, where a missing suite fails.  Run on a
# two-file suite made here, and through scripts/run-tests, whose closing
# line stays `N passed, N failed`.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/../cli/lib.sh"

RUNNER=$(cd "$BUILD" && pwd)/toml-test-runner
export TOML_DECODER
TOML_DECODER=$(cd "$BUILD" && pwd)/toml-decoder

# make_suite DIR: a toml-test layout with one valid and one invalid file.
make_suite()
{
    mkdir -p "$1/tests/valid" "$1/tests/invalid"
    printf '# a comment\nvalid/a.toml\nvalid/a.json\ninvalid/b.toml\n' \
        >"$1/tests/files-toml-1.0.0"
    printf 'key = 1\n' >"$1/tests/valid/a.toml"
    printf '{"key": {"type": "integer", "value": "1"}}\n' >"$1/tests/valid/a.json"
    printf 'key = \n' >"$1/tests/invalid/b.toml"
}

# runner [VAR=VALUE...]: the runner from $T/cwd, where ../shared does not
# exist unless a test makes it; CI and TOML_TEST_DIR unset unless given.
runner()
{
    mkdir -p "$T/cwd"
    run env -C "$T/cwd" -u CI -u TOML_TEST_DIR "$@" "$RUNNER"
}

skipped_without_suite()
{
    runner
    expect_rc 0
    expect_eq "$(wc -l <"$T/out")" 2
    expect_eq "$(head -n 1 "$T/out")" "1..1"
    expect_match "$(tail -n 1 "$T/out")" '^ok 1 .*# SKIP .*set TOML_TEST_DIR to a toml-test checkout'
    expect_eq "$ERR" ""
    runner CI=false
    expect_rc 0
    expect_contains "$OUT" "# SKIP"
}

fails_without_suite_under_ci()
{
    for ci in true 1; do
        runner CI="$ci"
        expect_rc 1
        expect_match "$(tail -n 1 "$T/out")" '^not ok 1 - toml-test suite not found'
        expect_contains "$OUT" "TOML_TEST_DIR"
        expect_not_contains "$OUT" "SKIP"
    done
}

runs_suite_named_by_toml_test_dir()
{
    make_suite "$T/suite"
    for ci in false true; do
        runner CI="$ci" TOML_TEST_DIR="$T/suite"
        expect_rc 0
        expect_contains "$OUT" "ok 1 - valid/a.toml"
        expect_contains "$OUT" "ok 2 - invalid/b.toml"
        expect_contains "$OUT" "# valid 1/1, invalid 1/1"
        expect_not_contains "$OUT" "SKIP"
    done
}

runs_suite_found_in_shared()
{
    make_suite "$T/shared/toml-test"
    runner
    expect_rc 0
    expect_contains "$OUT" "ok 2 - invalid/b.toml"
    expect_contains "$OUT" "# valid 1/1, invalid 1/1"
}

missing_toml_test_dir_fails()
{
    runner TOML_TEST_DIR="$T/nowhere"
    expect_rc 1
    expect_contains "$OUT" "not ok 1 - cannot read the toml-test list $T/nowhere/"
}

wrong_expectation_fails()
{
    make_suite "$T/suite"
    printf '{"key": {"type": "integer", "value": "2"}}\n' >"$T/suite/tests/valid/a.json"
    runner TOML_TEST_DIR="$T/suite"
    expect_rc 1
    expect_contains "$OUT" "not ok 1 - valid/a.toml"
    expect_contains "$OUT" "# valid 0/1, invalid 1/1"
}

# run_tests [VAR=VALUE...]: scripts/run-tests on a build directory whose
# only test is the runner without a suite.
run_tests()
{
    mkdir -p "$T/b" "$T/cwd"
    printf '#!/bin/sh\nexec env -C "%s" -u CI -u TOML_TEST_DIR %s "%s"\n' \
        "$T/cwd" "$*" "$RUNNER" >"$T/runner.sh"
    chmod +x "$T/runner.sh"
    echo "$T/runner.sh" >"$T/b/test-list"
    run "$SRCDIR/scripts/run-tests" "$T/b"
}

run_tests_counts_the_skip()
{
    run_tests
    expect_rc 0
    expect_contains "$OUT" "(0 ok, 1 skipped)"
    expect_match "$(tail -n 2 "$T/out" | head -n 1)" '^1 skipped '
    expect_eq "$(tail -n 1 "$T/out")" "0 passed, 0 failed"
    run_tests CI=true
    expect_rc 1
    expect_contains "$OUT" "FAIL $T/b: $T/runner.sh (0 ok, 1 failed, exit 1)"
    expect_eq "$(tail -n 1 "$T/out")" "0 passed, 1 failed"
}

t "without a suite: one skipped case saying how to enable it" skipped_without_suite
t "without a suite under CI: a failure" fails_without_suite_under_ci
t "TOML_TEST_DIR names the suite" runs_suite_named_by_toml_test_dir
t "../shared/toml-test is found from the working directory" runs_suite_found_in_shared
t "a TOML_TEST_DIR that does not exist fails" missing_toml_test_dir_fails
t "a case that does not match fails the run" wrong_expectation_fails
t "run-tests counts the skip and keeps its closing line" run_tests_counts_the_skip
done_testing
