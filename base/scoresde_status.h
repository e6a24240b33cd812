/* scoresde_status.h — the status codes and the error report every library of the project uses.
 *
 * One space of codes: 0 is success, each failure has one negative code, whichever layer reports it
 * (the solver layer, the diffusion layer, the network library, the command line's readers).
 * Callbacks follow SUNDIALS ARKODE: 0 success, > 0 "recoverable, try a smaller step", < 0 stop.
 * A library function returns SCORESDE_OK or a code and, where it is given one, fills a
 * scoresde_error with the reason: a message naming the thing, the value and what was expected,
 * and, for a solve, the time and the sample where it stopped. Nothing here prints or exits.
 */
#ifndef SCORESDE_STATUS_H
#define SCORESDE_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum scoresde_status {
    SCORESDE_OK = 0,
    SCORESDE_EINVAL = -1,       /* an argument or a setting is out of range (message says which) */
    SCORESDE_ENOMEM = -2,       /* allocation failed */
    SCORESDE_ENONFINITE = -3,   /* a state, drift, score or loss became NaN or Inf */
    SCORESDE_EMAXSTEPS = -4,    /* the step budget ran out before the end time */
    SCORESDE_ESTEPSIZE = -5,    /* an adaptive step fell below the minimum step */
    SCORESDE_ECALLBACK = -6,    /* a user callback returned < 0 (or > 0 where not recoverable) */
    SCORESDE_EBACKEND = -7,     /* SUNDIALS or GSL reported a failure (message holds its text) */
    SCORESDE_EUNSUPPORTED = -8, /* the method does not support this problem */
    SCORESDE_EINTERRUPTED = -9, /* the caller asked to stop (interrupt flag, progress callback) */
    SCORESDE_EIO = -10,         /* a file could not be read or written (message: file and errno) */
    SCORESDE_EFORMAT = -11      /* a file or text is not what it should be (message says what) */
};

/* Short English description of a status code; a static string, never NULL. */
const char *scoresde_strerror(int status);

/* Where and why something stopped. `t` is the time of a solve (0 when there is none); `path` is
 * the index of the sample that failed (within the batch, plus a solver's first_path offset), or
 * -1 when the failure is not tied to one sample. */
typedef struct scoresde_error {
    int status;
    double t;
    long path;
    char message[1024];
} scoresde_error;

/* Clears a report to SCORESDE_OK. */
void scoresde_error_clear(scoresde_error *err);

/* Records status, time and path and formats the message (printf-style); err may be NULL (nothing
 * is recorded). Returns status, so that library code can write
 * `return scoresde_error_set(err, SCORESDE_EINVAL, 0.0, -1, "...")`. */
int scoresde_error_set(scoresde_error *err, int status, double t, long path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* scoresde_error_set for failures tied to no time or sample (t = 0, path = -1). */
int scoresde_error_fail(scoresde_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
