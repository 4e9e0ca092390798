/* SPDX-License-Identifier: ISC */
/*
 * io.c - output that must not be lost silently.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int cli_finish_stdout(const cli_ctx *ctx, int status)
{
    /* A full disk or closed pipe shows up only here, at flush time. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_warn(ctx, "cannot write to standard output: %s", strerror(errno));
        return CLI_EXIT_STORE;
    }
    return status;
}

int cli_close_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int saved = errno != 0 ? errno : EIO;
        fclose(stdout);
        errno = saved;
        return -1;
    }
    return fclose(stdout) == 0 ? 0 : -1;
}
