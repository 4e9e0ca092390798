#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: the audit trail (--audit-log, PAIRTOK_AUDIT_LOG, syslog).
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

log_path()
{
    echo "$T/audit.log"
}

# ptl ARGS: pairtok on the test's home, auditing to $T/audit.log.
ptl()
{
    "$PAIRTOK" --home "$H" --audit-log "$(log_path)" "$@"
}

# field N KEY: KEY of the N-th line (0-based) of the log.
field()
{
    sed -n "$(($1 + 1))p" "$(log_path)" | "$JSONQ" "$2"
}

every_command()
{
    local a b c id
    a=$(ptl issue alice --label "alice's \"phone\"")
    b=$(ptl issue bob)
    printf '%s\n' "$a" | ptl redeem >/dev/null
    run ptl redeem "$a"
    expect_rc 1
    id=$(sha256 "$b" | cut -c1-12)
    ptl revoke "$id" >/dev/null
    ptl revoke --principal nobody >/dev/null
    # Issued last: a redeem after its expiry would prune it (and say so).
    c=$(ptl issue carol --ttl 1s)
    sleep 1.1
    ptl prune >/dev/null
    expect_eq "$(wc -l <"$(log_path)")" 7
    expect_eq "$(field 0 event)" issue
    expect_eq "$(field 0 principal)" alice
    expect_eq "$(field 0 label)" "alice's \"phone\""
    expect_eq "$(field 0 id)" "$(sha256 "$a" | cut -c1-12)"
    expect_eq "$(field 0 count)" 1
    expect_match "$(field 0 time)" '^[0-9]+$'
    expect_eq "$(field 5 principal)" carol
    expect_eq "$(field 2 event)" redeem
    expect_eq "$(field 2 principal)" alice
    # A refusal says nothing about why: no id, principal or label.
    expect_eq "$(sed -n 4p "$(log_path)" | sed 's/"time":[0-9]*/"time":T/')" \
        '{"time":T,"event":"redeem_refused","count":1}'
    expect_eq "$(field 4 event)" revoke
    expect_eq "$(field 4 id)" "$id"
    expect_eq "$(field 6 event)" prune
    expect_eq "$(field 6 count)" 1
    # Never a raw token, and the log is the user's alone.
    for tok in "$a" "$b" "$c"; do
        if grep -qF "$tok" "$(log_path)"; then fail "a raw token is in the log"; fi
    done
    expect_eq "$(stat -c %a "$(log_path)")" 600
}

environment_names_the_log()
{
    PAIRTOK_AUDIT_LOG=$T/env.log "$PAIRTOK" --home "$H" issue dave >/dev/null
    expect_eq "$(wc -l <"$T/env.log")" 1
    # --audit-log wins over the environment.
    PAIRTOK_AUDIT_LOG=$T/env.log ptl issue erin >/dev/null
    expect_eq "$(wc -l <"$T/env.log")" 1
    expect_eq "$(wc -l <"$(log_path)")" 1
}

reads_never_open_the_log()
{
    ptl issue frank >/dev/null
    run "$PAIRTOK" --home "$H" --audit-log "$T/missing/dir/log" list
    expect_rc 0
    run "$PAIRTOK" --home "$H" --audit-log "$T/missing/dir/log" check
    expect_rc 0
}

# An unusable log stops the command before anything changes.
refused_log()
{
    local before
    ptl issue grace >/dev/null
    before=$(cat "$(store_path)")
    ln -s "$T/elsewhere" "$T/link.log"
    run "$PAIRTOK" --home "$H" --audit-log "$T/link.log" issue henry
    expect_rc 3
    expect_contains "$ERR" "symbolic link"
    expect_contains "$ERR" "nothing was changed"
    expect_eq "$OUT" ""
    [ ! -e "$T/elsewhere" ] || fail "followed the symlink"
    mkdir "$T/dir.log"
    run "$PAIRTOK" --home "$H" --audit-log "$T/dir.log" prune
    expect_rc 3
    expect_contains "$ERR" "nothing was changed"
    touch "$T/open.log"
    chmod 622 "$T/open.log"
    run "$PAIRTOK" --home "$H" --audit-log "$T/open.log" issue henry
    expect_rc 3
    expect_contains "$ERR" "writable by group or others"
    expect_eq "$(cat "$(store_path)")" "$before"
}

