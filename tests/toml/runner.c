/* SPDX-License-Identifier: ISC */
/*
 * toml-test-runner - runs the TOML 1.0 part of the toml-test suite through
 * toml-decoder and prints TAP.
 *
 *   toml-test-runner [SUITE_DIR]
 *
 * SUITE_DIR (default $TOML_TEST_DIR, else ../shared/toml-test) holds
 * tests/files-toml-1.0.0 and the files it lists.  The decoder is
 * $TOML_DECODER, else $BUILD/toml-decoder (BUILD defaults to build).
 *
 * A suite given by argument or TOML_TEST_DIR must be there.  When neither
 * is given and ../shared/toml-test does not exist (a clone of its own),
 * the run is one `ok 1 # SKIP` line saying how to enable it - except under
 * CI (CI set, and not to "false" or "0"), where that is a failure, so that
 * CI always runs every case.
 *
 * A valid/ file passes when the decoder exits 0 and its JSON matches the
 * expected one semantically: object keys in any order, integers and floats
 * by value (nan equals nan), date-times by value (T, t or space; Z or z or
 * +00:00; fractional digits to nanoseconds).  An invalid/ file passes when
 * the decoder exits 1 with a `line:col: message` error.  One TAP line per
 * file, then `# valid N/M, invalid N/M`; exit 1 if anything failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../read_stream.h"

#define DECODER_TIMEOUT_SECONDS 20

typedef struct outcome {
    int status; /* exit status, or -1 when it did not exit normally */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr, NUL-terminated */
} outcome;

static char *slurp(FILE *f)
{
    size_t len;
    rewind(f);
    return read_stream(f, &len);
}

/* Run the decoder with `input` on stdin; -1 if it could not be run. */
static int run_decoder(const char *decoder, const char *input, outcome *res)
{
    FILE *out = tmpfile(), *err = tmpfile();
    FILE *in = fopen(input, "rb");
    int rc = -1;
    if (out == NULL || err == NULL || in == NULL) {
        goto done;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        goto done;
    }
    if (pid == 0) {
        if (dup2(fileno(in), 0) < 0 || dup2(fileno(out), 1) < 0 || dup2(fileno(err), 2) < 0) {
            _exit(127);
        }
        alarm(DECODER_TIMEOUT_SECONDS);
        execl(decoder, decoder, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            goto done;
        }
    }
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    res->out = slurp(out);
    res->err = slurp(err);
    rc = res->out != NULL && res->err != NULL ? 0 : -1;
done:
    if (out != NULL) {
        fclose(out);
    }
    if (err != NULL) {
        fclose(err);
    }
    if (in != NULL) {
        fclose(in);
    }
    return rc;
}

/* ---- semantic comparison of tagged JSON ---- */

typedef struct moment {
    int fields; /* how many numbers were read */
    long v[7];  /* year month day hour minute second nanosecond */
    bool has_offset;
    long offset;
} moment;

static bool parse_number(const char **s, int digits, long *out)
{
    long v = 0;
    for (int i = 0; i < digits; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9') {
            return false;
        }
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += digits;
    *out = v;
    return true;
}

/* A date, time or both, from any of the spellings TOML allows. */
static bool parse_moment(const char *s, moment *m)
{
    memset(m, 0, sizeof *m);
    if (strlen(s) >= 10 && s[4] == '-') {
        if (!parse_number(&s, 4, &m->v[0]) || *s++ != '-' || !parse_number(&s, 2, &m->v[1]) ||
            *s++ != '-' || !parse_number(&s, 2, &m->v[2])) {
            return false;
        }
        m->fields = 3;
        if (*s == '\0') {
            return true;
        }
        if (*s != 'T' && *s != 't' && *s != ' ') {
            return false;
        }
        s++;
    }
    if (!parse_number(&s, 2, &m->v[3]) || *s++ != ':' || !parse_number(&s, 2, &m->v[4]) ||
        *s++ != ':' || !parse_number(&s, 2, &m->v[5])) {
        return false;
    }
    m->fields += 3;
    if (*s == '.') {
        s++;
        long scale = 100000000;
        if (*s < '0' || *s > '9') {
            return false;
        }
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10) {
            m->v[6] += (*s - '0') * scale;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        m->has_offset = true;
        s++;
    } else if (*s == '+' || *s == '-') {
        long h, mi;
        int sign = *s++ == '-' ? -1 : 1;
        if (!parse_number(&s, 2, &h) || *s++ != ':' || !parse_number(&s, 2, &mi)) {
            return false;
        }
        m->has_offset = true;
        m->offset = sign * (h * 60 + mi);
    }
    return *s == '\0';
}

static bool same_moment(const char *a, const char *b)
{
    moment x, y;
    return parse_moment(a, &x) && parse_moment(b, &y) && x.fields == y.fields &&
           memcmp(x.v, y.v, sizeof x.v) == 0 && x.has_offset == y.has_offset &&
           x.offset == y.offset;
}

