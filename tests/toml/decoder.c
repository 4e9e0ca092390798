/* SPDX-License-Identifier: ISC */
/*
 * toml-decoder - a toml-test decoder for the pairtok TOML reader.
 *
 * Reads a TOML document on stdin.  On success prints the toml-test tagged
 * JSON on stdout ({"key": {"type": "integer", "value": "1"}}, arrays as JSON
 * arrays, tables as objects) and exits 0; on error prints `line:col: message`
 * on stderr and exits 1.  Exit 2 means the decoder itself failed (I/O,
 * memory), not the document.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../read_stream.h"
#include "toml.h"

/* All of stdin in a buffer of exactly its length: no NUL after it, so that
 * ASan catches any read past the end. */
static char *read_all(FILE *in, size_t *len)
{
    char *text = read_stream(in, len);
    char *exact = text != NULL ? exact_copy(text, *len) : NULL;
    free(text);
    return exact;
}

static void format_float(char *out, size_t cap, double d)
{
    if (isnan(d)) {
        snprintf(out, cap, "nan");
    } else if (isinf(d)) {
        snprintf(out, cap, "%s", d < 0 ? "-inf" : "inf");
    } else {
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(out, cap, "%.*g", digits, d);
            if (strtod(out, NULL) == d) {
                break;
            }
        }
    }
}

static void format_datetime(char *out, size_t cap, toml_type type, const toml_datetime *dt)
{
    size_t n = 0;
    if (type != TOML_TIME_LOCAL) {
        n += (size_t)snprintf(out + n, cap - n, "%04d-%02u-%02u", dt->year, dt->month, dt->day);
        if (type == TOML_DATE_LOCAL) {
            return;
        }
        out[n++] = 'T';
    }
    n += (size_t)snprintf(out + n, cap - n, "%02u:%02u:%02u", dt->hour, dt->minute, dt->second);
    if (dt->frac_digits > 0) {
        uint32_t frac = dt->nanosecond;
        for (unsigned i = dt->frac_digits; i < 9; i++) {
            frac /= 10;
        }
        n += (size_t)snprintf(out + n, cap - n, ".%0*u", (int)dt->frac_digits, (unsigned)frac);
    }
    if (type == TOML_DATETIME) {
        int off = dt->offset_minutes;
        if (off == 0) {
            snprintf(out + n, cap - n, "Z");
        } else {
            int a = off < 0 ? -off : off;
            snprintf(out + n, cap - n, "%c%02d:%02d", off < 0 ? '-' : '+', a / 60, a % 60);
        }
    }
}

/* toml-test's name for each kind of date and time. */
static const char *datetime_tag(toml_type type)
{
    switch (type) {
    case TOML_DATETIME:
        return "datetime";
    case TOML_DATETIME_LOCAL:
        return "datetime-local";
    case TOML_DATE_LOCAL:
        return "date-local";
    default:
        return "time-local";
    }
}

static json_t *tagged(const char *type, const char *value, size_t len)
{
    return json_pack("{s:s, s:s%}", "type", type, "value", value, len);
}

static json_t *to_json(const toml_node *n);

static json_t *table_to_json(const toml_node *t)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj != NULL && i < toml_table_len(t); i++) {
        const char *key;
        size_t key_len;
        const toml_node *child = toml_table_at(t, i, &key, &key_len);
        json_t *value = to_json(child);
        /* Keys may hold NUL, so pass their length. */
        if (value == NULL || json_object_setn_new(obj, key, key_len, value) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    return obj;
}

static json_t *array_to_json(const toml_node *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < toml_array_len(a); i++) {
        if (json_array_append_new(arr, to_json(toml_array_at(a, i))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *to_json(const toml_node *n)
{
    char buf[64];
    size_t len;
    const char *s;
    switch (toml_node_type(n)) {
    case TOML_TABLE:
        return table_to_json(n);
    case TOML_ARRAY:
        return array_to_json(n);
    case TOML_STRING:
        s = toml_string(n, &len);
        return tagged("string", s, len);
    case TOML_INTEGER:
        snprintf(buf, sizeof buf, "%" PRId64, toml_integer(n));
        return tagged("integer", buf, strlen(buf));
    case TOML_FLOAT:
        format_float(buf, sizeof buf, toml_float(n));
        return tagged("float", buf, strlen(buf));
    case TOML_BOOLEAN:
        return tagged("bool", toml_boolean(n) ? "true" : "false", toml_boolean(n) ? 4 : 5);
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        format_datetime(buf, sizeof buf, toml_node_type(n), toml_datetime_get(n));
        return tagged(datetime_tag(toml_node_type(n)), buf, strlen(buf));
    }
    return NULL;
}

int main(void)
{
    size_t len = 0;
    char *text = read_all(stdin, &len);
    if (text == NULL) {
        fprintf(stderr, "toml-decoder: cannot read stdin\n");
        return 2;
    }
    toml_doc *doc;
    toml_error err;
    if (toml_parse(text, len, &doc, &err) != 0) {
        fprintf(stderr, "%u:%u: %s\n", err.line, err.col, err.message);
        free(text);
        return err.oom ? 2 : 1;
    }
    json_t *json = to_json(toml_root(doc));
    int rc = 2;
    if (json != NULL && json_dumpf(json, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0) {
        fputc('\n', stdout);
        rc = fflush(stdout) == 0 ? 0 : 2;
    }
    json_decref(json);
    toml_free(doc);
    free(text);
    return rc;
}
