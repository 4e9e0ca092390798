#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: where the store is (--store, --home, PAIRTOK_STORE), `path`,
# `init`, and `check` on records issued in the future.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

pairtok_store_env()
{
    run env PAIRTOK_STORE="$T/env.toml" "$PAIRTOK" path
    expect_eq "$OUT" "$T/env.toml"
    # --home and --store win over the environment.
    run env PAIRTOK_STORE="$T/env.toml" "$PAIRTOK" --home "$H" path
    expect_eq "$OUT" "$(store_path)"
    run env PAIRTOK_STORE="$T/env.toml" "$PAIRTOK" --store "$T/s.toml" path
    expect_eq "$OUT" "$T/s.toml"
    env PAIRTOK_STORE="$T/env.toml" "$PAIRTOK" issue alice >/dev/null
    [ -f "$T/env.toml" ] || fail "PAIRTOK_STORE was not used"
    run env PAIRTOK_STORE= ASTRID_HOME="$H" "$PAIRTOK" path
    expect_eq "$OUT" "$(store_path)" "an empty PAIRTOK_STORE is unset"
}

init_creates_an_empty_store()
{
    run pt init
    expect_rc 0
    expect_eq "$OUT" "initialised $(store_path)"
    expect_eq "$(stat -c %a "$H/etc")" 700
    expect_eq "$(stat -c %a "$(store_path)")" 600
    expect_eq "$(stat -c %s "$(store_path)")" 0
    # Again, on a store with a token: nothing changes.
    pt issue alice >/dev/null
    cp "$(store_path)" "$T/before"
    run pt init
    expect_rc 0
    cmp -s "$(store_path)" "$T/before" || fail "init changed a store"
}

init_refuses_a_broken_store()
{
    write_store <<<'pair_token = 1'
    cp "$(store_path)" "$T/before"
    run pt init
    expect_rc 3
    expect_contains "$ERR" "pair-tokens.toml:1:"
    cmp -s "$(store_path)" "$T/before" || fail "init changed a broken store"
}

check_reports_records_from_the_future()
{
    local n tok
    n=$(now)
    tok=$(random_token)
    record "$tok" alice $((n + 31536000)) $((n + 31536000 + 3600)) | write_store
    run pt check
    expect_rc 3
    expect_contains "$ERR" "in the future"
    run pt redeem "$tok"
    expect_rc 1
}

t "PAIRTOK_STORE names the store when --store and --home do not" pairtok_store_env
t "init creates the directory and an empty 0600 store, and keeps one" init_creates_an_empty_store
t "init on a broken store: exit 3, unchanged" init_refuses_a_broken_store
t "check: a record issued a year ahead is a problem, never redeemable" \
    check_reports_records_from_the_future
done_testing
