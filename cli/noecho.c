/* SPDX-License-Identifier: ISC */
/*
 * noecho.c - read a secret at a terminal without echoing it (see noecho.h).
 */
#include "noecho.h"

#include <errno.h>
#include <termios.h>
#include <unistd.h>

static const int caught[CLI_NOECHO_SIGNALS] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* What the signal handler restores.  A signal handler has no argument to
 * carry it, so it lives here; it is written before the handlers are
 * installed and only read while they are. */
static volatile sig_atomic_t restore_fd = -1;
static struct termios restore_termios;

static void restore_and_die(int sig)
{
    int saved_errno = errno;
    if (restore_fd >= 0) {
        tcsetattr(restore_fd, TCSAFLUSH, &restore_termios);
    }
    /* SA_RESETHAND has put back the default action and the signal is
     * blocked while we run: it is delivered, and kills, as we return. */
    raise(sig);
    errno = saved_errno;
}

/* tcsetattr() that retries when a signal interrupts the wait for output
 * to drain. */
static int set_terminal(int fd, const struct termios *t)
{
    int rc;
    do {
        rc = tcsetattr(fd, TCSAFLUSH, t);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

static void install_handlers(cli_noecho *state)
{
    struct sigaction sa = {0};
    sa.sa_handler = restore_and_die;
    sa.sa_flags = (int)SA_RESETHAND; /* an unsigned constant in glibc */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < CLI_NOECHO_SIGNALS; i++) {
        sigaddset(&sa.sa_mask, caught[i]); /* one restore at a time */
    }
    for (int i = 0; i < CLI_NOECHO_SIGNALS; i++) {
        state->installed[i] = false;
        if (sigaction(caught[i], NULL, &state->old[i]) != 0 ||
            state->old[i].sa_handler == SIG_IGN) {
            continue;
        }
        state->installed[i] = sigaction(caught[i], &sa, NULL) == 0;
    }
}

static void remove_handlers(cli_noecho *state)
{
    for (int i = 0; i < CLI_NOECHO_SIGNALS; i++) {
        if (state->installed[i]) {
            sigaction(caught[i], &state->old[i], NULL);
            state->installed[i] = false;
        }
    }
}

int cli_noecho_begin(int fd, cli_noecho *state)
{
    struct termios quiet;
    state->fd = -1;
    if (tcgetattr(fd, &restore_termios) != 0) {
        return -1;
    }
    quiet = restore_termios;
    /* ECHONL too: the caller prints the newline of the Enter itself. */
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    /* Handlers first: a signal between the two steps finds them ready. */
    restore_fd = fd;
    install_handlers(state);
    if (set_terminal(fd, &quiet) != 0) {
        int saved = errno;
        remove_handlers(state);
        restore_fd = -1;
        errno = saved;
        return -1;
    }
    state->fd = fd;
    return 0;
}

int cli_noecho_end(cli_noecho *state)
{
    if (state->fd < 0) {
        return 0;
    }
    /* Terminal first: a signal in between restores it once more, and
     * still kills as it should. */
    int rc = set_terminal(state->fd, &restore_termios);
    int saved = errno;
    remove_handlers(state);
    restore_fd = -1;
    state->fd = -1;
    errno = saved;
    return rc;
}
