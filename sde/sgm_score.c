/* sgm_score.c — status strings, score-model checks, statistics, and the guidance wrapper. */
#include "sgm_score.h"

#include <stdlib.h>
#include <string.h>

const char *sgm_strerror(int status)
{
    return scoresde_strerror(status);
}

int sgm_score_model_validate(const sgm_score_model *model, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    if (!model)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "score model: NULL pointer");
    if (!model->score)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "score model: the score callback is NULL (it is the one required)");
    if (model->dim == 0)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "score model: dim is 0, expected >= 1");
    return SLV_OK;
}

/* ---- Guidance wrapper ------------------------------------------------------------------------ */

struct sgm_guided_score {
    sgm_score_model model; /* the wrapper, params = this */
    const sgm_score_model *base;
    sgm_score_fn grad_log_likelihood;
    void *params;
    double scale;
    size_t n_max;
    double *grad; /* (n_max, d) */
};

static int guided_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    sgm_guided_score *g = params;
    if (n > g->n_max || d != g->base->dim)
        return -1;
    int rc = g->base->score(t, n, d, x, out, g->base->params);
    if (rc != 0)
        return rc;
    rc = g->grad_log_likelihood(t, n, d, x, g->grad, g->params);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n * d; i++)
        out[i] += g->scale * g->grad[i];
    return 0;
}

sgm_guided_score *sgm_guided_score_alloc(const sgm_score_model *base,
                                         sgm_score_fn grad_log_likelihood, void *params,
                                         double scale, size_t n_max)
{
    if (!base || !base->score || base->dim == 0 || !grad_log_likelihood || n_max == 0)
        return NULL;
    sgm_guided_score *g = calloc(1, sizeof *g);
    if (!g)
        goto fail;
    g->grad = malloc(n_max * base->dim * sizeof *g->grad);
    if (!g->grad)
        goto fail;
    g->base = base;
    g->grad_log_likelihood = grad_log_likelihood;
    g->params = params;
    g->scale = scale;
    g->n_max = n_max;
    g->model.score = guided_score;
    g->model.dim = base->dim;
    g->model.params = g;
    return g;
fail:
    sgm_guided_score_free(g);
    return NULL;
}

void sgm_guided_score_free(sgm_guided_score *g)
{
    if (!g)
        return;
    free(g->grad);
    free(g);
}

const sgm_score_model *sgm_guided_score_model(const sgm_guided_score *g)
{
    return g ? &g->model : NULL;
}
