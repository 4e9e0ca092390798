/* SPDX-License-Identifier: ISC */
/* paths.c - where the file store lives: `$ASTRID_HOME/etc/pair-tokens.toml`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

pairtok_status pairtok_path_for(const char *astrid_home, char *out, size_t out_size,
                                pairtok_error *err)
{
    if (out_size > 0) {
        out[0] = '\0';
    }
    if (astrid_home[0] == '\0') {
        return pt_fail(err, PAIRTOK_EINVAL, 0, "astrid home: must not be empty");
    }
    int n = snprintf(out, out_size, "%s/etc/pair-tokens.toml", astrid_home);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pt_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "astrid home: path too long");
    }
    return PAIRTOK_OK;
}

pairtok_status pairtok_default_path(char *out, size_t out_size, pairtok_error *err)
{
    const char *home = getenv("ASTRID_HOME");
    if (home != NULL && home[0] != '\0') {
        return pairtok_path_for(home, out, out_size, err);
    }
    home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pt_fail(err, PAIRTOK_EINVAL, 0,
                       "neither ASTRID_HOME nor HOME is set; give the store path");
    }
    char astrid[PAIRTOK_PATH_MAX];
    int n = snprintf(astrid, sizeof astrid, "%s/.astrid", home);
    if (n < 0 || (size_t)n >= sizeof astrid) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return pt_fail(err, PAIRTOK_EINVAL, ENAMETOOLONG, "HOME: path too long");
    }
    return pairtok_path_for(astrid, out, out_size, err);
}
