# SPDX-License-Identifier: ISC
# lib.sh - shared by the pairtok CLI tests (tests/cli/test-*.sh).
#
# Each test is a shell function run by `t DESCRIPTION FUNCTION` in a
# subshell with `set -e`, inside its own `mktemp -d` directory $T that is
# removed afterwards; $H is an empty Astrid home in it.  The runner prints
# one TAP line per test and, on failure, the test's stderr as diagnostics.
# shellcheck shell=bash

set -u
export LC_ALL=C

# shellcheck disable=SC2034 # used by the test scripts
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
PAIRTOK=$(cd "$BUILD" && pwd)/pairtok
JSONQ=$(cd "$BUILD" && pwd)/tests/jsonq
unset ASTRID_HOME

tap_n=0
tap_failed=0

t()
{
    local desc=$1 fn=$2 log rc
    T=$(mktemp -d)
    H=$T/home
    mkdir -m 700 "$H"
    log=$T/.log
    (
        set -e
        cd "$T"
        "$fn"
    ) >"$log" 2>&1 </dev/null
    rc=$?
    tap_n=$((tap_n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $tap_n - $desc"
    else
        echo "not ok $tap_n - $desc"
        sed 's/^/# /' "$log"
        tap_failed=1
    fi
    chmod -R u+rwx "$T" 2>/dev/null
    rm -rf "$T"
}

done_testing()
{
    echo "1..$tap_n"
    exit "$tap_failed"
}

# pairtok on the test's home.
pt()
{
    "$PAIRTOK" --home "$H" "$@"
}

# run CMD...: run it, keeping its exit status in RC and its output in OUT
# and ERR (and the files $T/out, $T/err, for byte-exact checks).
run()
{
    RC=0
    "$@" >"$T/out" 2>"$T/err" || RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

fail()
{
    echo "FAIL: $*" >&2
    echo "  RC=${RC-}" >&2
    echo "  OUT=${OUT-}" >&2
    echo "  ERR=${ERR-}" >&2
    return 1
}

expect_rc()
{
    [ "$RC" -eq "$1" ] || fail "exit status $RC, expected $1"
}

expect_eq()
{
    [ "$1" = "$2" ] || fail "got '$1', expected '$2'${3:+ ($3)}"
}

expect_contains()
{
    case $1 in
        *"$2"*) ;;
        *) fail "'$2' not in '$1'" ;;
    esac
}

expect_not_contains()
{
    case $1 in
        *"$2"*) fail "'$2' unexpectedly in output" ;;
        *) ;;
    esac
}

expect_match()
{
    [[ $1 =~ $2 ]] || fail "'$1' does not match /$2/"
}

# jq PATH: query the JSON in $T/out (see jsonq.c).
jq_out()
{
    "$JSONQ" "$@" <"$T/out"
}

now()
{
    date +%s
}

sha256()
{
    printf %s "$1" | sha256sum | cut -d' ' -f1
}

# A well-formed token that is not in any store.
random_token()
{
    head -c 24 /dev/urandom | base64 | tr '+/' '-_'
}

store_path()
{
    echo "$H/etc/pair-tokens.toml"
}

# write_store: the store from stdin, made safe the way the library wants.
write_store()
{
    [ -d "$H/etc" ] || mkdir -m 700 "$H/etc"
    cat >"$(store_path)"
    chmod 600 "$(store_path)"
}

# record TOKEN PRINCIPAL ISSUED EXPIRES [LABEL]: one [[pair_token]] table.
record()
{
    printf '[[pair_token]]\ntoken_hash = "%s"\nprincipal = "%s"\n' "$(sha256 "$1")" "$2"
    printf 'issued_at_epoch = %s\nexpires_at_epoch = %s\n' "$3" "$4"
    if [ $# -ge 5 ]; then
        printf 'label = "%s"\n' "$5"
    fi
    echo
}
