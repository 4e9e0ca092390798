#!/bin/bash
# SPDX-License-Identifier: ISC
# The unit tests that hold for every backend, on PostgreSQL: each binary
# runs with PAIRTOK_TEST_BACKEND=pg, so its fixtures (tu_location, the
# SHARED tests of tu_run_group) take a schema of their own on the
# throwaway server of tests/pg/with-pg, which this script starts for
# itself when it has none.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
if [ -z "${PAIRTOK_TEST_PG:-}" ]; then
    exec tests/pg/with-pg "$0" "$@"
fi
export PAIRTOK_TEST_BACKEND=pg CMOCKA_MESSAGE_OUTPUT=TAP
rc=0
for t in test_store test_store_safety test_audit; do
    "$BUILD/tests/$t" || rc=1
done
exit "$rc"
