#include "slv_status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

const char *slv_strerror(int status)
{
    switch (status) {
    case SLV_OK: return "success";
    case SLV_EINVAL: return "invalid argument";
    case SLV_ENOMEM: return "out of memory";
    case SLV_ENONFINITE: return "non-finite value (NaN or Inf)";
    case SLV_EMAXSTEPS: return "step budget exhausted";
    case SLV_ESTEPSIZE: return "step size underflow";
    case SLV_ECALLBACK: return "callback failed";
    case SLV_EBACKEND: return "ODE back end failed";
    case SLV_EUNSUPPORTED: return "method does not support this problem";
    case SLV_EINTERRUPTED: return "interrupted";
    default: return "unknown status";
    }
}

void slv_error_clear(slv_error *err)
{
    err->status = SLV_OK;
    err->t = 0.0;
    err->path = -1;
    err->message[0] = '\0';
}

int slv_error_set(slv_error *err, int status, double t, long path, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    err->t = t;
    err->path = path;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

long slv_find_nonfinite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return (long)i;
    return -1;
}
