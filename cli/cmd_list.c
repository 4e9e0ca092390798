/* SPDX-License-Identifier: ISC */
/*
 * cmd_list.c - `pairtok list [--principal P] [--json]`: the outstanding
 * tokens, soonest to expire first (the library sorts them).
 *
 * Labels come from a file a person may have edited, so every cell is
 * escaped before it reaches the terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "escape.h"
#include "json_out.h"
#include "timefmt.h"

/* Longer labels are cut in the table; --json has them whole. */
#define LABEL_WIDTH_MAX 40

enum { COL_ID, COL_PRINCIPAL, COL_LABEL, COL_ISSUED, COL_EXPIRES, N_COLS };

static const char *const headers[N_COLS] = {"ID", "PRINCIPAL", "LABEL", "ISSUED (UTC)",
                                            "EXPIRES IN"};

typedef struct row {
    char *cell[N_COLS]; /* heap strings, free() each */
} row;

/* `text` cut to LABEL_WIDTH_MAX code points, the last one an ellipsis. */
static char *truncate_label(char *text)
{
    if (cli_text_width(text) <= LABEL_WIDTH_MAX) {
        return text;
    }
    size_t cut = 0;
    for (size_t points = 0; points < LABEL_WIDTH_MAX - 1; points++) {
        do {
            cut++;
        } while (((unsigned char)text[cut] & 0xC0) == 0x80);
    }
    char *out = malloc(cut + sizeof "\u2026");
    if (out != NULL) {
        memcpy(out, text, cut);
        memcpy(out + cut, "\u2026", sizeof "\u2026");
    }
    free(text);
    return out;
}

/* Fill `r` for `rec`; returns false when memory ran out. */
static bool make_row(row *r, const pairtok_record *rec, uint64_t now)
{
    char id[PAIRTOK_ID_DISPLAY_LEN + 1], issued[CLI_TIME_MAX], left[CLI_TIME_MAX];
    memcpy(id, rec->token_hash, PAIRTOK_ID_DISPLAY_LEN);
    id[PAIRTOK_ID_DISPLAY_LEN] = '\0';
    cli_format_utc(rec->issued_at_epoch, issued);
    cli_format_duration(rec->expires_at_epoch > now ? rec->expires_at_epoch - now : 0, left);
    r->cell[COL_ID] = strdup(id);
    r->cell[COL_PRINCIPAL] = cli_escape(rec->principal);
    r->cell[COL_LABEL] = rec->label != NULL ? cli_escape(rec->label) : strdup("-");
    if (r->cell[COL_LABEL] != NULL) {
        r->cell[COL_LABEL] = truncate_label(r->cell[COL_LABEL]);
    }
    r->cell[COL_ISSUED] = strdup(issued);
    r->cell[COL_EXPIRES] = strdup(left);
    for (int c = 0; c < N_COLS; c++) {
        if (r->cell[c] == NULL) {
            return false;
        }
    }
    return true;
}

static void print_line(const char *const cells[N_COLS], const size_t width[N_COLS])
{
    for (int c = 0; c < N_COLS; c++) {
        fputs(cells[c], stdout);
        if (c + 1 < N_COLS) {
            printf("%*s", (int)(width[c] - cli_text_width(cells[c]) + 2), "");
        }
    }
    putchar('\n');
}

static void print_rows(const row *rows, size_t n)
{
    size_t width[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        width[c] = strlen(headers[c]);
        for (size_t i = 0; i < n; i++) {
            size_t w = cli_text_width(rows[i].cell[c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    print_line(headers, width);
    for (size_t i = 0; i < n; i++) {
        print_line((const char *const *)rows[i].cell, width);
    }
}

static int print_table(const cli_ctx *ctx, const pairtok_record_list *list, uint64_t now)
{
    if (list->count == 0) {
        puts("no outstanding pair tokens");
        return cli_finish_stdout(ctx, CLI_EXIT_OK);
    }
    row *rows = calloc(list->count, sizeof *rows);
    bool ok = rows != NULL;
    for (size_t i = 0; ok && i < list->count; i++) {
        ok = make_row(&rows[i], &list->items[i], now);
    }
    if (ok) {
        print_rows(rows, list->count);
    }
    for (size_t i = 0; rows != NULL && i < list->count; i++) {
        for (int c = 0; c < N_COLS; c++) {
            free(rows[i].cell[c]);
        }
    }
    free(rows);
    if (!ok) {
        cli_warn(ctx, "%s", strerror(ENOMEM));
        return CLI_EXIT_STORE;
    }
    return cli_finish_stdout(ctx, CLI_EXIT_OK);
}

static int print_json(const cli_ctx *ctx, const pairtok_record_list *list)
{
    json_t *array = json_array();
    bool ok = array != NULL;
    for (size_t i = 0; ok && i < list->count; i++) {
        json_t *obj = cli_json_record(&list->items[i], NULL, CLI_JSON_LIST);
        ok = json_array_append_new(array, obj) == 0; /* fails on a NULL obj */
    }
    if (!ok) {
        errno = ENOMEM;
    } else {
        ok = cli_json_write(STDOUT_FILENO, array) == 0;
    }
    json_decref(array);
    if (!ok) {
        cli_warn(ctx, "cannot write the list: %s", strerror(errno));
        return CLI_EXIT_STORE;
    }
    return CLI_EXIT_OK;
}

int cmd_list(cli_ctx *ctx, int argc, char **argv)
{
    const char *principal = NULL;
    bool json = false;
    const cli_option options[] = {
        {"principal", &principal, NULL},
        {"json", NULL, &json},
        {NULL, NULL, NULL},
    };
    cli_operands ops;
    int status;
    if (!cli_parse_args(ctx, argc, argv, options, 0, &ops, &status)) {
        return status;
    }
    /* Checked before the store is opened, so that a typo is a usage error
     * whatever state the store is in. */
    if (principal != NULL && !cli_principal_is_well_formed(principal)) {
        return cli_usage_error(ctx, "--principal: not a valid principal ([A-Za-z0-9_-]{1,64})");
    }
    pairtok_store *store;
    status = cli_open_store(ctx, &store);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    pairtok_record_list list = {0};
    pairtok_error err;
    uint64_t now = pairtok_now_epoch();
    if (pairtok_list_at(store, principal, &list, now, &err) != PAIRTOK_OK) {
        status = cli_fail(ctx, &err);
    } else {
        status = json ? print_json(ctx, &list) : print_table(ctx, &list, now);
    }
    pairtok_record_list_free(&list);
    pairtok_store_close(store);
    return status;
}
