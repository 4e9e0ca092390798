#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: pairtok list - table, JSON, filter, order, label escaping.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

empty()
{
    run pt list
    expect_rc 0
    expect_eq "$OUT" "no outstanding pair tokens"
    run pt list --json
    expect_rc 0
    expect_eq "$(jq_out -t .)" array
    expect_eq "$(jq_out .)" "[0]"
    [ -z "$(ls -A "$H")" ] || fail "list created files"
}

table()
{
    local a b
    a=$(pt issue alice --label "alice's phone" --ttl 600)
    b=$(pt issue bob --ttl 120)
    run pt list
    expect_rc 0
    expect_eq "$(wc -l <"$T/out")" 3 "header and two rows"
    expect_match "$(sed -n 1p "$T/out")" "^ID +PRINCIPAL +LABEL +ISSUED \(UTC\) +EXPIRES IN$"
    # Soonest to expire first.
    local row1 row2
    row1=$(sed -n 2p "$T/out")
    row2=$(sed -n 3p "$T/out")
    expect_match "$row1" "^$(sha256 "$b" | cut -c1-12) +bob +- +"
    expect_match "$row2" "^$(sha256 "$a" | cut -c1-12) +alice +alice's phone +"
    # Within 30 s of the issue: a slow disk must not fail the test.
    expect_match "$row1" " (1m [3-5][0-9]s|2m 0s)$"
    expect_match "$row2" " (9m [3-5][0-9]s|10m 0s)$"
    # Issued in UTC ISO-8601.
    run pt list --json
    local issued
    issued=$(jq_out 1.issued_at_epoch)
    expect_contains "$row2" "$(date -u -d "@$issued" +%Y-%m-%dT%H:%M:%SZ)"
    # The table never shows a token.
    run pt list
    expect_not_contains "$OUT" "$a"
    expect_not_contains "$OUT" "$b"
}

json()
{
    local a
    a=$(pt issue alice --label "phone" --ttl 600)
    pt issue bob --ttl 60 >/dev/null
    run pt list --json
    expect_rc 0
    expect_eq "$(jq_out .)" "[2]"
    for i in 0 1; do
        expect_eq "$(jq_out "$i")" "{id,principal,label,issued_at_epoch,expires_at_epoch}"
        expect_eq "$(jq_out -t "$i.issued_at_epoch")" integer
        expect_eq "$(jq_out -t "$i.expires_at_epoch")" integer
    done
    expect_eq "$(jq_out 0.principal)" bob
    expect_eq "$(jq_out -t 0.label)" null
    expect_eq "$(jq_out 1.principal)" alice
    expect_eq "$(jq_out 1.label)" phone
    expect_eq "$(jq_out 1.id)" "$(sha256 "$a" | cut -c1-12)"
}

filter()
{
    pt issue alice >/dev/null
    pt issue alice >/dev/null
    pt issue bob >/dev/null
    run pt list --principal alice --json
    expect_rc 0
    expect_eq "$(jq_out .)" "[2]"
    expect_eq "$(jq_out 0.principal)" alice
    expect_eq "$(jq_out 1.principal)" alice
    run pt list --json --principal=bob
    expect_eq "$(jq_out .)" "[1]"
    run pt list --principal nobody
    expect_rc 0
    expect_eq "$OUT" "no outstanding pair tokens"
    run pt list --principal "bad name"
    expect_rc 2
}

# A filter takes every well-formed principal: only issue refuses the
# reserved name, and a hand-written store may hold tokens for it.
filter_any_well_formed()
{
    local n long
    n=$(now)
    long=$(printf 'a%.0s' {1..64})
    {
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 anonymous "$n" $((n + 300))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2 alice "$n" $((n + 300))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA3 "$long" "$n" $((n + 300))
    } | write_store
    run pt list --principal anonymous --json
    expect_rc 0
    expect_eq "$ERR" ""
    expect_eq "$(jq_out .)" "[1]"
    expect_eq "$(jq_out 0.principal)" anonymous
    run pt list --principal "$long" --json
    expect_rc 0
    expect_eq "$(jq_out .)" "[1]"
    for bad in "${long}a" "" "bad name" "al/ice" "é"; do
        run pt list --principal "$bad"
        expect_rc 2
        expect_contains "$ERR" "pairtok: list: --principal: not a valid principal"
        run pt revoke --principal "$bad"
        expect_rc 2
        expect_contains "$ERR" "pairtok: revoke: --principal: not a valid principal"
    done
    run pt revoke --principal anonymous
    expect_rc 0
    expect_eq "$OUT" "revoked 1 token"
    run pt list --json
    expect_eq "$(jq_out .)" "[2]"
    run pt issue anonymous
    expect_rc 2
    expect_contains "$ERR" "'anonymous' is reserved"
}

hides_expired()
{
    local n
    n=$(now)
    {
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 old $((n - 600)) $((n - 300))
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2 new "$n" $((n + 300))
    } | write_store
    run pt list --json
    expect_eq "$(jq_out .)" "[1]"
    expect_eq "$(jq_out 0.principal)" new
}

escaping()
{
    local n
    n=$(now)
    {
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1 alice "$n" $((n + 100)) 'a\u001b[31mb'
        record AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2 bob "$n" $((n + 200)) 'x\ny\tz\u007f\u0085\u202eq\\w'
    } | write_store
    run pt list
    expect_rc 0
    expect_contains "$OUT" 'a\x1b[31mb'
    expect_contains "$OUT" 'x\ny\tz\x7f\u0085\u202eq\\w'
    # Nothing that drives a terminal gets through: no C0 but newline, no
    # DEL, no UTF-8 C1 or bidi controls.
    if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$T/out"; then fail "raw control byte"; fi
    if grep -q $'\xc2[\x80-\x9f]' "$T/out"; then fail "raw C1 control"; fi
    if grep -q $'\xe2\x80\xae' "$T/out"; then fail "raw bidi override"; fi
    expect_eq "$(wc -l <"$T/out")" 3 "a newline in a label does not add a row"
    # JSON keeps the label exact.
    run pt list --json
    expect_eq "$(jq_out 0.label)" $'a\033[31mb'
}

long_label()
{
    local label
    label=$(printf 'x%.0s' {1..100})
    pt issue alice --label "$label" >/dev/null
    run pt list
    expect_not_contains "$OUT" "$label"
    expect_contains "$OUT" "$(printf 'x%.0s' {1..39})…"
    run pt list --json
    expect_eq "$(jq_out 0.label)" "$label"
}

t "list on a missing store is empty and creates nothing" empty
t "list shows a sorted table with ids, UTC times, time left" table
t "list --json has the documented shape" json
t "list --principal filters" filter
t "list and revoke --principal take any well-formed principal, anonymous too" filter_any_well_formed
t "list hides expired tokens" hides_expired
t "list escapes control characters in labels" escaping
t "list shortens long labels in the table only" long_label
done_testing
