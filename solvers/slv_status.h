/* slv_status.h — status codes and error reports shared by every solver in libscoresde_solvers.
 *
 * Convention (as in SUNDIALS ARKODE): user callbacks return 0 on success, > 0 for a recoverable
 * failure ("try a smaller step": adaptive solvers shrink the step, fixed-step solvers stop),
 * < 0 to stop the solve. Library functions return SLV_OK (0) or one of the negative codes below,
 * and leave a human-readable report in the solver's slv_error (read it with the solver's
 * *_get_error getter). Nothing in the library prints, calls exit() or aborts.
 */
#ifndef SLV_STATUS_H
#define SLV_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum slv_status {
    SLV_OK = 0,
    SLV_EINVAL = -1,        /* an argument is out of range (message says which) */
    SLV_ENOMEM = -2,        /* allocation failed */
    SLV_ENONFINITE = -3,    /* a state, drift or diffusion became NaN or Inf */
    SLV_EMAXSTEPS = -4,     /* the step budget ran out before t1 */
    SLV_ESTEPSIZE = -5,     /* an adaptive step fell below the minimum step */
    SLV_ECALLBACK = -6,     /* a user callback returned a negative value (or > 0 where not recoverable) */
    SLV_EBACKEND = -7,      /* SUNDIALS or GSL reported a failure (message holds its text) */
    SLV_EUNSUPPORTED = -8,  /* the method does not support this noise type / system */
    SLV_EINTERRUPTED = -9   /* the caller's interrupt flag was raised */
};

/* Short English description of a status code; a static string, never NULL. */
const char *slv_strerror(int status);

/* Where and why a solve stopped. `path` is the index (within the batch, plus the solver's
 * first_path offset) of the sample that failed, or -1 when the failure is not tied to one sample. */
typedef struct slv_error {
    int status;
    double t;
    long path;
    char message[256];
} slv_error;

/* Clears an error report to SLV_OK. */
void slv_error_clear(slv_error *err);

/* Records status, time and path and formats message (printf-style). Returns status, so that
 * library code can write `return slv_error_set(&s->err, SLV_EINVAL, t, -1, "...")`. */
int slv_error_set(slv_error *err, int status, double t, long path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Returns the index of the first non-finite entry of x[0..count) or -1 when all are finite. */
long slv_find_nonfinite(const double *x, size_t count);

#ifdef __cplusplus
}
#endif
#endif
