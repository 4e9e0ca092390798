/* SPDX-License-Identifier: ISC */
/*
 * qr2pbm.c - turn the QR code `pairtok issue --qr` draws with UTF-8 half
 * blocks back into a picture (plain PBM), so the CLI tests can have a real
 * QR decoder (zbarimg) read it as a phone camera would.
 *
 *     qr2pbm [SCALE] < drawing > picture.pbm
 *
 * The drawing is for a dark terminal: a drawn block is a light module.
 * Each character is one module wide and two high (upper and lower half).
 * Lines without block characters are ignored.  Exit 1 on malformed input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_MODULES = 256 };

static unsigned char grid[2 * MAX_MODULES][MAX_MODULES]; /* 1 = dark */

/* Decode one line of half blocks into two module rows; returns its width,
 * 0 if the line holds no block character, -1 if it is malformed. */
static int decode_line(const char *line, int row)
{
    int col = 0;
    for (const unsigned char *p = (const unsigned char *)line; *p && *p != '\n';) {
        int upper_light, lower_light;
        if (*p == ' ') {
            upper_light = lower_light = 0;
            p += 1;
        } else if (p[0] == 0xE2 && p[1] == 0x96 && (p[2] == 0x88 || p[2] == 0x80 || p[2] == 0x84)) {
            upper_light = p[2] != 0x84; /* full or upper half */
            lower_light = p[2] != 0x80; /* full or lower half */
            p += 3;
        } else if (*p == 0x1b) { /* skip a colour escape sequence */
            while (*p && *p != 'm') {
                p++;
            }
            p += *p == 'm';
            continue;
        } else {
            return col == 0 ? 0 : -1;
        }
        if (col >= MAX_MODULES) {
            return -1;
        }
        grid[row][col] = (unsigned char)!upper_light;
        grid[row + 1][col] = (unsigned char)!lower_light;
        col++;
    }
    return col;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 4;
    char line[8192];
    int rows = 0, width = 0;
    while (fgets(line, sizeof line, stdin) != NULL && rows < 2 * MAX_MODULES) {
        int w = decode_line(line, rows);
        if (w < 0 || (w > 0 && width != 0 && w != width)) {
            return 1;
        }
        if (w > 0) {
            width = w;
            rows += 2;
        }
    }
    if (width == 0 || scale < 1 || scale > 16) {
        return 1;
    }
    printf("P1\n%d %d\n", width * scale, rows * scale);
    for (int r = 0; r < rows * scale; r++) {
        for (int c = 0; c < width * scale; c++) {
            putchar(grid[r / scale][c / scale] ? '1' : '0');
        }
        putchar('\n');
    }
    return 0;
}
