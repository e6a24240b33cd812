/* fuzz_gmm.c — the two readers of the GMM text format: sgm_gmm_read (sde/, the sampling oracle,
 * on a stream) and snet_gmm_parse / snet_gmm_read (scorenet/, the training data generator).
 * A mixture either reader accepts is evaluated (density, score, divergence at a few points; a
 * few draws), and when both accept, they must have read the same numbers. */
#define _GNU_SOURCE /* fmemopen */
#include <math.h>

#include "fuzz_common.h"
#include "sgm_gmm.h"
#include "snet_data.h"

static void use_sgm(sgm_gmm *g)
{
    size_t d = g->dim;
    if (d * g->n_components > (1u << 16))
        return;
    sgm_process vp;
    sgm_process_init(&vp, SGM_PROCESS_VP);
    enum { N = 3 };
    double *x = calloc(N * d, sizeof *x), *s = calloc(N * d, sizeof *s), logp[N], div[N];
    for (size_t i = 0; i < N * d; i++)
        x[i] = (double)(i % 5) - 2.0;
    sgm_gmm_log_density(g, NULL, 0.0, N, x, logp);
    sgm_gmm_score(g, &vp, 0.5, N, x, s);
    sgm_gmm_score(g, NULL, 0.0, N, x, s);
    sgm_gmm_divergence(g, &vp, 0.5, N, x, div);
    free(x);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    if (!path[0])
        fuzz_path(path, sizeof path, "gmm", ".txt");
    scoresde_error serr;

    /* sde/: the stream reader */
    sgm_gmm *a = NULL;
    slv_error err;
    slv_error_clear(&err);
    FILE *f = fmemopen((void *)data, size ? size : 1, "r");
    if (!f)
        abort();
    if (size == 0) /* fmemopen needs a non-empty buffer: read the empty stream instead */
        fgetc(f);
    int rc_a = sgm_gmm_read(f, "fuzz", &a, &err);
    fclose(f);
    if (rc_a != SLV_OK) {
        fuzz_check_message(err.message, sizeof err.message);
        if (a)
            abort();
    } else {
        use_sgm(a);
    }

    /* scorenet/: the text parser (NUL-terminated copy) and the file reader */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    snet_gmm *b = NULL;
    memset(serr.message, 0, sizeof serr.message);
    int rc_b = snet_gmm_parse(text, "fuzz", &b, &serr);
    if (rc_b != SNET_OK) {
        fuzz_check_message(serr.message, sizeof serr.message);
        if (b)
            abort();
    } else if (b->d * b->K <= (1u << 16)) {
        float *x = malloc(4 * b->d * sizeof *x);
        snet_gmm_sample(b, 1, 2, 4, x);
        free(x);
    }
    snet_gmm *c = NULL;
    fuzz_write_file(path, data, size);
    int rc_c = snet_gmm_read(path, &c, &serr);
    unlink(path);
    if (rc_c == SNET_OK && (rc_b != SNET_OK || c->d != b->d || c->K != b->K))
        abort(); /* the file reader must agree with the parser on NUL-free text */
    snet_gmm_free(c);

    if (rc_a == SLV_OK && rc_b == SNET_OK) {
        if (a->dim != b->d || a->n_components != b->K)
            abort();
        for (size_t i = 0; i < b->K * b->d; i++)
            if (a->means[i] != b->mean[i] || a->stds[i] != b->std[i])
                abort();
    }
    sgm_gmm_free(a);
    snet_gmm_free(b);
    free(text);
    return 0;
}
