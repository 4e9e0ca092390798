#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: pairtok redeem - argument and stdin, single use, refusals,
# malformed input, tokens beginning with '-', stores in the Rust style.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

DENIED="pairtok: redeem: pair token invalid or expired"

# The error output must never contain the token, or any long piece of it.
expect_no_token_in_err()
{
    expect_not_contains "$ERR" "$1"
    expect_not_contains "$ERR" "${1:4:20}"
}

single_use()
{
    local tok
    tok=$(pt issue alice)
    run pt redeem "$tok"
    expect_rc 0
    expect_eq "$OUT" alice
    expect_eq "$ERR" ""
    run pt redeem "$tok"
    expect_rc 1
    expect_eq "$OUT" ""
    expect_eq "$ERR" "$DENIED"
    expect_no_token_in_err "$tok"
}

from_stdin()
{
    local tok
    tok=$(pt issue alice)
    printf '%s\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 0
    expect_eq "$OUT" alice
    tok=$(pt issue bob)
    printf '%s' "$tok" >"$T/in"
    run pt redeem - <"$T/in"
    expect_rc 0
    expect_eq "$OUT" bob "'-', no newline"
    tok=$(pt issue carol)
    printf ' \t %s \t\r\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 0
    expect_eq "$OUT" carol "surrounding whitespace"
    # Only the first line counts.
    tok=$(pt issue dave)
    printf '%s\nsomething else\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 0
    expect_eq "$OUT" dave "first line"
    # And a used token is refused the same way from stdin.
    run pt redeem <"$T/in"
    expect_rc 1
    expect_eq "$ERR" "$DENIED"
}

json()
{
    local tok
    tok=$(pt issue alice --label "alice's phone")
    run pt redeem --json "$tok"
    expect_rc 0
    expect_eq "$(jq_out .)" "{principal,label,issued_at_epoch,expires_at_epoch,id}"
    expect_eq "$(jq_out principal)" alice
    expect_eq "$(jq_out label)" "alice's phone"
    expect_eq "$(jq_out id)" "$(sha256 "$tok" | cut -c1-12)"
    expect_eq "$(($(jq_out expires_at_epoch) - $(jq_out issued_at_epoch)))" 300
    tok=$(pt issue bob)
    printf '%s\n' "$tok" >"$T/in"
    run pt redeem - --json <"$T/in"
    expect_rc 0
    expect_eq "$(jq_out -t label)" null
}

unknown_token()
{
    pt issue alice >/dev/null
    local tok
    tok=$(random_token)
    run pt redeem "$tok"
    expect_rc 1
    expect_eq "$ERR" "$DENIED"
    expect_no_token_in_err "$tok"
}

expired()
{
    local n tok=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1
    n=$(now)
    record "$tok" alice $((n - 400)) $((n - 100)) | write_store
    run pt redeem "$tok"
    expect_rc 1
    expect_eq "$ERR" "$DENIED" "same message as unknown"
    # Expiring exactly now is expired too.
    tok=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2
    n=$(now)
    record "$tok" alice $((n - 300)) "$n" | write_store
    run pt redeem "$tok"
    expect_rc 1
}

missing_store()
{
    run pt redeem "$(random_token)"
    expect_rc 1
    expect_eq "$ERR" "$DENIED"
    [ -z "$(ls -A "$H")" ] || fail "redeem created $(ls -A "$H")"
    mkdir -m 700 "$H/etc"
    run pt redeem "$(random_token)"
    expect_rc 1
    [ -z "$(ls -A "$H/etc")" ] || fail "redeem created $(ls -A "$H/etc")"
}

malformed_argument()
{
    local tok
    tok=$(pt issue alice)
    for bad in "${tok:0:31}" "${tok}x" "${tok:0:31}!" "$tok $tok"; do
        run pt redeem -- "$bad"
        expect_rc 2
        expect_contains "$ERR" "malformed pair token"
        expect_no_token_in_err "$tok"
    done
    # A short argument beginning with '-' is an unknown option...
    run pt redeem -x
    expect_rc 2
    # ...but a long one is not echoed: it may be a mistyped token.
    run pt redeem "-${tok:0:30}"
    expect_rc 2
    expect_no_token_in_err "${tok:0:30}"
    run pt redeem "$tok" "$tok"
    expect_rc 2
    expect_no_token_in_err "$tok"
    # Forgetting the command, or typing the token as an option.
    run pt "$tok"
    expect_rc 2
    expect_no_token_in_err "$tok"
    run "$PAIRTOK" "-${tok:0:30}" redeem
    expect_rc 2
    expect_no_token_in_err "${tok:0:30}"
    # A token glued to an option name or to other characters.
    for bad in "--token=$tok" "$tok." "-$tok."; do
        run pt redeem "$bad"
        expect_rc 2
        expect_no_token_in_err "$tok"
    done
    run pt "$tok."
    expect_rc 2
    expect_no_token_in_err "$tok"
    run pt issue alice --ttl "$tok"
    expect_rc 2
    expect_contains "$ERR" "--ttl: '(not shown)' is not a duration"
    expect_no_token_in_err "$tok"
    # None of that used the token up.
    run pt redeem "$tok"
    expect_rc 0
}

