/* SPDX-License-Identifier: ISC */
/*
 * main.c - pairtok: issue and redeem single-use pair tokens of the Astrid
 * runtime from the command line.  See pairtok(1).
 *
 * main() handles the options that come before the command, then hands the
 * rest of argv to the command, which parses its own arguments.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "args.h"
#include "audit.h"
#include "cli.h"
#include "help.h"
#include "json_out.h"

typedef int (*command_fn)(cli_ctx *ctx, int argc, char **argv);

static const struct command {
    const char *name;
    command_fn run;
} commands[] = {
    {"issue", cmd_issue}, {"redeem", cmd_redeem}, {"list", cmd_list},   {"revoke", cmd_revoke},
    {"prune", cmd_prune}, {"path", cmd_path},     {"check", cmd_check}, {"init", cmd_init},
};

static command_fn find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return commands[i].run;
        }
    }
    return NULL;
}

/* Match `--name VALUE` or `--name=VALUE` at argv[*i]; on a match store the
 * value (consuming the next argument if needed) and return 1, return -1 if
 * the value is missing, 0 if argv[*i] is another option. */
static int global_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0) {
        return 0;
    }
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0') {
        return 0;
    }
    if (*i + 1 >= argc) {
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* Parse the options before the command.  Returns the index of the command
 * in argv, or 0 when main is finished with exit status *status. */
static int parse_globals(cli_ctx *ctx, int argc, char **argv, int *status)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int got = global_value(argc, argv, &i, "--store", &ctx->store_opt);
        if (got == 0) {
            got = global_value(argc, argv, &i, "--home", &ctx->home_opt);
        }
        if (got == 0) {
            got = global_value(argc, argv, &i, "--audit-log", &ctx->audit_log_opt);
        }
        if (got == 0 && strcmp(arg, "--no-syslog") == 0) {
            ctx->no_syslog = true;
            got = 1;
        }
        if (got == 1) {
            continue;
        }
        if (got == -1) {
            *status = cli_usage_error(ctx, "option '%s' needs an argument", arg);
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_print_help(stdout, NULL);
            *status = cli_finish_stdout(ctx, CLI_EXIT_OK);
        } else if (strcmp(arg, "--version") == 0) {
            cli_print_version();
            *status = cli_finish_stdout(ctx, CLI_EXIT_OK);
        } else if (arg[0] == '-') {
            *status = cli_unknown_option(ctx, arg);
        } else {
            return i;
        }
        return 0;
    }
    *status = cli_usage_error(ctx, "no command given");
    return 0;
}

/* Started with stdin, stdout or stderr closed, the store's own files would
 * get those numbers and a token written to "stdout" could land in one.
 * Returns false if even /dev/null cannot fill the gap. */
static bool open_standard_fds(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd) {
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    int status = CLI_EXIT_USAGE;

    if (!open_standard_fds()) {
        return CLI_EXIT_STORE;
    }
    /* A core dump of `issue` or `redeem` would hold a raw token. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    /* Before any JSON is built: jansson's copies of tokens get wiped. */
    cli_json_init();

    int at = argc > 0 ? parse_globals(&ctx, argc, argv, &status) : 0;
    if (at == 0) {
        return status;
    }
    command_fn run = find_command(argv[at]);
    if (run == NULL && cli_might_be_token(argv[at])) {
        /* `pairtok <token>`: never echo what may be a token. */
        return cli_usage_error(&ctx, "unknown command (to redeem a token: pairtok redeem)");
    }
    if (run == NULL) {
        return cli_usage_error(&ctx, "unknown command '%s'", argv[at]);
    }
    ctx.command = argv[at];
    status = run(&ctx, argc - at, argv + at);
    return cli_audit_finish(&ctx, &ctx.audit, status);
}
