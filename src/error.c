/* SPDX-License-Identifier: ISC */
/* error.c - status descriptions and filling of pairtok_error. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *pairtok_strerror(pairtok_status status)
{
    switch (status) {
    case PAIRTOK_OK:
        return "success";
    case PAIRTOK_EINVAL:
        return "invalid argument";
    case PAIRTOK_EDENIED:
        return PT_DENIED_MESSAGE;
    case PAIRTOK_ENOTFOUND:
        return "no matching token";
    case PAIRTOK_EAMBIGUOUS:
        return "ambiguous id";
    case PAIRTOK_EIO:
        return "I/O error";
    case PAIRTOK_EPARSE:
        return "invalid store file";
    case PAIRTOK_EUNSAFE:
        return "unsafe store file";
    case PAIRTOK_ESCHEMA:
        return "unsupported store schema";
    case PAIRTOK_ELIMIT:
        return "token limit reached";
    case PAIRTOK_EBUSY:
        return "store busy";
    case PAIRTOK_ENOMEM:
        return "out of memory";
    case PAIRTOK_EABORTED:
        return "redeem aborted";
    case PAIRTOK_ERANDOM:
        return "random number generator failed";
    }
    return "unknown status";
}

pairtok_status pt_fail(pairtok_error *err, pairtok_status code, int sys_errno, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    err->code = code;
    err->sys_errno = sys_errno;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, args);
    va_end(args);
    if (n < 0) {
        snprintf(err->message, sizeof err->message, "%s", pairtok_strerror(code));
    }
    return code;
}

void pt_error_clear(pairtok_error *err)
{
    if (err != NULL) {
        err->code = PAIRTOK_OK;
        err->sys_errno = 0;
        err->message[0] = '\0';
    }
}
