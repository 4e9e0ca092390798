#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests on PostgreSQL: every command on a database store, exit
# statuses included; the password masked; an unreachable server, a wrong
# password, a malformed URI and a schema that cannot be created.  Each test
# has a schema of its own on the throwaway server of tests/pg/with-pg,
# which this script starts for itself when it has none.
# shellcheck disable=SC2317 # test functions are called through t()
cd "$(dirname "$0")/../.." || exit 2
if [ -z "${PAIRTOK_TEST_PG:-}" ]; then
    exec tests/pg/with-pg "$0" "$@"
fi
# shellcheck source=tests/cli/lib.sh
. tests/cli/lib.sh

# A fresh schema for the test; URI is the store's location on it.
new_schema()
{
    SCHEMA=t_cli_$$_$tap_n
    psql -qX -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" \
        >/dev/null 2>&1 || fail "cannot create schema $SCHEMA"
    URI="$PAIRTOK_TEST_PG&options=-csearch_path%3D$SCHEMA"
}

ptd()
{
    "$PAIRTOK" --store "$URI" "$@"
}

every_command()
{
    local a b id
    new_schema
    run ptd init
    expect_rc 0
    expect_contains "$OUT" "initialised postgresql://"
    a=$(ptd issue alice --label "alice's phone" --ttl 2m)
    expect_match "$a" '^[A-Za-z0-9_-]{32}$'
    b=$(PAIRTOK_STORE=$URI "$PAIRTOK" issue bob)
    run ptd list --json
    expect_eq "$(jq_out .)" "[2]"
    run ptd redeem --json <<<"$a"
    expect_rc 0
    expect_eq "$(jq_out principal)" alice
    run ptd redeem "$a"
    expect_rc 1
    expect_eq "$ERR" "pairtok: redeem: pair token invalid or expired"
    id=$(sha256 "$b" | cut -c1-12)
    run ptd revoke "$id"
    expect_rc 0
    expect_eq "$OUT" "revoked 1 token"
    run ptd revoke 0123456789ab
    expect_rc 2
    run ptd prune
    expect_rc 0
    run ptd check
    expect_rc 0
    expect_eq "$OUT" "ok"
    run ptd list --principal bob --json
    expect_eq "$(jq_out .)" "[0]"
}

caps_and_check()
{
    local i
    new_schema
    for i in $(seq 1 16); do ptd issue carol >/dev/null; done
    run ptd issue carol
    expect_rc 3
    expect_contains "$ERR" "per-principal cap (16)"
    # A stuck reservation and a record from the future, written by hand.
    psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO $SCHEMA.pairtok_token (token_hash, principal, issued_at, expires_at)
VALUES (repeat('a', 64), 'dave', now() + interval '1 day', now() + interval '1 day 5 minutes');
UPDATE $SCHEMA.pairtok_token SET reserved_by = '\x00112233445566778899aabbccddeeff',
    reserved_at = now() WHERE principal = 'carol' AND token_hash IN
    (SELECT token_hash FROM $SCHEMA.pairtok_token WHERE principal = 'carol' LIMIT 1);
SQL
    run ptd check
    expect_rc 3
    expect_contains "$ERR" "future"
    expect_contains "$ERR" "reserv"
}

path_masks_the_password()
{
    run "$PAIRTOK" --store 'postgresql://alice:s3cr3t@db.example/astrid?sslmode=verify-full' path
    expect_rc 0
    expect_eq "$OUT" 'postgresql://alice:****@db.example/astrid?sslmode=verify-full'
    run "$PAIRTOK" --store 'postgres:///astrid?host=/nowhere&password=hunter2' path
    expect_eq "$OUT" 'postgres:///astrid?host=/nowhere&password=****'
}

unreachable_server()
{
    run "$PAIRTOK" --store "postgresql:///pairtok?host=$T&password=hunter2" issue alice
    expect_rc 3
    expect_contains "$ERR" "cannot connect"
    expect_not_contains "$ERR" hunter2
    expect_eq "$OUT" ""
    run "$PAIRTOK" --store "postgresql:///pairtok?host=$T" list
    expect_rc 3
}

wrong_password()
{
    new_schema
    run env PGPASSWORD=not-the-password "$PAIRTOK" \
        --store "postgresql:///pairtok?host=$PAIRTOK_TEST_PGHOST&user=$PAIRTOK_TEST_PG_PW_USER" list
    expect_rc 3
    expect_contains "$ERR" "authentication"
    expect_not_contains "$ERR" not-the-password
    run "$PAIRTOK" --store "postgresql://$PAIRTOK_TEST_PG_PW_USER:WrongPass@/pairtok?host=$PAIRTOK_TEST_PGHOST" \
        issue alice
    expect_rc 3
    expect_not_contains "$ERR" WrongPass
}

malformed_uri()
{
    run "$PAIRTOK" --store 'postgresql://[::1' list
    expect_rc 2
    run "$PAIRTOK" --store 'postgresql:///db?nosuchoption=1' list
    expect_rc 2
}

schema_that_cannot_be_created()
{
    new_schema
    run "$PAIRTOK" --store "postgresql:///pairtok?host=$PAIRTOK_TEST_PGHOST&user=$PAIRTOK_TEST_PG_NOCREATE_USER&options=-csearch_path%3D$SCHEMA" \
        issue alice
    expect_rc 3
    expect_contains "$ERR" "pairtok init"
    # A read on the missing schema is an empty store, not an error.
    run "$PAIRTOK" --store "postgresql:///pairtok?host=$PAIRTOK_TEST_PGHOST&user=$PAIRTOK_TEST_PG_NOCREATE_USER&options=-csearch_path%3D$SCHEMA" \
        list --json
    expect_rc 0
    expect_eq "$(jq_out .)" "[0]"
}

audit_on_a_database()
{
    local a
    new_schema
    a=$(ptd --audit-log "$T/audit.log" issue erin)
    ptd --audit-log "$T/audit.log" redeem "$a" >/dev/null
    ptd --audit-log "$T/audit.log" redeem "$a" >/dev/null 2>&1 || true
    expect_eq "$(wc -l <"$T/audit.log")" 3
    expect_eq "$(sed -n 2p "$T/audit.log" | "$JSONQ" event)" redeem
    expect_eq "$(sed -n 3p "$T/audit.log" | "$JSONQ" event)" redeem_refused
    if grep -qF "$a" "$T/audit.log"; then fail "a raw token is in the log"; fi
}

t "every command on a database, exit statuses included" every_command
t "caps, and check of hand-written rows" caps_and_check
t "path masks a password in the URI" path_masks_the_password
t "an unreachable server: exit 3, libpq's reason, no password" unreachable_server
t "a wrong password: exit 3, never shown" wrong_password
t "a malformed URI: exit 2" malformed_uri
t "no schema and no right to create it: the message names pairtok init" schema_that_cannot_be_created
t "audit events on a database" audit_on_a_database
done_testing
