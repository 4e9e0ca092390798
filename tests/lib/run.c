/* SPDX-License-Identifier: ISC */
/* run.c - failing a check, and how much a test runs; see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tu_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("testutil: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void (*fail_hook)(const char *message);
static pid_t fail_pid;

void tu_fail_via(void (*hook)(const char *message))
{
    fail_hook = hook;
    fail_pid = getpid();
}

void tu_fail(const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (fail_hook != NULL && getpid() == fail_pid) {
        fail_hook(message); /* cmocka's fail_msg does not return */
    }
    tu_die("%s", message);
}

bool tu_is_asan(void)
{
    const char *b = getenv("BUILD");
    return b != NULL && strstr(b, "asan") != NULL;
}

unsigned tu_scale(unsigned full, unsigned reduced)
{
    return tu_is_asan() ? reduced : full;
}

void tu_start_line_open(tu_start_line *s)
{
    if (pipe(s->ready) != 0 || pipe(s->go) != 0) {
        tu_die("pipe: %s", strerror(errno));
    }
}

void tu_start_line_wait(tu_start_line *s, int fail_code)
{
    close(s->ready[0]);
    close(s->go[1]);
    char c = 'r', g;
    if (write(s->ready[1], &c, 1) != 1 || read(s->go[0], &g, 1) != 0) {
        _exit(fail_code);
    }
}

void tu_start_line_ready(tu_start_line *s, int n)
{
    close(s->ready[1]);
    close(s->go[0]);
    for (int i = 0; i < n; i++) {
        char c;
        if (read(s->ready[0], &c, 1) != 1) {
            tu_fail("a child died before the start");
        }
    }
}

void tu_start_line_go(tu_start_line *s)
{
    close(s->go[1]);
    close(s->ready[0]);
}

void tu_start_line_release(tu_start_line *s, int n)
{
    tu_start_line_ready(s, n);
    tu_start_line_go(s);
}

void tu_run_under_pg(char **argv)
{
    if (getenv("PAIRTOK_TEST_PG") != NULL) {
        return;
    }
    const char *with_pg = getenv("PAIRTOK_WITH_PG") ? getenv("PAIRTOK_WITH_PG") : TU_WITH_PG;
    execl(with_pg, with_pg, argv[0], (char *)NULL);
    printf("not ok 1 - cannot run %s: %s (run from the source tree)\n", with_pg, strerror(errno));
    exit(1);
}
