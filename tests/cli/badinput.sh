#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI hostile-input table (tests/badinput.md): every hostile argument and
# store, through build/pairtok.  Each test asserts the exit status (0 ok,
# 1 redeem refused, 2 usage/invalid argument, 3 store problem), the message
# on stderr, and that the store is unchanged - same bytes (sha256), inode,
# mode, size, link count, owner and mtime; a symlink's target; no temp file.
# Registered by mk/reliability.mk.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# Every command gets a 10 s timeout: a FIFO store must never hang one.
pt()
{
    timeout 10 "$PAIRTOK" --home "$H" "$@"
}

fingerprint()
{
    local f
    f=$(store_path)
    if [ -L "$f" ]; then
        echo "symlink -> $(readlink "$f")"
    elif [ -f "$f" ]; then
        stat -c 'file ino=%i mode=%a size=%s links=%h uid=%u mtime=%.9Y' "$f"
        if [ "$(stat -c %s "$f")" -le 1048576 ]; then
            sha256sum <"$f"
        fi
    elif [ -e "$f" ]; then
        stat -c '%F ino=%i mode=%a' "$f"
    else
        echo missing
    fi
    stat -c 'dir mode=%a uid=%u' "$H/etc"
    find "$H/etc" -maxdepth 1 -name '.pair-tokens.toml.tmp-*' | wc -l
}

# A store with two live tokens; prints nothing.
populate()
{
    pt issue alice --label "alice's phone" >/dev/null
    pt issue bob >/dev/null
}

# unchanged BEFORE WHAT: the store's fingerprint is still BEFORE.
unchanged()
{
    local now
    now=$(fingerprint)
    [ "$now" = "$1" ] || fail "store changed by $2: before [$1] after [$now]"
}

# refuse_everywhere STATUS MESSAGE: every command that touches the store
# exits STATUS with MESSAGE on stderr and leaves the store as it was.
refuse_everywhere()
{
    local status=$1 msg=$2 before cmd
    before=$(fingerprint)
    for cmd in "issue carol" "redeem $(random_token)" list "list --json" \
        "revoke --principal alice" "revoke abcdef12" prune check; do
        # shellcheck disable=SC2086 # split the command on purpose
        run pt $cmd
        expect_rc "$status"
        expect_contains "$ERR" "$msg"
        unchanged "$before" "$cmd"
    done
    random_token >"$T/in"
    run pt redeem - <"$T/in"
    expect_rc "$status"
    expect_contains "$ERR" "$msg"
    unchanged "$before" "redeem from stdin"
}

# ---------------------------------------------------------------------------
# Hostile arguments: exit 2, nothing written.

oversize_label()
{
    populate
    local before
    before=$(fingerprint)
    run pt issue alice --label "$(head -c 4097 /dev/zero | tr '\0' x)"
    expect_rc 2
    expect_eq "$ERR" "pairtok: issue: label: longer than the 4096-byte limit"
    expect_eq "$OUT" ""
    unchanged "$before" "4097-byte label"
    run pt issue alice --label "$(head -c 4096 /dev/zero | tr '\0' y)"
    expect_rc 0
}

# Issue with each label after the first two arguments: exit 2, the error
# line matching $1, the store unchanged ($2 names the case).
refuse_labels()
{
    local pattern=$1 what=$2 before label
    shift 2
    populate
    before=$(fingerprint)
    for label in "$@"; do
        run pt issue alice --label "$label"
        expect_rc 2
        expect_match "$ERR" "$pattern"
        unchanged "$before" "$what"
    done
}

label_escapes()
{
    refuse_labels "^pairtok: issue: label: contains a control character \(at byte [0-9]+\)$" \
        "label with a control character" \
        $'\e[2J\e[31mred' $'two\nlines' $'tab\there' $'del\x7f' $'c1 \xc2\x85'
    # A NUL cannot reach the tool through argv: the shell drops it.
}

label_invalid_utf8()
{
    refuse_labels "^pairtok: issue: label: not valid UTF-8 \(at byte [0-9]+\)$" \
        "label with invalid UTF-8" \
        $'bad \xff' $'\xc0\xaf' $'\xed\xa0\x80' $'\xf4\x90\x80\x80' $'cut \xe2\x82'
}

