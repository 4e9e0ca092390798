#!/bin/bash
# SPDX-License-Identifier: ISC
# Run every unit-test binary of the plain build under valgrind memcheck;
# one TAP line per binary.  ASan builds can't run under valgrind: skipped.
set -u
BUILD=${BUILD:-build}
if [[ "$BUILD" == *asan* ]]; then
    echo "ok 1 - valgrind # SKIP not with ASan"
    exit 0
fi
n=0
status=0
for src in tests/unit/test_*.c; do
    test="$BUILD/tests/$(basename "$src" .c)"
    [ -x "$test" ] || continue
    n=$((n + 1))
    log="$BUILD/logs/valgrind-$(basename "$test").log"
    mkdir -p "$BUILD/logs"
    if CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --track-fds=no "$test" >"$log" 2>&1; then
        echo "ok $n - valgrind $(basename "$test")"
    else
        echo "not ok $n - valgrind $(basename "$test") (see $log)"
        grep -E '==[0-9]+==' "$log" | head -20 | sed 's/^/# /'
        status=1
    fi
done
exit $status
