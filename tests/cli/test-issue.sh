#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: pairtok issue - output, JSON, lifetimes, QR, refusals.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

TOKEN_RE='^[A-Za-z0-9_-]{32}$'

plain()
{
    run pt issue alice
    expect_rc 0
    expect_match "$OUT" "$TOKEN_RE"
    expect_eq "$(wc -l <"$T/out")" 1 "one line"
    expect_eq "$ERR" "" "no context when stderr is not a terminal"
    expect_eq "$(stat -c %a "$H/etc")" 700 "directory mode"
    expect_eq "$(stat -c %a "$(store_path)")" 600 "store mode"
    # Only the hash is stored.
    if grep -q -- "$OUT" "$(store_path)"; then fail "raw token in the store"; fi
    grep -q "$(sha256 "$OUT")" "$(store_path)" || fail "hash not in the store"
    # Captured the way the help says.
    local tok
    tok=$(pt issue alice)
    expect_match "$tok" "$TOKEN_RE"
    [ "$tok" != "$OUT" ] || fail "two tokens are equal"
}

json()
{
    local before after
    before=$(now)
    run pt issue alice --json
    after=$(now)
    expect_rc 0
    expect_eq "$(jq_out -t .)" object
    expect_eq "$(jq_out .)" "{token,id,principal,label,issued_at_epoch,expires_at_epoch}"
    local token id issued expires
    token=$(jq_out token)
    id=$(jq_out id)
    issued=$(jq_out issued_at_epoch)
    expires=$(jq_out expires_at_epoch)
    expect_match "$token" "$TOKEN_RE"
    expect_eq "$id" "$(sha256 "$token" | cut -c1-12)" "id is the hash prefix"
    expect_eq "$(jq_out principal)" alice
    expect_eq "$(jq_out -t label)" null
    expect_eq "$(jq_out -t issued_at_epoch)" integer
    expect_eq "$(jq_out -t expires_at_epoch)" integer
    if [ "$issued" -lt "$before" ] || [ "$issued" -gt "$after" ]; then
        fail "issued_at $issued not in [$before, $after]"
    fi
    expect_eq "$((expires - issued))" 300 "default lifetime"
    # The token works.
    run pt redeem "$token"
    expect_rc 0
    expect_eq "$OUT" alice
}

label_and_ttl()
{
    run pt issue alice --label "alice's phone ☎" --ttl 60 --json
    expect_rc 0
    expect_eq "$(jq_out label)" "alice's phone ☎"
    expect_eq "$(($(jq_out expires_at_epoch) - $(jq_out issued_at_epoch)))" 60
    # JSON output is ASCII only.
    if LC_ALL=C grep -q '[^ -~]' "$T/out"; then fail "non-ASCII JSON"; fi
    # Options before the operand, and --opt=value.
    run pt issue --ttl=3600 --label= bob --json
    expect_rc 0
    expect_eq "$(jq_out principal)" bob
    expect_eq "$(jq_out label)" ""
    expect_eq "$(($(jq_out expires_at_epoch) - $(jq_out issued_at_epoch)))" 3600
    run pt issue --ttl 1 carol
    expect_rc 0
}

# issue --ttl VALUE --json: the lifetime it gave the token, in seconds.
lifetime_of()
{
    run pt issue alice --ttl "$1" --json
    expect_rc 0
    echo $(($(jq_out expires_at_epoch) - $(jq_out issued_at_epoch)))
}

durations()
{
    local spec
    for spec in 1:1 300:300 3600:3600 0300:300 90s:90 5m:300 1h:3600 1m30s:90 1h0m0s:3600 \
        0h5m:300 60m:3600 3600s:3600 59m60s:3600 1m0s:60 00001s:1; do
        expect_eq "$(lifetime_of "${spec%%:*}")" "${spec#*:}" "--ttl ${spec%%:*}"
    done
    run pt issue alice --ttl=2m30s --json
    expect_rc 0
    expect_eq "$(($(jq_out expires_at_epoch) - $(jq_out issued_at_epoch)))" 150
}

bad_ttl()
{
    local forms="give 1 to 3600 seconds, or h, m and s in that order: 300, 90s, 5m, 1m30s, 1h"
    local bad
    for bad in 0 0s 0h0m0s 00; do
        run pt issue alice --ttl "$bad"
        expect_rc 2
        expect_eq "$ERR" "pairtok: issue: --ttl: '$bad' is zero; $forms
Try 'pairtok issue --help'."
    done
    for bad in 3601 61m 2h 1h1s 59m61s 4294967296 4294967297s 1193047h 99999h; do
        run pt issue alice --ttl "$bad"
        expect_rc 2
        expect_contains "$ERR" "pairtok: issue: --ttl: '$bad' is more than one hour; $forms"
    done
    # A long run of digits could be a token pasted in the wrong place.
    for bad in 99999999999999999999 99999999999999999999s 1h99999999999999999999s \
        9999999999h9999999999m 18446744073709551617 1147797409030816545h; do
        run pt issue alice --ttl "$bad"
        expect_rc 2
        expect_contains "$ERR" "pairtok: issue: --ttl: '(not shown)' is more than one hour; $forms"
    done
    for bad in abc -5 "" " 60" "60 " 1e3 0x10 1.5m "5 m" m s 1s1m 1m1m 1h1h 1h30 5M 1d \
        +5 5ms 1hm 1m30sx "1m 30s" $'5\n' h5 ms; do
        run pt issue alice --ttl "$bad"
        expect_rc 2
        expect_contains "$ERR" "pairtok: issue: --ttl: '"
        expect_contains "$ERR" "' is not a duration; $forms"
    done
    [ ! -e "$(store_path)" ] || fail "a refused issue wrote the store"
}