bad_principals()
{
    populate
    local before p
    before=$(fingerprint)
    for p in a/b .. ../etc 'a b' "$(printf 'a%.0s' {1..65})" 'a.b' $'a\nb' 'alïce'; do
        run pt issue "$p"
        expect_rc 2
        expect_eq "$ERR" "pairtok: issue: principal: must be 1 to 64 characters of [A-Za-z0-9_-]"
        run pt revoke --principal "$p"
        expect_rc 2
        expect_contains "$ERR" "principal"
        run pt list --principal "$p"
        expect_rc 2
        unchanged "$before" "principal '$p'"
    done
    run pt issue anonymous
    expect_rc 2
    expect_eq "$ERR" "pairtok: issue: principal: 'anonymous' is reserved and cannot be paired"
    run pt issue ''
    expect_rc 2
    unchanged "$before" "principal anonymous / empty"
    run pt issue "$(printf 'a%.0s' {1..64})"
    expect_rc 0
}

bad_tokens()
{
    populate
    local before tok good
    before=$(fingerprint)
    # Never beginning with '-': such an argument is refused as an unknown
    # option instead (test-redeem.sh covers that).
    good=A$(random_token | cut -c2-)
    for tok in "${good:0:31}" "${good}A" "${good:0:31}=" "+${good:1}" "${good:0:16}/${good:17}" \
        "${good:0:16} ${good:17}" "${good:0:31}é" "$(printf 'x%.0s' {1..100})"; do
        run pt redeem "$tok"
        expect_rc 2
        expect_eq "$ERR" "pairtok: redeem: malformed pair token (expected 32 characters of [A-Za-z0-9_-])"
        expect_eq "$OUT" ""
        printf '%s\n' "$tok" >"$T/in"
        run pt redeem <"$T/in"
        expect_rc 2
        unchanged "$before" "token '$tok'"
    done
    run pt redeem ''
    expect_rc 2
    head -c 5000 /dev/zero | tr '\0' A >"$T/in"
    run pt redeem <"$T/in"
    expect_rc 2
    expect_eq "$ERR" "pairtok: redeem: malformed pair token (line longer than 4096 bytes)"
    unchanged "$before" "empty / endless token"
}

bad_numbers()
{
    populate
    local before v
    before=$(fingerprint)
    for v in 0 3601 -5 abc 1e3 '' 99999999999999999999; do
        run pt issue alice --ttl "$v"
        expect_rc 2
        expect_contains "$ERR" "ttl"
        unchanged "$before" "--ttl '$v'"
    done
    for v in abcdef1 zzzzzzzz abcd-efgh "$(printf '0%.0s' {1..65})"; do
        run pt revoke "$v"
        expect_rc 2
        expect_contains "$ERR" "id"
        unchanged "$before" "revoke '$v'"
    done
}

# ---------------------------------------------------------------------------
# Hostile stores: exit 3, nothing touched.

huge_sparse_file()
{
    populate
    truncate -s 1G "$(store_path)"
    refuse_everywhere 3 "1073741824 bytes is over the 64 MiB limit of a store file"
}

fifo_store()
{
    mkdir -m 700 "$H/etc"
    mkfifo -m 600 "$(store_path)"
    refuse_everywhere 3 "not a regular file; remove it or point pairtok elsewhere"
}

directory_store()
{
    mkdir -m 700 "$H/etc" "$(store_path)"
    refuse_everywhere 3 "not a regular file; remove it or point pairtok elsewhere"
}

symlink_store()
{
    populate
    mv "$(store_path)" "$H/etc/real.toml"
    ln -s real.toml "$(store_path)"
    local target
    target=$(sha256sum <"$H/etc/real.toml")
    refuse_everywhere 3 "is a symbolic link; a store must be a regular file"
    expect_eq "$(sha256sum <"$H/etc/real.toml")" "$target" "symlink target untouched"
}

hard_link_store()
{
    populate
    ln "$(store_path)" "$T/second-name"
    refuse_everywhere 3 "has 2 hard links; a store must have exactly one"
}

group_readable_store()
{
    populate
    chmod 640 "$(store_path)"
    refuse_everywhere 3 "permissions 640 are too open (group or others have access); fix with: chmod 600"
    chmod 604 "$(store_path)"
    refuse_everywhere 3 "permissions 604 are too open"
}

world_writable_directory()
{
    populate
    chmod 777 "$H/etc"
    refuse_everywhere 3 "directory is writable by group or others (mode 777); fix with: chmod go-w"
    chmod 1777 "$H/etc"
    refuse_everywhere 3 "(mode 1777)"
}

