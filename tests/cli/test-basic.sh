#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: help, version, usage errors, store path resolution.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

COMMANDS="issue redeem list revoke prune path check init"

version()
{
    run "$PAIRTOK" --version
    expect_rc 0
    expect_eq "$OUT" "pairtok 0.1.0"
    run "$PAIRTOK" list --version
    expect_rc 0
    expect_eq "$OUT" "pairtok 0.1.0"
}

tool_help()
{
    for flag in --help -h; do
        run "$PAIRTOK" "$flag"
        expect_rc 0
        expect_match "$OUT" "^Usage: pairtok "
        for c in $COMMANDS; do
            expect_contains "$OUT" "  $c"
        done
        expect_eq "$ERR" ""
    done
}

command_help()
{
    for c in $COMMANDS; do
        for flag in --help -h; do
            run "$PAIRTOK" "$c" "$flag"
            expect_rc 0
            expect_match "$OUT" "^Usage: pairtok $c"
        done
    done
    # Help wins over missing operands, and works after global options.
    run pt issue --help
    expect_rc 0
    expect_contains "$OUT" "--ttl DURATION"
    expect_contains "$OUT" "(90s, 5m, 1h, 1m30s, 1h0m0s)"
    run pt redeem --help
    expect_contains "$OUT" "ps"
    expect_contains "$OUT" "history"
    [ ! -e "$H/etc" ] || fail "help touched the store"
}

usage_errors()
{
    run "$PAIRTOK"
    expect_rc 2
    expect_contains "$ERR" "pairtok: no command given"
    expect_contains "$ERR" "Try 'pairtok --help'."
    run "$PAIRTOK" frobnicate
    expect_rc 2
    expect_contains "$ERR" "unknown command 'frobnicate'"
    run "$PAIRTOK" --bogus list
    expect_rc 2
    run pt list --bogus
    expect_rc 2
    expect_contains "$ERR" "pairtok: list: unknown option '--bogus'"
    expect_contains "$ERR" "Try 'pairtok list --help'."
    run pt list extra
    expect_rc 2
    run pt issue
    expect_rc 2
    expect_contains "$ERR" "missing PRINCIPAL"
    run pt issue alice bob
    expect_rc 2
    run pt issue alice --ttl
    expect_rc 2
    expect_contains "$ERR" "needs an argument"
    run pt list --json=yes
    expect_rc 2
    run "$PAIRTOK" --store
    expect_rc 2
    [ ! -e "$H/etc" ] || fail "a usage error touched the store"
}

path_order()
{
    local home=$T/h astrid=$T/a
    mkdir "$home" "$astrid"
    run env -u ASTRID_HOME HOME="$home" "$PAIRTOK" path
    expect_rc 0
    expect_eq "$OUT" "$home/.astrid/etc/pair-tokens.toml" "HOME"
    run env HOME="$home" ASTRID_HOME="$astrid" "$PAIRTOK" path
    expect_eq "$OUT" "$astrid/etc/pair-tokens.toml" "ASTRID_HOME over HOME"
    run env HOME="$home" ASTRID_HOME="$astrid" "$PAIRTOK" --home "$T/x" path
    expect_eq "$OUT" "$T/x/etc/pair-tokens.toml" "--home over ASTRID_HOME"
    run env HOME="$home" ASTRID_HOME="$astrid" "$PAIRTOK" --home "$T/x" --store "$T/s.toml" path
    expect_eq "$OUT" "$T/s.toml" "--store over --home"
    run env HOME="$home" ASTRID_HOME="$astrid" "$PAIRTOK" --store "$T/s.toml" --home "$T/x" path
    expect_eq "$OUT" "$T/s.toml" "--store over --home, either order"
    run env HOME="$home" ASTRID_HOME="" "$PAIRTOK" path
    expect_eq "$OUT" "$home/.astrid/etc/pair-tokens.toml" "empty ASTRID_HOME"
    # Global options after the command, and in --opt=value form.
    run "$PAIRTOK" path --store="$T/t.toml"
    expect_eq "$OUT" "$T/t.toml"
    run "$PAIRTOK" path --home="$T/y"
    expect_eq "$OUT" "$T/y/etc/pair-tokens.toml"
    # `path` reads and creates nothing.
    [ -z "$(ls -A "$home")$(ls -A "$astrid")" ] || fail "path created files"
}

path_unset()
{
    run env -u ASTRID_HOME -u HOME "$PAIRTOK" path
    expect_rc 2
    expect_match "$ERR" "^pairtok: path: "
    run "$PAIRTOK" --home "" path
    expect_rc 2
    run "$PAIRTOK" --store "" path
    expect_rc 2
}

env_store_used()
{
    # Without --home, commands really use $ASTRID_HOME.
    run env ASTRID_HOME="$H" "$PAIRTOK" issue alice
    expect_rc 0
    [ -f "$H/etc/pair-tokens.toml" ] || fail "store not in ASTRID_HOME"
    run env -u ASTRID_HOME HOME="$T" "$PAIRTOK" issue bob
    expect_rc 0
    [ -f "$T/.astrid/etc/pair-tokens.toml" ] || fail "store not in HOME/.astrid"
}

man_pages()
{
    local page
    command -v man >/dev/null || return 0 # man-db comes with scripts/install-deps
    for page in "$SRCDIR"/man/pairtok.1 "$SRCDIR"/man/pairtok.3; do
        run env MANWIDTH=80 man --warnings -l "$page"
        expect_rc 0
        expect_eq "$ERR" "" "$page renders without warnings"
        expect_contains "$OUT" "EXAMPLES"
    done
}

completion()
{
    # shellcheck disable=SC2016 # expanded by the inner bash
    run bash -c '
        source "$1"
        complete -p pairtok
        COMP_WORDS=(pairtok "") COMP_CWORD=1; _pairtok; echo "${COMPREPLY[*]}"
        COMP_WORDS=(pairtok issue alice --q) COMP_CWORD=3; _pairtok; echo "${COMPREPLY[*]}"
        COMP_WORDS=(pairtok issue alice --ttl "") COMP_CWORD=4; _pairtok; echo "${COMPREPLY[*]}"
        COMP_WORDS=(pairtok issue alice --ttl = 1) COMP_CWORD=5; _pairtok; echo "${COMPREPLY[*]}"
    ' _ "$SRCDIR/completions/pairtok.bash"
    expect_rc 0
    expect_contains "$OUT" "issue redeem list revoke prune path check init"
    expect_contains "$OUT" "--qr"
    expect_contains "$OUT" "60 300 90s 2m 5m 15m 30m 1h"
    expect_contains "$OUT" $'\n15m 1h'
    # Every --ttl it offers is one issue takes.
    local d
    for d in 60 300 90s 2m 5m 15m 30m 1h; do
        run pt issue alice --ttl "$d"
        expect_rc 0
    done
}

t "--version prints the version" version
t "--help and -h list every command" tool_help
t "every command has --help" command_help
t "usage errors exit 2 with a hint" usage_errors
t "path: --store > --home > ASTRID_HOME > HOME" path_order
t "path: no HOME, empty --home/--store exit 2" path_unset
t "commands use ASTRID_HOME, then HOME/.astrid" env_store_used
t "man pages render without warnings" man_pages
t "bash completion completes commands and options" completion
done_testing