# Forty processes append at once: every line whole, none lost.
concurrent_appends()
{
    local i
    for i in $(seq 1 40); do
        ptl issue "user$i" >/dev/null &
    done
    wait
    expect_eq "$(wc -l <"$(log_path)")" 40
    while IFS= read -r line; do
        printf '%s' "$line" | "$JSONQ" event >"$T/ev" || fail "not JSON: $line"
        expect_eq "$(cat "$T/ev")" issue
    done <"$(log_path)"
    expect_eq "$(sort -u "$(log_path)" | wc -l)" 40
}

# The disk fills up after the change: the token was issued, exit 3 says so.
full_disk()
{
    if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
        echo "skipped: needs root and a private mount namespace" >&2
        return 0
    fi
    mkdir "$T/full"
    run unshare -m bash -c '
        mount -t tmpfs -o size=8k none "$1/full" || exit 99
        head -c 8192 /dev/zero >"$1/full/filler" 2>/dev/null
        : >"$1/full/audit.log"
        exec "$2" --home "$3" --audit-log "$1/full/audit.log" issue ivan' _ "$T" "$PAIRTOK" "$H"
    expect_rc 3
    expect_match "$OUT" '^[A-Za-z0-9_-]{32}$'
    expect_contains "$ERR" "the change was made, but the audit log"
    expect_contains "$ERR" "No space left on device"
    run pt list --principal ivan --json
    expect_eq "$(jq_out 0.principal)" ivan
}

# Without --audit-log, each event goes to syslog (LOG_AUTHPRIV, ident
# pairtok), unless --no-syslog.  A private /dev with our own /dev/log.
syslog_events()
{
    if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null || ! command -v python3 >/dev/null; then
        echo "skipped: needs root, a private mount namespace and python3" >&2
        return 0
    fi
    run unshare -m bash -c '
        mount -t tmpfs none /dev || exit 99
        mknod -m 666 /dev/null c 1 3
        mknod -m 444 /dev/urandom c 1 9
        python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
s.settimeout(10)
open(sys.argv[1], \"w\").close()
with open(sys.argv[1], \"ab\") as out:
    while True:
        try:
            msg = s.recv(4096)
        except socket.timeout:
            break
        if msg == b\"stop\":
            break
        out.write(msg + b\"\\n\")
        out.flush()
" "$1/syslog" &
        while [ ! -S /dev/log ]; do sleep 0.05; done
        "$2" --home "$3" issue judy >"$1/token"
        "$2" --home "$3" --no-syslog issue kate >/dev/null
        python3 -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"stop\", \"/dev/log\")"
        wait' _ "$T" "$PAIRTOK" "$H"
    expect_rc 0
    expect_eq "$(wc -l <"$T/syslog")" 1
    # <86> is LOG_AUTHPRIV | LOG_INFO.
    expect_match "$(cat "$T/syslog")" '^<86>.*pairtok\[[0-9]+\]: \{"time":[0-9]+,"event":"issue"'
    expect_contains "$(cat "$T/syslog")" '"principal":"judy"'
    if grep -qF "$(cat "$T/token")" "$T/syslog"; then fail "the raw token went to syslog"; fi
}

t "every command's events, as JSON lines, never a token" every_command
t "PAIRTOK_AUDIT_LOG names the log; --audit-log wins" environment_names_the_log
t "list and check do not open the log" reads_never_open_the_log
t "a symlink, directory or shared log: exit 3, nothing changed" refused_log
t "40 concurrent appenders: every line whole" concurrent_appends
t "full disk after the change: exit 3, the token was issued" full_disk
t "syslog: LOG_AUTHPRIV, ident pairtok; --no-syslog" syslog_events
done_testing
