/* SPDX-License-Identifier: ISC */
/*
 * qr.h - draw a pair token as a QR code in a terminal.
 */
#ifndef PAIRTOK_CLI_QR_H
#define PAIRTOK_CLI_QR_H

#include <stdbool.h>

/*
 * Draw `text` (8-bit mode, error correction level M) on `fd` with UTF-8
 * half blocks, two modules per character cell, inside a quiet zone of four
 * modules.  Light modules are drawn as ink, so on a light-on-dark terminal
 * the code reads dark-on-light, as scanners expect; with `color` the
 * colours are set explicitly (bright white on black) so it reads right on
 * any terminal theme.  The module matrix and our drawing buffers are wiped;
 * libqrencode frees its own copies of the text without wiping them, so
 * what stands between those and a core file is main.c turning core dumps
 * off (RLIMIT_CORE 0, PR_SET_DUMPABLE 0).
 *
 * Returns 0, or -1 with errno set (encoding or writing failed).
 */
int cli_qr_draw(int fd, const char *text, bool color);

#endif /* PAIRTOK_CLI_QR_H */
