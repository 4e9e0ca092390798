/* SPDX-License-Identifier: ISC */
/*
 * help.h - the --help texts of pairtok and of each command.
 */
#ifndef PAIRTOK_CLI_HELP_H
#define PAIRTOK_CLI_HELP_H

#include <stdio.h>

/* Print the help of `command` (NULL: the whole tool) to `out`. */
void cli_print_help(FILE *out, const char *command);

/* Print `pairtok <version>` to stdout. */
void cli_print_version(void);

#endif /* PAIRTOK_CLI_HELP_H */
