/* SPDX-License-Identifier: ISC */
/*
 * replay - run a libFuzzer harness over saved inputs without libFuzzer, so
 * that `make check` replays every seed corpus with the ordinary compiler
 * (and under ASan+UBSan in the sanitizer build).
 *
 *   replay_<name> [DIR|FILE]...
 *
 * Without arguments the corpus is fuzz/corpus/<name>, <name> coming from
 * the program's own name.  Prints one TAP line per argument: `ok N -
 * replayed K inputs from DIR`.  A harness that crashes ends the run, which
 * the test runner counts as a failure.  Files are replayed in name order.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tests/read_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed one file to the harness; -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t len = 0;
    char *text = read_stream(f, &len);
    fclose(f);
    /* An exact-size copy, as libFuzzer gives, so overreads are caught. */
    char *exact = text != NULL ? exact_copy(text, len) : NULL;
    free(text);
    if (exact == NULL) {
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of `dir` in name order; the count or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    char **names = NULL;
    size_t len = 0;
    long count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char **bigger = realloc(names, (len + 1) * sizeof *names);
        if (bigger == NULL || (bigger[len] = strdup(e->d_name)) == NULL) {
            names = bigger != NULL ? bigger : names;
            count = -1;
            break;
        }
        names = bigger;
        len++;
    }
    closedir(d);
    qsort(names, len, sizeof *names, by_name);
    for (size_t i = 0; i < len; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            count = replay_file(path) == 0 ? count + 1 : -1;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

/* fuzz/corpus/<name> for a program called replay_<name>. */
static void default_corpus(const char *argv0, char *out, size_t cap)
{
    const char *base = strrchr(argv0, '/');
    base = base != NULL ? base + 1 : argv0;
    if (strncmp(base, "replay_", 7) == 0) {
        base += 7;
    }
    snprintf(out, cap, "fuzz/corpus/%s", base);
}

int main(int argc, char **argv)
{
    char fallback[4096];
    char *fallback_argv[] = {fallback};
    char **targets = argv + 1;
    int count = argc - 1;
    if (count == 0) {
        default_corpus(argv[0], fallback, sizeof fallback);
        targets = fallback_argv;
        count = 1;
    }
    int failed = 0;
    printf("1..%d\n", count);
    for (int i = 0; i < count; i++) {
        struct stat st;
        long n = -1;
        if (stat(targets[i], &st) == 0) {
            n = S_ISDIR(st.st_mode) ? replay_dir(targets[i])
                                    : (replay_file(targets[i]) == 0 ? 1 : -1);
        }
        if (n < 0) {
            printf("not ok %d - cannot read %s\n", i + 1, targets[i]);
            failed = 1;
        } else {
            printf("ok %d - replayed %ld inputs from %s\n", i + 1, n, targets[i]);
        }
        fflush(stdout);
    }
    return failed;
}