bad_principal()
{
    for bad in "bad name" anonymous "" "$(printf 'a%.0s' {1..65})" "al/ice" "é"; do
        run pt issue "$bad"
        expect_rc 2
        expect_match "$ERR" "^pairtok: issue: "
    done
    run pt issue alice --label "$(printf 'a\nb')"
    expect_rc 2
    run pt issue alice --label "$(printf 'a\033[31m')"
    expect_rc 2
    run pt issue alice --label "$(head -c 4097 /dev/zero | tr '\0' x)"
    expect_rc 2
    [ ! -e "$(store_path)" ] || fail "a refused issue wrote the store"
    # A principal may begin with '-' after `--`.
    run pt issue -- -dash
    expect_rc 0
    run pt issue -dash
    expect_rc 2
}

qr()
{
    run pt issue alice --qr
    expect_rc 0
    expect_match "$OUT" "$TOKEN_RE"
    expect_eq "$(wc -l <"$T/out")" 1 "stdout is just the token"
    # Not a terminal: plain half blocks, no escape sequences.
    if grep -q $'\033' "$T/err"; then fail "escape sequences in a non-terminal QR"; fi
    # 32 bytes at level M is version 3 (29 modules; version 2 if the token
    # happens to pack well) plus a 4-module quiet zone on each side; two
    # modules per line.
    local LC_ALL=C.UTF-8 width line
    local -a rows
    mapfile -t rows <"$T/err"
    width=${#rows[0]}
    expect_match "$width" '^(33|37)$'
    for line in "${rows[@]}"; do
        expect_eq "${#line}" "$width" "every row as wide"
    done
    expect_eq "${#rows[@]}" $(((width + 1) / 2)) "rows of half blocks"
    # The top quiet zone is all light, drawn as full blocks.
    local light
    light=$(printf '█%.0s' $(seq "$width"))
    expect_eq "$(sed -n 1p "$T/err")" "$light"
    expect_eq "$(sed -n 2p "$T/err")" "$light"
    # Only half blocks and spaces.
    if grep -q '[^█▀▄ ]' "$T/err"; then fail "unexpected characters"; fi
    # The token still captures cleanly.
    local tok
    tok=$(pt issue alice --qr 2>/dev/null)
    expect_match "$tok" "$TOKEN_RE"
    run pt issue alice --json --qr
    expect_rc 0
    expect_match "$(jq_out token)" "$TOKEN_RE"
}

undelivered()
{
    # stdout cannot be written: the token must not stay redeemable.
    RC=0
    pt issue alice >/dev/full 2>"$T/err" || RC=$?
    ERR=$(cat "$T/err")
    expect_rc 3
    expect_contains "$ERR" "cannot write the token"
    expect_contains "$ERR" "revoked"
    run pt list --json
    expect_eq "$(jq_out .)" "[0]"
}

closed_stdout()
{
    # Started with stdout closed, the token must not land in a store file:
    # descriptors 0-2 are reopened on /dev/null before anything else is
    # opened, so the token goes there and the issue succeeds.
    RC=0
    pt issue alice >&- 2>"$T/err" || RC=$?
    expect_rc 0
    expect_eq "$(cat "$T/err")" ""
    pt list --json >"$T/out"
    expect_eq "$(jq_out .)" "[1]"
    for f in "$H"/etc/*; do
        if grep -qE '^[A-Za-z0-9_-]{32}$' "$f"; then fail "token written to $f"; fi
    done
}

limit()
{
    for _ in $(seq 16); do
        pt issue alice >/dev/null
    done
    run pt issue alice
    expect_rc 3
    expect_match "$ERR" "^pairtok: issue: "
    run pt issue bob
    expect_rc 0
}

t "issue prints only the token; store 0600 in a 0700 dir" plain
t "issue --json has the documented shape" json
t "issue --label, --ttl, options in any order" label_and_ttl
t "issue --ttl takes seconds and h/m/s durations (90s, 5m, 1h, 1m30s)" durations
t "issue refuses bad lifetimes (exit 2) and shows the accepted forms" bad_ttl
t "issue refuses bad principals and labels (exit 2)" bad_principal
t "issue --qr draws on stderr, token alone on stdout" qr
t "issue revokes a token it could not write out" undelivered
t "issue with stdout closed leaks nothing" closed_stdout
t "issue past the per-principal cap exits 3" limit
done_testing
