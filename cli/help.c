/* SPDX-License-Identifier: ISC */
/*
 * help.c - the --help texts of pairtok and of each command.
 *
 * Kept in step with man/pairtok.1 by hand; the tests check that every
 * command has one.
 */
#include "help.h"

#include <string.h>

#include "pairtok.h"

static const char tool_help[] =
    "Usage: pairtok [--home DIR | --store FILE|URI] [--audit-log FILE | --no-syslog]\n"
    "               COMMAND [ARGS]\n"
    "\n"
    "Issue and redeem the single-use pair tokens of the Astrid runtime: a\n"
    "signed-in user issues a short-lived token, a new device redeems it once.\n"
    "\n"
    "Commands:\n"
    "  issue PRINCIPAL        mint a token for PRINCIPAL and print it once\n"
    "  redeem [TOKEN | -]     use up a token; print its principal\n"
    "  list                   show the outstanding tokens (never the tokens)\n"
    "  revoke ID | --principal P\n"
    "                         delete a token by id, or all of a principal's\n"
    "  prune                  delete expired tokens\n"
    "  path                   print the store's path or URI (password masked)\n"
    "  check                  verify the store without changing it\n"
    "  init                   create the store (file and directory, or the\n"
    "                         database schema), or upgrade its schema\n"
    "\n"
    "Options (also accepted after the command):\n"
    "  --store FILE|URI       use the store FILE, or the PostgreSQL database URI\n"
    "                         (postgresql://[user@]host/db; password from\n"
    "                         ~/.pgpass or PGPASSWORD, not the command line)\n"
    "  --home DIR             use DIR/etc/pair-tokens.toml\n"
    "  --audit-log FILE       append one JSON line per issue, redeem, revoke and\n"
    "                         prune to FILE (0600); default: syslog (authpriv)\n"
    "  --no-syslog            no audit events to syslog\n"
    "  -h, --help             show this help; 'pairtok COMMAND --help' for one command\n"
    "      --version          show the version\n"
    "\n"
    "Without --store or --home the store is $PAIRTOK_STORE (a path or a URI),\n"
    "else $ASTRID_HOME/etc/pair-tokens.toml, else\n"
    "$HOME/.astrid/etc/pair-tokens.toml.  $PAIRTOK_AUDIT_LOG names the audit\n"
    "log when --audit-log is not given.\n"
    "\n"
    "Exit status: 0 success, 1 redeem refused, 2 usage error or invalid\n"
    "argument, 3 store problem.  See pairtok(1).\n";

static const char issue_help[] =
    "Usage: pairtok issue PRINCIPAL [--label TEXT] [--ttl DURATION] [--json] [--qr]\n"
    "\n"
    "Mint a single-use pair token for PRINCIPAL ([A-Za-z0-9_-]{1,64}) and print\n"
    "it alone on one line of standard output, so that T=$(pairtok issue alice)\n"
    "captures it.  Only its hash is stored: this is the one time it is shown.\n"
    "When standard error is a terminal, the principal, id and expiry go there.\n"
    "\n"
    "Options:\n"
    "  --label TEXT     a note shown by 'list', e.g. \"alice's phone\"\n"
    "  --ttl DURATION   lifetime, 1s to 1h (default 5m): whole seconds (300), or\n"
    "                   h, m and s in that order (90s, 5m, 1h, 1m30s, 1h0m0s)\n"
    "  --json           print {token, id, principal, label, issued_at_epoch,\n"
    "                   expires_at_epoch} instead of the bare token\n"
    "  --qr             also draw the token as a QR code on standard error, for\n"
    "                   a phone to scan; standard output is unchanged\n"
    "  -h, --help       show this help\n";

