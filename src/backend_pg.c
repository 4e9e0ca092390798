/* SPDX-License-Identifier: ISC */
/* backend_pg.c - placeholder until the PostgreSQL backend lands. */
#include <string.h>

#include "backend.h"

bool backend_pg_claims(const char *location)
{
    return strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0;
}

pairtok_status backend_pg_open(const char *location, const pairtok_options *opts, backend **out,
                               pairtok_error *err)
{
    (void)location;
    (void)opts;
    *out = NULL;
    return pairtok_fail(err, PAIRTOK_EINVAL, 0, "PostgreSQL stores are not supported yet");
}
