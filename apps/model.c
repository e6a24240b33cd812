#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snet_io.h"

/* Moves the bar to base + items · fraction (netscore_set_progress). */
static void track_progress(double fraction, void *ctx)
{
    app_model *m = ctx;
    progress_update_partial(m->progress_bar, m->progress_base + m->progress_items * fraction);
}

static int load_network(const char *path, const process_options *po, size_t max_batch, app_model *m,
                        scoresde_error *err)
{
    if (snet_model_load(path, SNET_LOAD_EMA, &m->net, NULL, err) != SNET_OK)
        return -1;
    const snet_config *cfg = &m->net->cfg;
    sgm_process_kind kind = cfg->sde, asked;
    if (po->sde && (sgm_process_kind_parse(po->sde, &asked) != SLV_OK || asked != kind)) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s: --sde %s, but the model was trained for %s", path, po->sde,
                 sgm_process_kind_name(kind));
        return -1;
    }
    if (po->set_sigma_min || po->set_sigma_max || po->set_beta_min || po->set_beta_max) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s: the noise schedule is part of a trained model; "
                                "drop --sigma-min/--sigma-max/--beta-min/--beta-max", path);
        return -1;
    }
    netscore_process(cfg, &m->process);
    if (po->set_N)
        m->process.N = po->N;

    m->dim = snet_config_dim(cfg);
    m->channels = cfg->channels;
    m->height = cfg->height;
    m->width = cfg->width;
    m->is_image = cfg->height > 1 || cfg->width > 1;
    m->quantized = cfg->quantized != 0;
    /* model space x = scale·(k + u) + shift, k in 0..255, u ~ U[0,1): 256 levels over a range of
     * width 256·scale starting at shift */
    m->data_lo = cfg->data_shift;
    m->data_width = 256.0 * cfg->data_scale;

    scoresde_error why;
    if (netscore_alloc(&m->netscore, m->net, max_batch, &why)) {
        scoresde_error_fail(err, why.status, "%s: %s", path, why.message);
        return -1;
    }
    m->score = netscore_model(m->netscore);
    return 0;
}

int app_model_load(const char *spec, const process_options *po, size_t max_batch, app_model *m,
                   scoresde_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", spec);
    if (strncmp(spec, "gmm:", 4) != 0) {
        if (load_network(spec, po, max_batch, m, err)) {
            app_model_free(m);
            return -1;
        }
        return 0;
    }
    sgm_process_kind kind = SGM_PROCESS_VP;
    if (po->sde && sgm_process_kind_parse(po->sde, &kind) != SLV_OK) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "--sde: unknown process '%s' (expected %s)", po->sde,
                            scoresde_process_kind_list(", "));
        return -1;
    }
    sgm_process_init(&m->process, kind);
    if (po->set_sigma_min) m->process.sigma_min = po->sigma_min;
    if (po->set_sigma_max) m->process.sigma_max = po->sigma_max;
    if (po->set_beta_min) m->process.beta_min = po->beta_min;
    if (po->set_beta_max) m->process.beta_max = po->beta_max;
    if (po->set_N) m->process.N = po->N;
    if (sgm_process_validate(&m->process, err) != SLV_OK || sgm_gmm_load(spec + 4, &m->gmm, err) != SLV_OK)
        return -1;
    sgm_gmm_model_init(&m->gmm_model, m->gmm, &m->process);
    m->score = m->gmm_model.model;
    m->dim = m->gmm->dim;
    m->channels = (unsigned)m->dim;
    m->height = m->width = 1;
    m->data_lo = -1.0;
    m->data_width = 2.0;
    return 0;
}

void app_model_free(app_model *m)
{
    netscore_free(m->netscore);
    snet_model_free(m->net);
    sgm_gmm_free(m->gmm);
    memset(m, 0, sizeof *m);
}

unsigned char app_model_pixel(const app_model *m, double value)
{
    double u = (value - m->data_lo) / m->data_width;
    double v = floor(u * 255.0 + 0.5);
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void app_model_track_progress(app_model *m, progress *bar, size_t base, size_t n, double t_from, double t_to)
{
    if (!m->netscore)
        return;
    m->progress_bar = bar;
    m->progress_base = (double)base;
    m->progress_items = (double)n;
    netscore_set_progress(m->netscore, bar ? track_progress : NULL, m, t_from, t_to);
}
