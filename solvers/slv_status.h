/* slv_status.h — how the solvers report failure: the project's shared status codes and error
 * report (scoresde_status.h in libscoresde_base).
 *
 * Convention (as in SUNDIALS ARKODE): user callbacks return 0 on success, > 0 for a recoverable
 * failure ("try a smaller step": adaptive solvers shrink the step, fixed-step solvers stop),
 * < 0 to stop the solve. Library functions return SCORESDE_OK (0) or a negative SCORESDE_* code,
 * and leave a human-readable report, with the time and the sample where the solve stopped, in the
 * solver's scoresde_error (read it with the solver's *_get_error getter). Nothing in the library
 * prints, calls exit() or aborts.
 */
#ifndef SLV_STATUS_H
#define SLV_STATUS_H

#include <stddef.h>

#include "scoresde_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The solver layer's earlier names of the shared codes and report. */
enum slv_status {
    SLV_OK = SCORESDE_OK,
    SLV_EINVAL = SCORESDE_EINVAL,
    SLV_ENOMEM = SCORESDE_ENOMEM,
    SLV_ENONFINITE = SCORESDE_ENONFINITE,
    SLV_EMAXSTEPS = SCORESDE_EMAXSTEPS,
    SLV_ESTEPSIZE = SCORESDE_ESTEPSIZE,
    SLV_ECALLBACK = SCORESDE_ECALLBACK,
    SLV_EBACKEND = SCORESDE_EBACKEND,
    SLV_EUNSUPPORTED = SCORESDE_EUNSUPPORTED,
    SLV_EINTERRUPTED = SCORESDE_EINTERRUPTED
};
typedef scoresde_error slv_error;
#define slv_strerror scoresde_strerror
#define slv_error_clear scoresde_error_clear
#define slv_error_set scoresde_error_set

/* Returns the index of the first non-finite entry of x[0..count) or -1 when all are finite. */
long slv_find_nonfinite(const double *x, size_t count);

#ifdef __cplusplus
}
#endif
#endif
