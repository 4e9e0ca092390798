/* SPDX-License-Identifier: ISC */
/*
 * escape.h - make untrusted text safe to print on a terminal.
 *
 * The library refuses control characters in labels it writes, but a store
 * edited by hand can hold anything that is valid UTF-8, and a label is the
 * one free-text field `list` prints.
 */
#ifndef PAIRTOK_CLI_ESCAPE_H
#define PAIRTOK_CLI_ESCAPE_H

#include <stddef.h>

/*
 * A new NUL-terminated copy of `in` in which nothing can drive a terminal:
 * `\` becomes `\\`; TAB, LF and CR become `\t`, `\n`, `\r`; other C0
 * controls, DEL and bytes that are not valid UTF-8 become `\xHH`; C1
 * controls (U+0080-U+009F), bidirectional and line/paragraph separators
 * become `\uHHHH`.  Everything else is copied.  Returns NULL when memory
 * runs out; free() the result.
 */
char *cli_escape(const char *in);

/* Number of code points in the UTF-8 string `s` (its width in a table). */
size_t cli_text_width(const char *s);

#endif /* PAIRTOK_CLI_ESCAPE_H */