static bool same_float(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*ea != '\0' || *eb != '\0') {
        return false;
    }
    if (isnan(x) || isnan(y)) {
        return isnan(x) && isnan(y);
    }
    return x == y && signbit(x) == signbit(y);
}

static bool same_integer(const char *a, const char *b)
{
    char *ea, *eb;
    errno = 0;
    long long x = strtoll(a, &ea, 10), y = strtoll(b, &eb, 10);
    return errno == 0 && *ea == '\0' && *eb == '\0' && x == y;
}

static bool is_tagged(const json_t *j)
{
    return json_is_object(j) && json_object_size(j) == 2 &&
           json_is_string(json_object_get(j, "type")) &&
           json_is_string(json_object_get(j, "value"));
}

static bool same_scalar(const json_t *want, const json_t *got)
{
    const char *type = json_string_value(json_object_get(want, "type"));
    const char *got_type = json_string_value(json_object_get(got, "type"));
    const json_t *wv = json_object_get(want, "value"), *gv = json_object_get(got, "value");
    const char *a = json_string_value(wv), *b = json_string_value(gv);
    if (strcmp(type, got_type) != 0) {
        return false;
    }
    if (strcmp(type, "integer") == 0) {
        return same_integer(a, b);
    }
    if (strcmp(type, "float") == 0) {
        return same_float(a, b);
    }
    if (strstr(type, "date") != NULL || strstr(type, "time") != NULL) {
        return same_moment(a, b);
    }
    return json_equal((json_t *)wv, (json_t *)gv); /* strings may hold NUL */
}

static bool same_json(const json_t *want, const json_t *got)
{
    if (is_tagged(want) || is_tagged(got)) {
        return is_tagged(want) && is_tagged(got) && same_scalar(want, got);
    }
    if (json_is_object(want)) {
        const char *key;
        size_t key_len;
        json_t *value;
        if (!json_is_object(got) || json_object_size(want) != json_object_size(got)) {
            return false;
        }
        json_object_keylen_foreach((json_t *)want, key, key_len, value)
        {
            json_t *other = json_object_getn(got, key, key_len);
            if (other == NULL || !same_json(value, other)) {
                return false;
            }
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (!same_json(json_array_get(want, i), json_array_get(got, i))) {
                return false;
            }
        }
        return true;
    }
    return json_equal((json_t *)want, (json_t *)got);
}

/* jansson refuses NUL in object keys, which TOML allows ("\u0000" = 1).
 * Both sides go through this, which rewrites each \u0000 escape as
 * \uDB80\uDC00 (U+F0000, private use), before parsing. */
static json_t *parse_json(const char *text, json_error_t *jerr)
{
    size_t len = strlen(text);
    char *copy = malloc(len * 2 + 1), *o = copy;
    if (copy == NULL) {
        return NULL;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '\\' && strncmp(p + 1, "u0000", 5) == 0) {
            memcpy(o, "\\uDB80\\uDC00", 12);
            o += 12;
            p += 5;
        } else if (p[0] == '\\' && p[1] != '\0') {
            *o++ = *p++;
            *o++ = *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    json_t *json = json_loads(copy, JSON_DECODE_ANY, jerr);
    free(copy);
    return json;
}

static json_t *load_json_file(const char *path, json_error_t *jerr)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(jerr->text, sizeof jerr->text, "cannot open");
        return NULL;
    }
    char *text = slurp(f);
    fclose(f);
    json_t *json = text != NULL ? parse_json(text, jerr) : NULL;
    free(text);
    return json;
}

/* ---- the two kinds of test ---- */

/* Print the first lines of `text` as TAP diagnostics. */
static void diag(const char *label, const char *text)
{
    printf("#   %s:", label);
    int lines = 0;
    for (const char *p = text; *p != '\0' && lines < 8; p++) {
        if (p == text || p[-1] == '\n') {
            printf("\n#     ");
            lines++;
        }
        if (*p != '\n') {
            putchar(*p);
        }
    }
    putchar('\n');
}

static bool check_valid(const char *decoder, const char *toml_path, const char *json_path)
{
    outcome res = {0};
    if (run_decoder(decoder, toml_path, &res) != 0) {
        printf("#   cannot run %s\n", decoder);
        return false;
    }
    bool ok = false;
    json_error_t jerr;
    json_t *want = load_json_file(json_path, &jerr);
    json_t *got = res.status == 0 ? parse_json(res.out, &jerr) : NULL;
    if (want == NULL) {
        printf("#   cannot read %s: %s\n", json_path, jerr.text);
    } else if (res.status != 0) {
        printf("#   decoder exited with %d\n", res.status);
        diag("stderr", res.err);
    } else if (got == NULL) {
        printf("#   decoder printed invalid JSON: %s\n", jerr.text);
    } else if (!same_json(want, got)) {
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        diag("expected", w != NULL ? w : "?");
        diag("got", res.out);
        free(w);
    } else {
        ok = true;
    }
    json_decref(want);
    json_decref(got);
    free(res.out);
    free(res.err);
    return ok;
}