static const char redeem_help[] =
    "Usage: pairtok redeem [TOKEN | -] [--json]\n"
    "\n"
    "Use up a pair token and print the principal it was issued for.  A token\n"
    "works once, before it expires; every refusal - unknown, expired or used -\n"
    "gets the same message and exit status 1.\n"
    "\n"
    "Without TOKEN, or with '-', the token is the first line of standard input\n"
    "(surrounding whitespace ignored, at most 4096 bytes read).  Prefer that:\n"
    "a command-line argument is visible in 'ps' and saved in shell history.\n"
    "At a terminal it prompts for the token and does not echo it.\n"
    "A TOKEN argument may begin with '-'.\n"
    "\n"
    "Options:\n"
    "  --json           print {principal, label, issued_at_epoch,\n"
    "                   expires_at_epoch, id} instead of the principal\n"
    "  -h, --help       show this help\n";

static const char list_help[] =
    "Usage: pairtok list [--principal P] [--json]\n"
    "\n"
    "Show the outstanding (unexpired) tokens, soonest to expire first: id,\n"
    "principal, label, when issued (UTC) and time left.  Tokens themselves are\n"
    "never stored, so never shown.  Control characters in labels are escaped.\n"
    "\n"
    "Options:\n"
    "  --principal P    only the tokens of principal P\n"
    "  --json           print an array of {id, principal, label,\n"
    "                   issued_at_epoch, expires_at_epoch}\n"
    "  -h, --help       show this help\n";

static const char revoke_help[] =
    "Usage: pairtok revoke ID\n"
    "       pairtok revoke --principal P\n"
    "\n"
    "Delete the token whose id starts with ID (at least 8 hex digits, as shown\n"
    "by 'list'), or every token of principal P, and print how many went.\n"
    "An ID that matches no token or several is an error (exit status 2).\n"
    "\n"
    "Options:\n"
    "  --principal P    revoke all of P's tokens (none is not an error)\n"
    "  -h, --help       show this help\n";

static const char prune_help[] = "Usage: pairtok prune\n"
                                 "\n"
                                 "Delete every expired token and print how many there were.\n"
                                 "\n"
                                 "Options:\n"
                                 "  -h, --help       show this help\n";

static const char path_help[] = "Usage: pairtok path\n"
                                "\n"
                                "Print the path or URI of the store the other commands would\n"
                                "use, any password masked as ****.  Nothing is read or\n"
                                "created, and no database is contacted.\n"
                                "\n"
                                "Options:\n"
                                "  -h, --help       show this help\n";

static const char check_help[] =
    "Usage: pairtok check\n"
    "\n"
    "Verify the store without changing it: the file's, its directory's and its\n"
    "lock file's safety, the format, every record, leftover temporary files;\n"
    "on a database, the connection, the schema version, stuck reservations\n"
    "and records issued in the future.  Each problem\n"
    "is printed on standard error; then 'ok' (exit status 0) or the number of\n"
    "problems (exit status 3).  A store that does not exist yet is healthy.\n"
    "\n"
    "Options:\n"
    "  -h, --help       show this help\n";

static const char init_help[] =
    "Usage: pairtok init\n"
    "\n"
    "Create what the store needs: for a file, its directory (0700) and an\n"
    "empty store (0600), or check the one that is there; for a database, the\n"
    "schema, created or upgraded (the first write would create it too, if the\n"
    "user may).  Prints 'initialised' and the store's location.\n"
    "\n"
    "Options:\n"
    "  -h, --help       show this help\n";

static const struct {
    const char *command;
    const char *text;
} helps[] = {
    {"issue", issue_help}, {"redeem", redeem_help}, {"list", list_help},   {"revoke", revoke_help},
    {"prune", prune_help}, {"path", path_help},     {"check", check_help}, {"init", init_help},
};

void cli_print_help(FILE *out, const char *command)
{
    const char *text = tool_help;
    for (size_t i = 0; command != NULL && i < sizeof helps / sizeof helps[0]; i++) {
        if (strcmp(helps[i].command, command) == 0) {
            text = helps[i].text;
        }
    }
    fputs(text, out);
}

void cli_print_version(void)
{
    fputs("pairtok " PAIRTOK_VERSION "\n", stdout);
}
