#!/bin/bash
# SPDX-License-Identifier: ISC
# CLI tests: pairtok redeem reading the token at a terminal.  The token typed
# must not be echoed (it would stay in the scrollback), and the terminal must
# be as it was afterwards: after a normal end, a refusal, end of input, and
# a SIGINT, SIGTERM, SIGHUP or SIGQUIT at the prompt.
#
# Each test runs redeem in the pseudo-terminal of a tmux server of its own,
# types into it, and reads the screen back.  A small sh script in the
# terminal saves `stty -g` before and after redeem, and redeem's exit status.
# shellcheck disable=SC2317 # test functions are called through t()
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null; then
    echo "ok 1 # SKIP tmux is not installed (scripts/install-deps installs it)"
    echo "1..1"
    exit 0
fi

PROMPT="pair token:"

# tmux on the test's own server, without the user's configuration (and
# not nested in a tmux the tests may be running in).
tm()
{
    env -u TMUX tmux -S "$T/tmux.sock" -f "$T/tmux.conf" "$@"
}

# $1 single-quoted for sh.
sq()
{
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

# in_terminal: start `pairtok redeem` at a fresh 200x24 terminal, on a new
# tmux server (killed when the test ends).  Files in $T/term/: `pid`, its
# process id; when it has exited, `before` and `after`, `stty -g` from
# before and after it, `after.a`, `stty -a` after it, and `rc`, its exit
# status.  Then the script reads a line into `typed`, to show what the
# terminal does with typing.  The shell catches SIGINT (only redeem dies of
# a ^C) and does not touch the terminal itself.
in_terminal()
{
    local d=$T/term
    tm kill-server 2>/dev/null || true
    trap 'tm kill-server 2>/dev/null || true' EXIT
    rm -rf "$d"
    mkdir "$d"
    printf 'set -g remain-on-exit on\nset -g history-limit 1000\n' >"$T/tmux.conf"
    cat >"$d/script.sh" <<SCRIPT
trap : INT
stty -g >$(sq "$d/before")
sh -c 'echo \$\$ >"\$1"; shift; exec "\$@"' _ $(sq "$d/pid") $(sq "$PAIRTOK") --home $(sq "$H") redeem
rc=\$?
stty -g >$(sq "$d/after")
stty -a >$(sq "$d/after.a")
echo "\$rc" >$(sq "$d/rc.tmp")
mv $(sq "$d/rc.tmp") $(sq "$d/rc")
IFS= read -r line
printf '%s\n' "\$line" >$(sq "$d/typed")
SCRIPT
    tm new-session -d -x 200 -y 24 "sh $(sq "$d/script.sh")"
}

# wait_until CMD...: retry CMD every 50 ms, for up to 10 s.
wait_until()
{
    local i
    for ((i = 0; i < 200; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 0.05
    done
    fail "timed out waiting for: $*"
}

# The whole screen and its scrollback, as text, wrapped lines joined.
screen()
{
    tm capture-pane -p -J -S - -E -
}

screen_has()
{
    screen | grep -qF -- "$1"
}

# type_at_prompt TEXT: wait for the prompt, then type TEXT (not Enter).
type_at_prompt()
{
    wait_until screen_has "$PROMPT"
    tm send-keys -l -- "$1"
}

# wait_exit: wait until redeem has finished; RC is its exit status, ERR the
# screen.
wait_exit()
{
    wait_until test -e "$T/term/rc"
    # shellcheck disable=SC2034 # read by expect_rc and fail in lib.sh
    RC=$(cat "$T/term/rc")
    ERR=$(screen)
    # shellcheck disable=SC2034 # read by fail in lib.sh
    OUT=""
}

# redeem_at_terminal TEXT: start redeem at a fresh terminal, type TEXT and
# Enter at its prompt, and wait until it has finished.
redeem_at_terminal()
{
    in_terminal
    type_at_prompt "$1"
    tm send-keys Enter
    wait_exit
}

# The token, and any long piece of it, must not be on the screen.
expect_not_on_screen()
{
    local s
    s=$(screen)
    expect_not_contains "$s" "$1"
    expect_not_contains "$s" "${1:0:8}"
    expect_not_contains "$s" "${1:8:8}"
}

# The terminal is as it was before redeem: echo on.
expect_terminal_restored()
{
    expect_eq "$(cat "$T/term/after")" "$(cat "$T/term/before")" "stty -g after redeem"
    tr ' ;' '\n' <"$T/term/after.a" | grep -qx echo || fail "echo is off: $(cat "$T/term/after.a")"
}

hidden()
{
    local tok
    tok=$(pt issue alice)
    redeem_at_terminal "$tok"
    expect_rc 0
    expect_not_on_screen "$tok"
    # The prompt, then (after the newline redeem prints for the Enter that
    # was not echoed) the principal on a line of its own.
    expect_eq "$(screen | sed -n 1,2p)" "$PROMPT${IFS:0:1}
alice"
    expect_terminal_restored
    run pt redeem "$tok"
    expect_rc 1
}

# After redeem, what is typed at the same terminal shows again.
echo_back_on()
{
    local tok
    tok=$(pt issue alice)
    redeem_at_terminal "$tok"
    expect_rc 0
    expect_terminal_restored
    tm send-keys -l "typed after redeem"
    tm send-keys Enter
    wait_until test -e "$T/term/typed"
    expect_eq "$(cat "$T/term/typed")" "typed after redeem"
    expect_contains "$(screen)" "typed after redeem"
    expect_not_on_screen "$tok"
}

# A token that is refused, malformed input and end of input: each exit path
# leaves the terminal as it was, and nothing typed shows.
refusals()
{
    local tok
    tok=$(random_token)
    redeem_at_terminal "$tok"
    expect_rc 1
    expect_contains "$ERR" "pair token invalid or expired"
    expect_not_on_screen "$tok"
    expect_terminal_restored

    redeem_at_terminal "not-a-token-but-secret-all-the-same"
    expect_rc 2
    expect_contains "$ERR" "malformed pair token"
    expect_not_contains "$ERR" "secret"
    expect_terminal_restored

    in_terminal
    wait_until screen_has "$PROMPT"
    tm send-keys C-d
    wait_exit
    expect_rc 2
    expect_contains "$ERR" "no pair token given"
    expect_terminal_restored
}

# ^C with part of the token typed: echo is restored, then redeem dies of
# SIGINT (exit status 130 in the shell); the token is still good.
interrupted()
{
    local tok
    tok=$(pt issue alice)
    in_terminal
    type_at_prompt "${tok:0:20}"
    tm send-keys C-c
    wait_exit
    expect_rc 130
    expect_not_on_screen "$tok"
    expect_terminal_restored
    run pt redeem "$tok"
    expect_rc 0
}

# kill_at_prompt SIGNAL TEXT: type TEXT at redeem's prompt, then send it
# SIGNAL with kill(1).  Returns 1 if the keys reached the terminal only
# after redeem had died: tmux writes them to the terminal on its own time,
# a signal sent at once can overtake them, and the terminal, echo on again,
# then shows them.  Redeem flushes unread input as it restores the
# terminal, so keys that came in time never reach the shell's `read`
# after it; keys that came late do.
kill_at_prompt()
{
    in_terminal
    type_at_prompt "$2"
    kill -s "$1" "$(cat "$T/term/pid")"
    wait_exit
    tm send-keys Enter
    wait_until test -e "$T/term/typed"
    [ -z "$(cat "$T/term/typed")" ]
}

# The same for the signals that end a process at a terminal, sent with
# kill(1): each kills redeem with its default action.
signalled()
{
    local tok sig try
    tok=$(pt issue alice)
    for sig in TERM:143 HUP:129 QUIT:131 INT:130; do
        for try in 1 2 3 4 5 6 7 8 9 10; do
            kill_at_prompt "${sig%:*}" "${tok:0:20}" && break
            [ "$try" -lt 10 ] || fail "SIG${sig%:*}: the keys typed never reached redeem in time"
        done
        expect_rc "${sig#*:}"
        expect_not_on_screen "$tok"
        expect_terminal_restored
    done
    run pt redeem "$tok"
    expect_rc 0
}

t "redeem at a terminal does not echo the token; prompt, then the principal" hidden
t "echo is back on after redeem at a terminal" echo_back_on
t "refused, malformed, empty input at a terminal: nothing echoed, terminal restored" refusals
t "^C at the prompt restores echo, then redeem dies of SIGINT" interrupted
t "SIGTERM, SIGHUP, SIGQUIT, SIGINT at the prompt restore echo, then kill" signalled
done_testing