other_owner()
{
    [ "$(id -u)" -eq 0 ] || return 0 # needs root to chown
    populate
    chown 65534 "$(store_path)"
    refuse_everywhere 3 "owned by uid 65534, not by you"
}

schema_version_2()
{
    local n
    n=$(now)
    {
        echo "schema_version = 2"
        echo
        record "$(random_token)" alice "$n" $((n + 300))
    } | write_store
    refuse_everywhere 3 "pair-tokens.toml:1:18: schema_version is set: the file was written in a newer format"
}

duplicate_key()
{
    local n
    n=$(now)
    {
        record "$(random_token)" alice "$n" $((n + 300))
    } | sed 's/^principal = "alice"$/principal = "alice"\nprincipal = "mallory"/' | write_store
    refuse_everywhere 3 "duplicate key \"principal\""
}

duplicate_records()
{
    local n tok
    n=$(now)
    tok=$(random_token)
    {
        record "$tok" alice "$n" $((n + 300))
        record "$tok" alice "$n" $((n + 300))
    } | write_store
    run pt check
    expect_rc 3
    expect_contains "$ERR" "appears more than once"
    run pt redeem "$tok"
    expect_rc 0
    run pt redeem "$tok"
    expect_rc 1
    expect_eq "$ERR" "pairtok: redeem: pair token invalid or expired"
    run pt check
    expect_rc 0
}

negative_epoch()
{
    local n
    n=$(now)
    record "$(random_token)" alice "$n" -1 | write_store
    refuse_everywhere 3 "pair_token[0].expires_at_epoch: must not be negative"
    record "$(random_token)" alice -5 $((n + 300)) | write_store
    refuse_everywhere 3 "pair_token[0].issued_at_epoch: must not be negative"
}

epoch_2_64()
{
    local n
    n=$(now)
    record "$(random_token)" alice "$n" 18446744073709551616 | write_store
    refuse_everywhere 3 "integer does not fit in 64 bits"
    record "$(random_token)" alice 18446744073709551615 "$n" | write_store
    refuse_everywhere 3 "integer does not fit in 64 bits"
}

nul_in_label()
{
    local n
    n=$(now)
    record "$(random_token)" alice "$n" $((n + 300)) 'a\u0000b' | write_store
    refuse_everywhere 3 "pair_token[0].label: contains a NUL character"
}

invalid_utf8_file()
{
    local n
    n=$(now)
    record "$(random_token)" alice "$n" $((n + 300)) $'\xff\xfe' | write_store
    refuse_everywhere 3 "invalid UTF-8"
}

t "label of 4097 bytes: exit 2, store unchanged" oversize_label
t "labels with escapes/control characters: exit 2, store unchanged" label_escapes
t "labels with invalid UTF-8: exit 2, store unchanged" label_invalid_utf8
t "principals with / .. space, 65 chars, anonymous: exit 2, store unchanged" bad_principals
t "tokens of 31/33 chars, with = + / space: exit 2, store unchanged" bad_tokens
t "bad --ttl and revoke ids: exit 2, store unchanged" bad_numbers
t "1 GiB sparse store: exit 3 everywhere, unchanged" huge_sparse_file
t "store is a FIFO: exit 3 everywhere, nothing hangs" fifo_store
t "store is a directory: exit 3 everywhere" directory_store
t "store is a symlink: exit 3 everywhere, target untouched" symlink_store
t "store has a second hard link: exit 3 everywhere" hard_link_store
t "group/world-readable store: exit 3 everywhere" group_readable_store
t "world-writable directory: exit 3 everywhere" world_writable_directory
t "store owned by another user: exit 3 everywhere" other_owner
t "schema_version = 2: exit 3 everywhere, untouched" schema_version_2
t "duplicate key in a [[pair_token]]: exit 3 everywhere" duplicate_key
t "duplicate [[pair_token]] records: check flags, one redeem consumes both" duplicate_records
t "negative epochs: exit 3 everywhere" negative_epoch
t "epochs of 2^64 and 2^64-1: exit 3 everywhere" epoch_2_64
t "label with an escaped NUL in the file: exit 3 everywhere" nul_in_label
t "invalid UTF-8 in the file: exit 3 everywhere" invalid_utf8_file
done_testing
