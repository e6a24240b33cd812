#include "scoresde_status.h"

#include <stdarg.h>
#include <stdio.h>

const char *scoresde_strerror(int status)
{
    switch (status) {
    case SCORESDE_OK: return "success";
    case SCORESDE_EINVAL: return "invalid argument";
    case SCORESDE_ENOMEM: return "out of memory";
    case SCORESDE_ENONFINITE: return "non-finite value (NaN or Inf)";
    case SCORESDE_EMAXSTEPS: return "step budget exhausted";
    case SCORESDE_ESTEPSIZE: return "step size underflow";
    case SCORESDE_ECALLBACK: return "callback failed";
    case SCORESDE_EBACKEND: return "ODE back end failed";
    case SCORESDE_EUNSUPPORTED: return "method does not support this problem";
    case SCORESDE_EINTERRUPTED: return "interrupted";
    case SCORESDE_EIO: return "file could not be opened or read";
    case SCORESDE_EFORMAT: return "malformed file";
    default: return "unknown status";
    }
}

void scoresde_error_clear(scoresde_error *err)
{
    err->status = SCORESDE_OK;
    err->t = 0.0;
    err->path = -1;
    err->message[0] = '\0';
}

static int error_vset(scoresde_error *err, int status, double t, long path, const char *fmt, va_list ap)
{
    if (!err)
        return status;
    err->status = status;
    err->t = t;
    err->path = path;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return status;
}

int scoresde_error_set(scoresde_error *err, int status, double t, long path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, t, path, fmt, ap);
    va_end(ap);
    return status;
}

int scoresde_error_fail(scoresde_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, 0.0, -1, fmt, ap);
    va_end(ap);
    return status;
}
