/* SPDX-License-Identifier: ISC */
/*
 * noecho.h - read a secret at a terminal without echoing it, the way
 * ssh-keygen reads a passphrase: what is typed would otherwise stay on the
 * screen and in the terminal's scrollback.
 *
 * While echo is off, a SIGINT, SIGTERM, SIGHUP or SIGQUIT first puts the
 * terminal back as it was, then ends the process with the signal's default
 * action, so that the shell still sees how it died.  A signal ignored when
 * the program started (nohup, a shell's `trap '' INT`) stays ignored.
 */
#ifndef PAIRTOK_CLI_NOECHO_H
#define PAIRTOK_CLI_NOECHO_H

#include <signal.h>
#include <stdbool.h>

#define CLI_NOECHO_SIGNALS 4

typedef struct cli_noecho {
    int fd;
    bool installed[CLI_NOECHO_SIGNALS]; /* our handler replaced old[i] */
    struct sigaction old[CLI_NOECHO_SIGNALS];
} cli_noecho;

/* Turn echo off on the terminal `fd`.  Returns 0, or -1 with errno set
 * (then nothing changed).  At most one may be active at a time. */
int cli_noecho_begin(int fd, cli_noecho *state);

/* Put the terminal back as cli_noecho_begin() found it, and the signal
 * actions too.  Returns 0, or -1 with errno set. */
int cli_noecho_end(cli_noecho *state);

#endif /* PAIRTOK_CLI_NOECHO_H */