malformed_stdin()
{
    local tok
    tok=$(pt issue alice)
    printf '%s\0\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    expect_contains "$ERR" "malformed pair token"
    printf '%s\0junk\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    printf '\0%s\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    printf '%s junk\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    printf '%sx\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    printf '%s\n' "${tok:0:31}" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    expect_no_token_in_err "$tok"
    # Over-long line: 4096 bytes without a newline.
    { head -c 5000 /dev/zero | tr '\0' ' '; printf '%s\n' "$tok"; } >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    expect_contains "$ERR" "4096"
    head -c 100000 /dev/zero | tr '\0' A >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    # Empty input, blank line.
    run pt redeem </dev/null
    expect_rc 2
    printf '\n%s\n' "$tok" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    # Still redeemable after all of that.
    run pt redeem "$tok"
    expect_rc 0
    expect_eq "$OUT" alice
}

dash_tokens()
{
    local n one=-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA two=--BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
    local three=-h_CCCCCCCCCCCCCCCCCCCCCCCCCCCCC four=-_DDDDDDDDDDDDDDDDDDDDDDDDDDDDDD
    n=$(now)
    {
        record "$one" alice "$n" $((n + 300))
        record "$two" bob "$n" $((n + 300))
        record "$three" carol "$n" $((n + 300))
        record "$four" dave "$n" $((n + 300))
    } | write_store
    run pt redeem "$one"
    expect_rc 0
    expect_eq "$OUT" alice
    run pt redeem "$two" --json
    expect_rc 0
    expect_eq "$(jq_out principal)" bob
    run pt redeem -- "$three"
    expect_rc 0
    expect_eq "$OUT" carol
    printf '%s\n' "$four" >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 0
    expect_eq "$OUT" dave
    run pt redeem "$one"
    expect_rc 1
    expect_eq "$ERR" "$DENIED"
}

rust_style_store()
{
    local n tok=RustWrittenToken_0123456789abcde
    n=$(now)
    write_store <<TOML
# Pair tokens (written by astrid)
[[pair_token]]
principal = 'bob'
issued_at_epoch = $n
token_hash = '$(sha256 "$tok")'
label = '''bob's laptop'''
expires_at_epoch = $((n + 300))
TOML
    run pt list
    expect_rc 0
    expect_contains "$OUT" "bob's laptop"
    expect_contains "$OUT" "$(sha256 "$tok" | cut -c1-12)"
    run pt list --json
    expect_eq "$(jq_out 0.principal)" bob
    expect_eq "$(jq_out 0.label)" "bob's laptop"
    run pt redeem "$tok"
    expect_rc 0
    expect_eq "$OUT" bob
    run pt redeem "$tok"
    expect_rc 1
}

unsafe_store()
{
    local tok
    tok=$(pt issue alice)
    chmod 640 "$(store_path)"
    run pt redeem "$tok"
    expect_rc 3
    expect_contains "$ERR" "chmod 600"
    chmod 600 "$(store_path)"
    run pt redeem "$tok"
    expect_rc 0
}

# The reader of redeem's output is gone before the result is written: the
# token is used up all the same, so redeem must say that on stderr and exit 3
# rather than die of SIGPIPE.
closed_pipe()
{
    local tok rc json
    mkfifo "$T/in"
    for json in "" --json; do
        tok=$(pt issue alice)
        # The reader closes its end of the pipe first and only then hands
        # redeem the token: no reader is left when the result is written.
        # shellcheck disable=SC2086 # $json is empty or one word
        pt redeem $json <"$T/in" 2>"$T/err" | {
            exec <&-
            printf '%s\n' "$tok" >"$T/in"
        }
        rc=${PIPESTATUS[0]}
        RC=$rc ERR=$(cat "$T/err") OUT=""
        expect_rc 3
        expect_eq "$ERR" "pairtok: redeem: the token was used, but the result could not be written: Broken pipe"
        expect_no_token_in_err "$tok"
        run pt redeem "$tok"
        expect_rc 1
    done
}

# The same for a full disk.
full_disk()
{
    local tok json
    for json in "" --json; do
        tok=$(pt issue alice)
        RC=0
        # shellcheck disable=SC2086 # $json is empty or one word
        pt redeem $json "$tok" >/dev/full 2>"$T/err" || RC=$?
        ERR=$(cat "$T/err")
        expect_rc 3
        expect_eq "$ERR" "pairtok: redeem: the token was used, but the result could not be written: No space left on device"
        run pt redeem "$tok"
        expect_rc 1
    done
}

t "redeem works once; the second is refused (exit 1)" single_use
t "redeem reads the token from stdin" from_stdin
t "redeem --json has the documented shape" json
t "an unknown token is refused like a used one" unknown_token
t "an expired token is refused like a used one" expired
t "redeem against no store: exit 1, nothing created" missing_store
t "malformed token arguments exit 2 and redeem nothing" malformed_argument
t "malformed stdin (NUL, junk, over-long) exits 2" malformed_stdin
t "tokens beginning with '-' redeem" dash_tokens
t "a store written by the Rust implementation works" rust_style_store
t "redeem on an unsafe store exits 3" unsafe_store
t "redeem into a closed pipe: exit 3, 'token was used', no SIGPIPE" closed_pipe
t "redeem into a full disk: exit 3, 'token was used'" full_disk
done_testing
