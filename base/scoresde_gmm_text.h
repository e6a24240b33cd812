/* scoresde_gmm_text.h — the text format of a Gaussian mixture with diagonal covariances, read in
 * one place for the diffusion layer's exact oracle (sgm_gmm.h) and the network library's toy data
 * (snet_data.h):
 *
 *     # comments start with '#' (anywhere on a line); blank lines are ignored
 *     d K
 *     weight mean_1 .. mean_d std_1 .. std_d      (K such lines; blanks or commas between numbers)
 *
 * Weights must be positive and finite (the reader leaves them as written; users normalise them),
 * stds > 0, d·K ≤ SCORESDE_GMM_MAX_NUMBERS. Memory grows with the lines actually read, never with
 * what the header claims.
 */
#ifndef SCORESDE_GMM_TEXT_H
#define SCORESDE_GMM_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "scoresde_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCORESDE_GMM_MAX_NUMBERS ((size_t)1 << 28)

typedef struct scoresde_gmm_text {
    size_t dim;          /* d */
    size_t n_components; /* K */
    double *weights;     /* (K) as written */
    double *means;       /* (K, d) */
    double *stds;        /* (K, d) */
} scoresde_gmm_text;

/* Reads a mixture from stream; `name` (may be NULL: "<stream>") is used in messages only. On
 * success *out owns its arrays (scoresde_gmm_text_free). Errors: SCORESDE_EFORMAT ("NAME:LINE:
 * expected ..., found ..." — a wrong count of numbers, not a number, NaN/Inf, a weight or std not
 * positive, missing or extra lines), SCORESDE_EIO (a read error), SCORESDE_ENOMEM; *out is then
 * empty. */
int scoresde_gmm_text_read(FILE *stream, const char *name, scoresde_gmm_text *out, scoresde_error *err);
/* Releases the arrays; a zeroed or already released *g is fine. */
void scoresde_gmm_text_free(scoresde_gmm_text *g);

#ifdef __cplusplus
}
#endif
#endif
