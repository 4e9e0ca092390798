/* SPDX-License-Identifier: ISC */
/*
 * jsonq.c - a tiny JSON query for the CLI tests, so that they parse the
 * output of `pairtok --json` instead of grepping it, without python or jq.
 *
 *     jsonq [-t] PATH < file.json
 *
 * Standard input must hold exactly one JSON value (else exit 1).  PATH is
 * `.` for the whole value or dot-separated keys and array indexes, e.g.
 * `0.label`.  Prints what PATH names: a string raw, a number in decimal,
 * true/false/null, an object as its keys in order (`{a,b}`), an array as
 * its length (`[3]`); with -t, its type instead.  Exit 2: no such PATH.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static void print_value(const json_t *v)
{
    const char *key;
    json_t *member;
    const char *sep = "";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        putchar('{');
        json_object_foreach((json_t *)v, key, member)
        {
            printf("%s%s", sep, key);
            sep = ",";
        }
        puts("}");
        return;
    case JSON_ARRAY:
        printf("[%zu]\n", json_array_size(v));
        return;
    case JSON_STRING:
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        putchar('\n');
        return;
    case JSON_INTEGER:
        printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
        return;
    case JSON_REAL:
        printf("%.17g\n", json_real_value(v));
        return;
    default:
        puts(type_name(v));
        return;
    }
}

/* One step of the path: a key of an object or an index of an array. */
static json_t *step(json_t *v, const char *part)
{
    if (json_is_object(v)) {
        return json_object_get(v, part);
    }
    if (json_is_array(v)) {
        char *end;
        errno = 0;
        unsigned long index = strtoul(part, &end, 10);
        return *part != '\0' && *end == '\0' && errno == 0 ? json_array_get(v, index) : NULL;
    }
    return NULL;
}

static json_t *walk(json_t *v, char *path)
{
    if (strcmp(path, ".") == 0) {
        return v;
    }
    for (char *save = NULL, *part = strtok_r(path, ".", &save); part != NULL && v != NULL;
         part = strtok_r(NULL, ".", &save)) {
        v = step(v, part);
    }
    return v;
}

int main(int argc, char **argv)
{
    int arg = 1;
    int want_type = argc > 1 && strcmp(argv[1], "-t") == 0;
    arg += want_type;
    if (argc != arg + 1) {
        fputs("usage: jsonq [-t] PATH < file.json\n", stderr);
        return 2;
    }
    json_error_t error;
    json_t *root = json_loadf(stdin, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        fprintf(stderr, "jsonq: %d:%d: %s\n", error.line, error.column, error.text);
        return 1;
    }
    json_t *v = walk(root, argv[arg]);
    int status = 0;
    if (v == NULL) {
        fprintf(stderr, "jsonq: no %s\n", argv[arg]);
        status = 2;
    } else if (want_type) {
        puts(type_name(v));
    } else {
        print_value(v);
    }
    json_decref(root);
    return status;
}
