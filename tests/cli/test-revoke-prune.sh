#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: pairtok revoke and pairtok prune.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

by_id()
{
    local a b id
    a=$(pt issue alice)
    b=$(pt issue bob)
    id=$(sha256 "$a" | cut -c1-12)
    run pt revoke "$id"
    expect_rc 0
    expect_eq "$OUT" "revoked 1 token"
    run pt redeem "$a"
    expect_rc 1
    # The shortest prefix, in upper case too.
    id=$(sha256 "$b" | cut -c1-8)
    run pt revoke "${id^^}"
    expect_rc 0
    expect_eq "$OUT" "revoked 1 token"
    run pt list --json
    expect_eq "$(jq_out .)" "[0]"
}

ambiguous()
{
    # Two hand-made hashes that share their first 12 hex digits.
    local n p=0123456789ab
    n=$(now)
    write_store <<TOML
[[pair_token]]
token_hash = "${p}$(printf '0%.0s' {1..52})"
principal = "alice"
issued_at_epoch = $n
expires_at_epoch = $((n + 300))

[[pair_token]]
token_hash = "${p}$(printf '1%.0s' {1..52})"
principal = "bob"
issued_at_epoch = $n
expires_at_epoch = $((n + 300))
TOML
    run pt revoke 01234567
    expect_rc 2
    expect_contains "$ERR" "pairtok: revoke: "
    expect_contains "$ERR" "2 tokens"
    run pt list --json
    expect_eq "$(jq_out .)" "[2]" "nothing deleted"
    run pt revoke "${p}0"
    expect_rc 0
    expect_eq "$OUT" "revoked 1 token"
}

unknown_id()
{
    pt issue alice >/dev/null
    run pt revoke deadbeefdead
    expect_rc 2
    expect_contains "$ERR" "pairtok: revoke: no token has id deadbeefdead"
    # Against a store that does not exist.
    run "$PAIRTOK" --home "$T/none" revoke deadbeef
    expect_rc 2
    [ ! -e "$T/none" ] || fail "revoke created a store"
    for bad in abc 0123456 xyzxyzxyz "01234567 "; do
        run pt revoke "$bad"
        expect_rc 2
    done
    run pt list --json
    expect_eq "$(jq_out .)" "[1]"
}

by_principal()
{
    pt issue alice >/dev/null
    pt issue alice >/dev/null
    pt issue bob >/dev/null
    run pt revoke --principal alice
    expect_rc 0
    expect_eq "$OUT" "revoked 2 tokens"
    run pt list --json
    expect_eq "$(jq_out .)" "[1]"
    expect_eq "$(jq_out 0.principal)" bob
    run pt revoke --principal nobody
    expect_rc 0
    expect_eq "$OUT" "revoked 0 tokens"
    run pt revoke --principal "bad name"
    expect_rc 2
}

usage()
{
    run pt revoke
    expect_rc 2
    run pt revoke deadbeef --principal alice
    expect_rc 2
    run pt revoke deadbeef cafebabe
    expect_rc 2
}

prune()
{
    local n
    n=$(now)
    {
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 alice $((n - 600)) $((n - 300))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2 bob $((n - 400)) $((n - 1))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA3 carol "$n" $((n + 300))
    } | write_store
    run pt prune
    expect_rc 0
    expect_eq "$OUT" "pruned 2 expired tokens"
    run pt list --json
    expect_eq "$(jq_out .)" "[1]"
    expect_eq "$(jq_out 0.principal)" carol
    grep -q carol "$(store_path)" || fail "live token pruned"
    if grep -q alice "$(store_path)"; then fail "expired token kept"; fi
    run pt prune
    expect_rc 0
    expect_eq "$OUT" "pruned 0 expired tokens"
    # A missing store has nothing to prune, and stays missing.
    run "$PAIRTOK" --home "$T/none" prune
    expect_rc 0
    expect_eq "$OUT" "pruned 0 expired tokens"
    [ ! -e "$T/none" ] || fail "prune created a store"
    run pt prune extra
    expect_rc 2
}

prune_one()
{
    # Written by hand rather than waited for: it expires exactly now.
    local now
    now=$(now)
    write_store <<TOML
[[pair_token]]
token_hash = "$(sha256 "$(random_token)")"
principal = "alice"
expires_at_epoch = $now
issued_at_epoch = $((now - 60))
TOML
    run pt prune
    expect_eq "$OUT" "pruned 1 expired token"
}

t "revoke ID by full id or 8-digit prefix" by_id
t "revoke of an ambiguous prefix exits 2 with the count" ambiguous
t "revoke of an unknown or malformed id exits 2" unknown_id
t "revoke --principal removes all of a principal's tokens" by_principal
t "revoke needs exactly one of ID and --principal" usage
t "prune removes expired tokens and prints the count" prune
t "prune counts a token that just expired" prune_one
done_testing
