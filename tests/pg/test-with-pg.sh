#!/bin/bash
# SPDX-License-Identifier: ISC
# The throwaway PostgreSQL server of tests/pg/with-pg: what a test under
# it sees, and that the server and its directory are gone afterwards,
# whether the test passed, failed or was killed.
. "$(dirname "$0")/../cli/lib.sh"
if [[ "$BUILD" == *asan* ]]; then
    echo "ok 1 - with-pg # SKIP the same script as in the plain build"
    exit 0
fi
WITH_PG=$SRCDIR/tests/pg/with-pg
PSQL=/usr/lib/postgresql/15/bin/psql

# Under with-pg: note the data directory and the server's pid in $T.
note_server()
{
    echo "$PAIRTOK_TEST_PGDATA" >"$T/data"
    head -n 1 "$PAIRTOK_TEST_PGDATA/postmaster.pid" >"$T/pid"
}
export -f note_server

assert_gone()
{
    local data pid
    data=$(cat "$T/data")
    pid=$(cat "$T/pid")
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null
    [ ! -e "$(dirname "$data")" ]
}

test_status_passes_through()
{
    export T
    rc=0
    "$WITH_PG" bash -c 'note_server; exit 7' || rc=$?
    [ "$rc" -eq 7 ]
    assert_gone
}

test_a_killed_harness_stops_the_server()
{
    export T
    "$WITH_PG" bash -c 'note_server; exec sleep 60' &
    harness=$!
    for _ in $(seq 100); do
        [ -s "$T/pid" ] && break
        sleep 0.1
    done
    kill -TERM "$harness"
    rc=0
    wait "$harness" || rc=$?
    [ "$rc" -eq 143 ]
    assert_gone
}

test_the_test_sees_its_server()
{
    "$WITH_PG" bash -c '
        set -e
        [ "$("$0" -XAtc "SHOW listen_addresses" "$PAIRTOK_TEST_PG")" = "" ]
        [ "$("$0" -XAtc "SELECT current_user" "$PAIRTOK_TEST_PG")" = postgres ]
        case "$PAIRTOK_TEST_PG" in postgresql://*host=$PAIRTOK_TEST_PGHOST*) ;; *) exit 1 ;; esac
        [ -z "${PGSERVICE:-}" ] && [ -z "${PGPASSWORD:-}" ]
        # The password role needs its password; the other cannot create.
        ! "$0" -Xw -U "$PAIRTOK_TEST_PG_PW_USER" -c "SELECT 1" >/dev/null 2>&1
        PGPASSWORD=$PAIRTOK_TEST_PG_PW_PASS "$0" -X -U "$PAIRTOK_TEST_PG_PW_USER" \
            -c "SELECT 1" >/dev/null
        ! "$0" -X -U "$PAIRTOK_TEST_PG_NOCREATE_USER" -c "CREATE TABLE x (i int)" \
            >/dev/null 2>&1
    ' "$PSQL"
}

test_the_server_restarts()
{
    "$WITH_PG" bash -c '
        set -e
        before=$(head -n 1 "$PAIRTOK_TEST_PGDATA/postmaster.pid")
        "$1/tests/pg/pg-ctl" restart
        after=$(head -n 1 "$PAIRTOK_TEST_PGDATA/postmaster.pid")
        [ "$before" != "$after" ]
        "$0" -XAtc "SELECT 1" "$PAIRTOK_TEST_PG" >/dev/null
        "$1/tests/pg/pg-ctl" crash
        ! "$0" -XAtc "SELECT 1" "$PAIRTOK_TEST_PG" >/dev/null 2>&1
        "$1/tests/pg/pg-ctl" start
        "$0" -XAtc "SELECT 1" "$PAIRTOK_TEST_PG" >/dev/null
    ' "$PSQL" "$SRCDIR"
}

t "with-pg exits with the command's status, and cleans up" test_status_passes_through
t "with-pg killed by a signal stops the server and cleans up" test_a_killed_harness_stops_the_server
t "the command sees its own server, socket only, and the test roles" test_the_test_sees_its_server
t "pg-ctl restarts, crashes and starts the server" test_the_server_restarts
done_testing
