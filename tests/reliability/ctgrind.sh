#!/bin/bash
# SPDX-License-Identifier: ISC
# ctgrind.sh - constant-time checks: run $BUILD/reliability/ctgrind (see
# ctgrind.c) under valgrind memcheck with the secrets marked undefined, and
# judge every "depends on uninitialised value" report by where it is:
#
#   eq           pairtok_ct_hash_eq: no report at all.
#   scan         stored hashes secret: only the final match/no-match branch
#                (match_and_export) may be reported; nothing in find_match.
#   token        presented token secret: reports allowed only in the public
#                shape checks (length, whitespace trim, [A-Za-z0-9_-]
#                alphabet) and the final match branch; none in SHA-256,
#                hex encoding, sodium_memcmp or find_match.
#   token-match  as token, for a token that matches; what follows the match
#                is listed, not judged (the token is spent by then).
#   branchy      memcmp / strcmp / early-exit loop on the same secrets: each
#                MUST be reported - proof that this harness can fail.
#
# Every report is printed as a TAP comment with its location.  Skipped (TAP
# SKIP) in the ASan build: valgrind and ASan do not mix.
set -u
BUILD=${BUILD:-build}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; failed=1; }

case "$BUILD" in
*asan*)
    echo "ok 1 - ctgrind # SKIP valgrind and ASan don't mix"
    echo "1..1"
    exit 0
    ;;
esac
BIN=$BUILD/reliability/ctgrind
if ! command -v valgrind >/dev/null 2>&1; then
    echo "not ok 1 - valgrind is not installed (scripts/install-deps installs it)"
    echo "1..1"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "not ok 1 - $BIN not built"
    echo "1..1"
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run MODE: the memcheck log reduced to one line per distinct report:
# "<kind> | <frame> < <frame> < ...", frames as "fn (file:line)".
run() {
    local mode=$1 log=$TMP/$1.log
    valgrind --tool=memcheck --expensive-definedness-checks=yes --num-callers=12 \
        --error-exitcode=0 --log-file="$log" "$BIN" "$mode" >"$TMP/$mode.out" 2>&1
    local rc=$?
    awk '
        /== (Conditional jump|Use of uninitialised|Syscall param|Invalid read|Invalid write)/ {
            if (cur != "") print cur
            sub(/^==[0-9]+== /, ""); cur = $0; sep = " | "; next
        }
        cur != "" && /^==[0-9]+==    (at|by) 0x/ {
            line = $0; sub(/^==[0-9]+==    (at|by) 0x[0-9A-Fa-f]+: /, "", line)
            cur = cur sep line; sep = " < "; next
        }
        cur != "" { print cur; cur = "" }
        END { if (cur != "") print cur }
    ' "$log" | sort -u >"$TMP/$mode.errs"
    echo "$rc" >"$TMP/$mode.rc"
}

show() {
    sed 's/^/#   /' "$TMP/$1.errs"
}

# Reports that touch the secret-processing code: always a failure.
FORBIDDEN='find_match|sodium_|crypto_|pairtok_ct_hash_eq|pairtok_token_is_well_formed|libsodium|SHA256|sha256'

# eq
run eq
if [ "$(cat "$TMP/eq.rc")" -ne 0 ]; then
    not_ok "ctgrind eq: program failed: $(cat "$TMP/eq.out")"
elif [ -s "$TMP/eq.errs" ]; then
    not_ok "pairtok_ct_hash_eq branches on or indexes by secret bytes:"
    show eq
else
    ok "pairtok_ct_hash_eq: no secret-dependent branch or index"
fi

# scan: only the outcome branch (first frame match_and_export) is allowed.
run scan
bad=$(grep -E "$FORBIDDEN" "$TMP/scan.errs"; grep -vE '\| match_and_export \(' "$TMP/scan.errs")
if [ "$(cat "$TMP/scan.rc")" -ne 0 ]; then
    not_ok "ctgrind scan: program failed: $(cat "$TMP/scan.out")"
elif [ -n "$bad" ]; then
    not_ok "redeem scan (find_match) depends on the stored hashes:"
    show scan
else
    ok "redeem scan: constant time over 64 secret stored hashes (only the final match branch)"
    show scan
fi

# token: public shape checks and the outcome branch only.
SHAPE='\| (strlen|index|strchr|hash_presented|match_and_export) \('
run token
bad=$(grep -E "$FORBIDDEN" "$TMP/token.errs"; grep -vE "$SHAPE" "$TMP/token.errs")
if [ "$(cat "$TMP/token.rc")" -ne 0 ]; then
    not_ok "ctgrind token: program failed: $(cat "$TMP/token.out")"
elif [ -n "$bad" ]; then
    not_ok "redeem of a secret token: SHA-256/compare path depends on it:"
    printf '%s\n' "$bad" | sed 's/^/#   /'
else
    ok "redeem of a secret token: SHA-256 and compare silent; reported only (public shape/outcome):"
    show token
fi

run token-match
bad=$(grep -E "$FORBIDDEN" "$TMP/token-match.errs")
if [ "$(cat "$TMP/token-match.rc")" -ne 0 ]; then
    not_ok "ctgrind token-match: program failed: $(cat "$TMP/token-match.out")"
elif [ -n "$bad" ]; then
    not_ok "redeem of a matching secret token: SHA-256/compare path depends on it:"
    printf '%s\n' "$bad" | sed 's/^/#   /'
else
    ok "redeem of a matching secret token: SHA-256 and compare silent; after the match:"
    grep -vE "$SHAPE" "$TMP/token-match.errs" | sed 's/^/#   /'
fi

# branchy: the harness must catch each leaky compare.
run branchy
for fn in branchy_eq branchy_streq branchy_loop; do
    if grep -q "$fn (" "$TMP/branchy.errs"; then
        ok "control: valgrind flags the leaky compare $fn"
    else
        not_ok "control: valgrind did NOT flag $fn - the harness cannot fail"
    fi
done

echo "1..$n"
exit "$failed"
