#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: store problems (exit 3) and pairtok check.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

group_readable()
{
    pt issue alice >/dev/null
    chmod 640 "$(store_path)"
    for cmd in list prune "issue bob" "revoke --principal alice"; do
        # shellcheck disable=SC2086 # split the command on purpose
        run pt $cmd
        expect_rc 3
        expect_contains "$ERR" "chmod 600 $(store_path)"
    done
    expect_eq "$(stat -c %a "$(store_path)")" 640 "the tool does not fix it itself"
}

unsafe_directory()
{
    pt issue alice >/dev/null
    chmod 777 "$H/etc"
    run pt list
    expect_rc 3
    expect_contains "$ERR" "chmod go-w"
    run pt issue bob
    expect_rc 3
    chmod 700 "$H/etc"
    run pt list
    expect_rc 0
}

symlinked_store()
{
    pt issue alice >/dev/null
    mv "$(store_path)" "$T/real.toml"
    ln -s "$T/real.toml" "$(store_path)"
    run pt list
    expect_rc 3
    expect_match "$ERR" "^pairtok: list: "
}

corrupt()
{
    printf '[[pair_token]]\nprincipal = \n' | write_store
    run pt list
    expect_rc 3
    expect_match "$ERR" "^pairtok: list: .*pair-tokens.toml:2:[0-9]+"
    run pt redeem "$(random_token)"
    expect_rc 3
    printf '[[pair_token]]\nprincipal = "alice"\n' | write_store
    run pt list
    expect_rc 3
    expect_match "$ERR" "pair-tokens.toml:[0-9]+:[0-9]+"
}

bad_field()
{
    local n
    n=$(now)
    record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 "bad name" "$n" $((n + 300)) | write_store
    run pt list
    expect_rc 3
    expect_match "$ERR" "pair-tokens.toml:[0-9]+:[0-9]+: .*principal"
}

schema()
{
    local n
    n=$(now)
    {
        echo "schema_version = 2"
        echo
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 alice "$n" $((n + 300))
    } | write_store
    cp "$(store_path)" "$T/before"
    run pt list
    expect_rc 3
    run pt issue bob
    expect_rc 3
    cmp -s "$(store_path)" "$T/before" || fail "store changed"
}

check_healthy()
{
    run pt check
    expect_rc 0
    expect_eq "$OUT" ok "missing store"
    [ -z "$(ls -A "$H")" ] || fail "check created files"
    pt issue alice >/dev/null
    run pt check
    expect_rc 0
    expect_eq "$OUT" ok
    expect_eq "$ERR" ""
}

check_problems()
{
    local n
    n=$(now)
    {
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 alice "$n" $((n + 7200))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2 bob "$n" $((n + 300))
    } | write_store
    cp "$(store_path)" "$T/before"
    run pt check
    expect_rc 3
    expect_eq "$OUT" "1 problem found"
    expect_match "$ERR" "^pairtok: check: .*pair-tokens.toml:[0-9]+:[0-9]+: .*cap"
    cmp -s "$(store_path)" "$T/before" || fail "check changed the store"
    chmod 644 "$(store_path)"
    run pt check
    expect_rc 3
    expect_contains "$ERR" "chmod 600"
    expect_match "$OUT" "^[0-9]+ problems? found$"
}

check_corrupt()
{
    printf 'this is not toml\n' | write_store
    run pt check
    expect_rc 3
    expect_match "$ERR" "pair-tokens.toml:1:[0-9]+"
}

unknown_keys_kept()
{
    local n tok=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2
    n=$(now)
    {
        echo 'note = "from a newer writer"'
        echo
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 alice "$n" $((n + 300))
        echo 'device_hint = "keep me"'
        echo
        record "$tok" bob "$n" $((n + 300))
    } | write_store
    run pt redeem "$tok"
    expect_rc 0
    grep -q 'from a newer writer' "$(store_path)" || fail "top-level key dropped"
    grep -q 'keep me' "$(store_path)" || fail "record key dropped"
    expect_eq "$(stat -c %a "$(store_path)")" 600
}

t "a group-readable store exits 3 with a chmod hint" group_readable
t "a group-writable directory exits 3" unsafe_directory
t "a symlinked store exits 3" symlinked_store
t "a corrupt store exits 3 with line:col" corrupt
t "a bad field exits 3 naming it" bad_field
t "an unknown schema_version exits 3, store untouched" schema
t "check: a missing or fresh store is ok (exit 0)" check_healthy
t "check reports problems and exits 3" check_problems
t "check on a corrupt store exits 3 with line:col" check_corrupt
t "unknown keys survive a rewrite" unknown_keys_kept
done_testing