/* "line:col: message" with line and col from 1. */
static bool is_positioned_error(const char *s)
{
    unsigned line, col;
    int used = 0;
    return sscanf(s, "%u:%u: %n", &line, &col, &used) == 2 && used > 0 && line > 0 && col > 0 &&
           s[used] != '\0' && s[used] != '\n';
}

static bool check_invalid(const char *decoder, const char *toml_path)
{
    outcome res = {0};
    if (run_decoder(decoder, toml_path, &res) != 0) {
        printf("#   cannot run %s\n", decoder);
        return false;
    }
    bool ok = res.status == 1 && is_positioned_error(res.err);
    if (!ok) {
        printf("#   decoder exited with %d (want 1 and `line:col: message`)\n", res.status);
        diag("stdout", res.out);
        diag("stderr", res.err);
    }
    free(res.out);
    free(res.err);
    return ok;
}

/* ---- main ---- */

typedef struct list {
    char **names;
    size_t len;
} list;

static int read_list(const char *path, list *tests)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (f == NULL) {
        return -1;
    }
    tests->names = NULL;
    tests->len = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t n = strlen(line);
        if (n < 5 || strcmp(line + n - 5, ".toml") != 0) {
            continue;
        }
        char **bigger = realloc(tests->names, (tests->len + 1) * sizeof *bigger);
        char *copy = strdup(line);
        if (bigger == NULL || copy == NULL) {
            free(copy);
            free(bigger != NULL ? bigger : tests->names);
            fclose(f);
            return -1;
        }
        tests->names = bigger;
        tests->names[tests->len++] = copy;
    }
    fclose(f);
    return 0;
}

#define DEFAULT_SUITE "../shared/toml-test"

static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && *ci != '\0' && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* The suite is not where it is looked for by default, and nobody asked for
 * it: a skip, or under CI a failure.  Returns the exit status. */
static int suite_missing(void)
{
    if (in_ci()) {
        printf("1..1\nnot ok 1 - toml-test suite not found at " DEFAULT_SUITE
               "; CI must run it: set TOML_TEST_DIR to a toml-test checkout\n");
        return 1;
    }
    printf("1..1\nok 1 - toml-test conformance # SKIP no suite at " DEFAULT_SUITE
           "; to run it, set TOML_TEST_DIR to a toml-test checkout\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *suite = argc > 1 ? argv[1] : getenv("TOML_TEST_DIR");
    const char *build = getenv("BUILD");
    const char *decoder_env = getenv("TOML_DECODER");
    char decoder[4096], path[4096], json_path[4096];
    if (suite == NULL || *suite == '\0') {
        if (access(DEFAULT_SUITE, F_OK) != 0 && errno == ENOENT) {
            return suite_missing();
        }
        suite = DEFAULT_SUITE;
    }
    if (build == NULL || *build == '\0') {
        build = "build";
    }
    if (decoder_env != NULL && *decoder_env != '\0') {
        snprintf(decoder, sizeof decoder, "%s", decoder_env);
    } else {
        snprintf(decoder, sizeof decoder, "%s/toml-decoder", build);
    }
    list tests;
    snprintf(path, sizeof path, "%s/tests/files-toml-1.0.0", suite);
    if (read_list(path, &tests) != 0 || tests.len == 0) {
        printf("1..1\nnot ok 1 - cannot read the toml-test list %s\n", path);
        return 1;
    }
    size_t valid = 0, valid_ok = 0, invalid = 0, invalid_ok = 0;
    printf("1..%zu\n", tests.len);
    for (size_t i = 0; i < tests.len; i++) {
        const char *name = tests.names[i];
        bool is_valid = strncmp(name, "valid/", 6) == 0;
        bool ok;
        snprintf(path, sizeof path, "%s/tests/%s", suite, name);
        if (is_valid) {
            snprintf(json_path, sizeof json_path, "%.*s.json", (int)(strlen(path) - 5), path);
            ok = check_valid(decoder, path, json_path);
            valid++;
            valid_ok += ok;
        } else {
            ok = check_invalid(decoder, path);
            invalid++;
            invalid_ok += ok;
        }
        printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, name);
        free(tests.names[i]);
    }
    free(tests.names);
    printf("# valid %zu/%zu, invalid %zu/%zu\n", valid_ok, valid, invalid_ok, invalid);
    return valid_ok == valid && invalid_ok == invalid ? 0 : 1;
}
