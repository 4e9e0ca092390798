/* SPDX-License-Identifier: ISC */
/*
 * qr.c - draw a pair token as a QR code in a terminal (qr.h).
 */
#include "qr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>
#include <sodium.h>

#include "cli.h"

/* The quiet zone the QR specification asks for, in modules. */
#define QUIET_ZONE 4

#define SGR_COLORS "\x1b[40;97m" /* black background, bright white ink */
#define SGR_RESET "\x1b[0m"

/* Is the module at (x, y) of the padded code light?  Outside the symbol
 * (the quiet zone) everything is light. */
static bool is_light(const QRcode *qr, int x, int y)
{
    int w = qr->width;
    x -= QUIET_ZONE;
    y -= QUIET_ZONE;
    if (x < 0 || y < 0 || x >= w || y >= w) {
        return true;
    }
    return (qr->data[(size_t)y * (size_t)w + (size_t)x] & 1) == 0;
}

/* The cell for two stacked modules; `bottom` is false below the code. */
static const char *half_block(bool top, bool bottom)
{
    if (top && bottom) {
        return "\u2588"; /* full block */
    }
    if (top) {
        return "\u2580"; /* upper half */
    }
    return bottom ? "\u2584" /* lower half */ : " ";
}

static char *append(char *o, const char *s)
{
    size_t len = strlen(s);
    memcpy(o, s, len);
    return o + len;
}

/* Render rows y and y + 1 of the padded code into `line`; returns its end. */
static char *render_row(const QRcode *qr, int size, int y, bool color, char *line)
{
    char *o = color ? append(line, SGR_COLORS) : line;
    for (int x = 0; x < size; x++) {
        bool bottom = y + 1 < size && is_light(qr, x, y + 1);
        o = append(o, half_block(is_light(qr, x, y), bottom));
    }
    if (color) {
        o = append(o, SGR_RESET);
    }
    return append(o, "\n");
}

static int draw(int fd, const QRcode *qr, bool color)
{
    int size = qr->width + 2 * QUIET_ZONE;
    /* Three bytes per cell at most, plus the colour escapes and newline. */
    size_t cap = (size_t)size * 3 + sizeof SGR_COLORS + sizeof SGR_RESET + 1;
    char *line = malloc(cap);
    if (line == NULL) {
        return -1;
    }
    int rc = 0;
    for (int y = 0; y < size && rc == 0; y += 2) {
        char *end = render_row(qr, size, y, color, line);
        rc = cli_write_all(fd, line, (size_t)(end - line));
    }
    int saved = errno;
    sodium_memzero(line, cap);
    free(line);
    errno = saved;
    return rc;
}

int cli_qr_draw(int fd, const char *text, bool color)
{
    errno = 0;
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL) {
        if (errno == 0) {
            errno = EINVAL;
        }
        return -1;
    }
    int rc = draw(fd, qr, color);
    int saved = errno;
    sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
    QRcode_free(qr);
    errno = saved;
    return rc;
}
