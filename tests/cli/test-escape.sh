#!/bin/bash
# SPDX-License-Identifier: ISC
# test-escape.sh - no error message lets untrusted text (a store path, a
# key of a hand-edited store) reach the terminal with control characters.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

ESC=$'\e'

path_in_error_is_escaped()
{
    mkdir -m 700 d
    printf 'x' >"d/s${ESC}[31m"
    chmod 644 "d/s${ESC}[31m"
    run "$PAIRTOK" --store "$T/d/s${ESC}[31m" list
    expect_rc 3
    expect_not_contains "$ERR" "$ESC"
    expect_contains "$ERR" 's\x1b[31m: permissions 644 are too open'
}

key_of_hostile_store_is_escaped()
{
    write_store <<'TOML'
"\u001b]0;pwned\u0007" = 1
"\u001b]0;pwned\u0007" = 2
TOML
    chmod 600 "$(store_path)"
    run pt list
    expect_rc 3
    expect_not_contains "$ERR" "$ESC"
    expect_not_contains "$ERR" $'\a'
    expect_contains "$ERR" ':2:1: duplicate key'
}

t "a store path with an escape sequence is escaped in errors" path_in_error_is_escaped
t "a hostile key in a store is escaped in errors" key_of_hostile_store_is_escaped
done_testing
