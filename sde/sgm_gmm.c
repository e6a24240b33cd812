/* sgm_gmm.c — the Gaussian-mixture oracle: closed-form density, score, Jacobian products,
 * divergence and class posterior of p_t for every process; exact sampling; the text format. */
#include "sgm_gmm.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "scoresde_gmm_text.h"
#include "slv_rng.h"

/* Largest mixture the file reader accepts (K·d numbers). */
#define GMM_MAX_NUMBERS SCORESDE_GMM_MAX_NUMBERS

sgm_gmm *sgm_gmm_alloc(size_t d, size_t K)
{
    if (d == 0 || K == 0 || K > GMM_MAX_NUMBERS / d)
        return NULL;
    sgm_gmm *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->dim = d;
    g->n_components = K;
    g->weights = malloc(K * sizeof *g->weights);
    g->log_weights = malloc(K * sizeof *g->log_weights);
    g->means = calloc(K * d, sizeof *g->means);
    g->stds = malloc(K * d * sizeof *g->stds);
    g->work = malloc((2 * K + 2 * d) * sizeof *g->work);
    if (!g->weights || !g->log_weights || !g->means || !g->stds || !g->work)
        goto fail;
    for (size_t k = 0; k < K; k++) {
        g->weights[k] = 1.0 / (double)K;
        g->log_weights[k] = -log((double)K);
    }
    for (size_t i = 0; i < K * d; i++)
        g->stds[i] = 1.0;
    return g;
fail:
    sgm_gmm_free(g);
    return NULL;
}

void sgm_gmm_free(sgm_gmm *g)
{
    if (!g)
        return;
    free(g->weights);
    free(g->log_weights);
    free(g->means);
    free(g->stds);
    free(g->work);
    free(g);
}

/* Copies parameters; weights must be >= 0 (> 0 when strict) with a positive sum. */
static int gmm_set(sgm_gmm *g, const double *weights, const double *means, const double *stds,
                   int strict, slv_error *err)
{
    size_t K = g->n_components, d = g->dim;
    double total = 0.0;
    for (size_t k = 0; k < K; k++) {
        if (!isfinite(weights[k]) || weights[k] < 0.0 || (strict && weights[k] == 0.0))
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "mixture: component %zu has weight %g, expected a finite number > 0",
                                 k, weights[k]);
        total += weights[k];
    }
    if (!(total > 0.0) || !isfinite(total))
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "mixture: weights sum to %g, expected a finite positive sum", total);
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < d; j++) {
            double mu = means[k * d + j], sd = stds[k * d + j];
            if (!isfinite(mu))
                return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                     "mixture: component %zu has mean_%zu = %g, expected a finite number",
                                     k, j + 1, mu);
            if (!isfinite(sd) || !(sd > 0.0))
                return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                     "mixture: component %zu has std_%zu = %g, expected a finite number > 0",
                                     k, j + 1, sd);
        }
    for (size_t k = 0; k < K; k++) {
        g->weights[k] = weights[k] / total;
        g->log_weights[k] = log(g->weights[k]);
    }
    memcpy(g->means, means, K * d * sizeof *means);
    memcpy(g->stds, stds, K * d * sizeof *stds);
    return SLV_OK;
}

int sgm_gmm_set(sgm_gmm *g, const double *weights, const double *means, const double *stds,
                slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    if (!g || !weights || !means || !stds)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "mixture: NULL argument");
    return gmm_set(g, weights, means, stds, 1, err);
}

/* ---- Text format ----------------------------------------------------------------------------- */

int sgm_gmm_read(FILE *stream, const char *name, sgm_gmm **out, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    *out = NULL;
    scoresde_gmm_text text;
    int status = scoresde_gmm_text_read(stream, name, &text, err);
    if (status)
        return status;
    sgm_gmm *g = sgm_gmm_alloc(text.dim, text.n_components);
    if (!g)
        status = slv_error_set(err, SLV_ENOMEM, 0.0, -1, "%s: cannot allocate a mixture with d = %zu, K = %zu",
                               name ? name : "<stream>", text.dim, text.n_components);
    else
        status = gmm_set(g, text.weights, text.means, text.stds, 1, err);
    scoresde_gmm_text_free(&text);
    if (status == SLV_OK)
        *out = g;
    else
        sgm_gmm_free(g);
    return status;
}

int sgm_gmm_load(const char *path, sgm_gmm **out, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return slv_error_set(err, SGM_EIO, 0.0, -1, "%s: cannot open: %s", path, strerror(errno));
    int status = sgm_gmm_read(f, path, out, err);
    fclose(f);
    return status;
}

int sgm_gmm_save(const sgm_gmm *g, const char *path, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    FILE *f = fopen(path, "w");
    if (!f)
        return slv_error_set(err, SGM_EIO, 0.0, -1, "%s: cannot create: %s", path, strerror(errno));
    size_t d = g->dim;
    fprintf(f, "# Gaussian mixture: d K, then per component: weight, %zu means, %zu stds\n%zu %zu\n",
            d, d, d, g->n_components);
    for (size_t k = 0; k < g->n_components; k++) {
        fprintf(f, "%.17g", g->weights[k]);
        for (size_t j = 0; j < d; j++)
            fprintf(f, " %.17g", g->means[k * d + j]);
        for (size_t j = 0; j < d; j++)
            fprintf(f, " %.17g", g->stds[k * d + j]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return slv_error_set(err, SGM_EIO, 0.0, -1, "%s: write failed: %s", path, strerror(errno));
    return SLV_OK;
}

/* ---- Closed forms ---------------------------------------------------------------------------- */

/* Marginal coefficients at t: m and s² (process NULL: the data, m = 1, s = 0). */
static void coefficients(const sgm_process *process, double t, double *m, double *s2)
{
    if (!process) {
        *m = 1.0;
        *s2 = 0.0;
        return;
    }
    double s = sgm_process_std(process, t);
    *m = sgm_process_mean_coef(process, t);
    *s2 = s * s;
}

/* The per-call state: m, s², and logc[k] = log w_k − ½ Σ_j log(2π v_kj) in g->work[0..K). */
typedef struct gmm_eval {
    const sgm_gmm *g;
    double m, s2;
    double *logc; /* (K) */
    double *resp; /* (K) responsibilities of the current point */
    double *acc;  /* (d) */
    double *acc2; /* (d) */
} gmm_eval;

static void eval_prepare(gmm_eval *e, const sgm_gmm *g, const sgm_process *process, double t)
{
    size_t K = g->n_components, d = g->dim;
    e->g = g;
    coefficients(process, t, &e->m, &e->s2);
    e->logc = g->work;
    e->resp = g->work + K;
    e->acc = g->work + 2 * K;
    e->acc2 = g->work + 2 * K + d;
    for (size_t k = 0; k < K; k++) {
        double c = g->log_weights[k];
        for (size_t j = 0; j < d; j++) {
            double sd = g->stds[k * d + j];
            c -= 0.5 * log(2.0 * M_PI * (e->m * e->m * sd * sd + e->s2));
        }
        e->logc[k] = c;
    }
}

static inline double component_var(const gmm_eval *e, size_t k, size_t j)
{
    double sd = e->g->stds[k * e->g->dim + j];
    return e->m * e->m * sd * sd + e->s2;
}

/* s_kj = −(x_j − m μ_kj)/v_kj */
static inline double component_score(const gmm_eval *e, const double *x, size_t k, size_t j)
{
    return -(x[j] - e->m * e->g->means[k * e->g->dim + j]) / component_var(e, k, j);
}

/* Fills e->resp with p_t(k | x) and returns log p_t(x). */
static double eval_point(gmm_eval *e, const double *x)
{
    size_t K = e->g->n_components, d = e->g->dim;
    double lmax = -INFINITY;
    for (size_t k = 0; k < K; k++) {
        double q = 0.0;
        for (size_t j = 0; j < d; j++) {
            double r = x[j] - e->m * e->g->means[k * d + j];
            q += r * r / component_var(e, k, j);
        }
        double l = e->logc[k] - 0.5 * q;
        e->resp[k] = l;
        if (l > lmax)
            lmax = l;
    }
    if (!isfinite(lmax)) {
        /* x is not finite (or every component underflowed): propagate NaN. */
        for (size_t k = 0; k < K; k++)
            e->resp[k] = NAN;
        return isnan(lmax) ? NAN : lmax;
    }
    double sum = 0.0;
    for (size_t k = 0; k < K; k++) {
        e->resp[k] = exp(e->resp[k] - lmax);
        sum += e->resp[k];
    }
    for (size_t k = 0; k < K; k++)
        e->resp[k] /= sum;
    return lmax + log(sum);
}

/* out[d] = Σ_k r_k s_k (needs eval_point first). */
static void point_score(const gmm_eval *e, const double *x, double *out)
{
    size_t K = e->g->n_components, d = e->g->dim;
    for (size_t j = 0; j < d; j++)
        out[j] = 0.0;
    for (size_t k = 0; k < K; k++) {
        double r = e->resp[k];
        if (r == 0.0)
            continue;
        for (size_t j = 0; j < d; j++)
            out[j] += r * component_score(e, x, k, j);
    }
}

int sgm_gmm_log_density(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                        const double *x, double *logp)
{
    gmm_eval e;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++)
        logp[i] = eval_point(&e, x + i * g->dim);
    return SLV_OK;
}

int sgm_gmm_score(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                  const double *x, double *out)
{
    gmm_eval e;
    size_t d = g->dim;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++) {
        eval_point(&e, x + i * d);
        point_score(&e, x + i * d, out + i * d);
    }
    return SLV_OK;
}

/* J v = Σ_k r_k (−v/v_k) + Σ_k r_k s_k (s_k·v) − s (s·v). */
int sgm_gmm_score_jvp(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                      const double *x, const double *v, double *out)
{
    gmm_eval e;
    size_t d = g->dim, K = g->n_components;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * d, *vi = v + i * d;
        double *oi = out + i * d;
        eval_point(&e, xi);
        point_score(&e, xi, e.acc);
        double sv = 0.0;
        for (size_t j = 0; j < d; j++) {
            sv += e.acc[j] * vi[j];
            oi[j] = 0.0;
        }
        for (size_t k = 0; k < K; k++) {
            double r = e.resp[k];
            if (r == 0.0)
                continue;
            double skv = 0.0;
            for (size_t j = 0; j < d; j++) {
                e.acc2[j] = component_score(&e, xi, k, j);
                skv += e.acc2[j] * vi[j];
            }
            for (size_t j = 0; j < d; j++)
                oi[j] += r * (-vi[j] / component_var(&e, k, j) + e.acc2[j] * skv);
        }
        for (size_t j = 0; j < d; j++)
            oi[j] -= e.acc[j] * sv;
    }
    return SLV_OK;
}

/* ∇·s = Σ_k r_k [Σ_j (−1/v_kj) + ‖s_k‖²] − ‖s‖². */
int sgm_gmm_divergence(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                       const double *x, double *div)
{
    gmm_eval e;
    size_t d = g->dim, K = g->n_components;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * d;
        eval_point(&e, xi);
        double sum = 0.0;
        for (size_t j = 0; j < d; j++)
            e.acc[j] = 0.0;
        for (size_t k = 0; k < K; k++) {
            double r = e.resp[k];
            if (r == 0.0)
                continue;
            double term = 0.0;
            for (size_t j = 0; j < d; j++) {
                double vk = component_var(&e, k, j);
                double sk = -(xi[j] - e.m * g->means[k * d + j]) / vk;
                term += -1.0 / vk + sk * sk;
                e.acc[j] += r * sk;
            }
            sum += r * term;
        }
        double s2 = 0.0;
        for (size_t j = 0; j < d; j++)
            s2 += e.acc[j] * e.acc[j];
        div[i] = sum - s2;
    }
    return SLV_OK;
}

int sgm_gmm_class_posterior(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                            const double *x, double *post)
{
    gmm_eval e;
    size_t K = g->n_components;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++) {
        eval_point(&e, x + i * g->dim);
        memcpy(post + i * K, e.resp, K * sizeof *post);
    }
    return SLV_OK;
}

int sgm_gmm_class_log_posterior_grad(const sgm_gmm *g, const sgm_process *process, double t,
                                     size_t k, size_t n, const double *x, double *out)
{
    if (k >= g->n_components)
        return SLV_EINVAL;
    gmm_eval e;
    size_t d = g->dim;
    eval_prepare(&e, g, process, t);
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * d;
        double *oi = out + i * d;
        eval_point(&e, xi);
        point_score(&e, xi, oi);
        for (size_t j = 0; j < d; j++)
            oi[j] = component_score(&e, xi, k, j) - oi[j];
    }
    return SLV_OK;
}

int sgm_gmm_sample(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                   uint64_t seed, size_t first_sample, double *x, size_t *labels)
{
    size_t d = g->dim;
    double m, s2;
    coefficients(process, t, &m, &s2);
    gsl_ran_discrete_t *table = gsl_ran_discrete_preproc(g->n_components, g->weights);
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    int status = SLV_OK;
    if (!table || !r) {
        status = SLV_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        slv_rng_set_stream(r, seed, (uint64_t)(first_sample + i), SGM_STREAM_GMM);
        size_t k = gsl_ran_discrete(r, table);
        if (labels)
            labels[i] = k;
        for (size_t j = 0; j < d; j++) {
            double sd = g->stds[k * d + j];
            x[i * d + j] = m * g->means[k * d + j] +
                           sqrt(m * m * sd * sd + s2) * gsl_ran_gaussian_ziggurat(r, 1.0);
        }
    }
done:
    if (table)
        gsl_ran_discrete_free(table);
    if (r)
        gsl_rng_free(r);
    return status;
}

int sgm_gmm_conditional(const sgm_gmm *g, const unsigned char *mask, const double *observed,
                        sgm_gmm **out, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    *out = NULL;
    size_t d = g->dim, K = g->n_components, du = 0;
    for (size_t j = 0; j < d; j++)
        du += mask[j] == 0;
    if (du == 0 || du == d)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "conditional: %zu of %zu coordinates observed, expected between 1 and %zu",
                             d - du, d, d - 1);
    sgm_gmm *c = sgm_gmm_alloc(du, K);
    double *logw = malloc(K * sizeof *logw);
    double *means = malloc(K * du * sizeof *means);
    double *stds = malloc(K * du * sizeof *stds);
    int status = SLV_OK;
    if (!c || !logw || !means || !stds) {
        status = slv_error_set(err, SLV_ENOMEM, 0.0, -1, "conditional: out of memory");
        goto done;
    }
    double lmax = -INFINITY;
    for (size_t k = 0; k < K; k++) {
        double l = g->log_weights[k];
        size_t u = 0;
        for (size_t j = 0; j < d; j++) {
            double mu = g->means[k * d + j], sd = g->stds[k * d + j];
            if (mask[j]) {
                double z = (observed[j] - mu) / sd;
                l -= 0.5 * z * z + log(sd) + 0.5 * log(2.0 * M_PI);
            } else {
                means[k * du + u] = mu;
                stds[k * du + u] = sd;
                u++;
            }
        }
        logw[k] = l;
        if (l > lmax)
            lmax = l;
    }
    if (!isfinite(lmax)) {
        status = slv_error_set(err, SLV_EINVAL, 0.0, -1,
                               "conditional: the observed values have log-density %g under every "
                               "component, expected finite values", lmax);
        goto done;
    }
    for (size_t k = 0; k < K; k++)
        logw[k] = exp(logw[k] - lmax);
    status = gmm_set(c, logw, means, stds, 0, err);
    if (status == SLV_OK) {
        *out = c;
        c = NULL;
    }
done:
    sgm_gmm_free(c);
    free(logw);
    free(means);
    free(stds);
    return status;
}

/* ---- Score model ----------------------------------------------------------------------------- */

static int model_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    const sgm_gmm_model *m = params;
    if (d != m->gmm->dim)
        return -1;
    return sgm_gmm_score(m->gmm, m->process, t, n, x, out) == SLV_OK ? 0 : -1;
}

static int model_product(double t, size_t n, size_t d, const double *x, const double *v,
                         double *out, void *params)
{
    const sgm_gmm_model *m = params;
    if (d != m->gmm->dim)
        return -1;
    return sgm_gmm_score_jvp(m->gmm, m->process, t, n, x, v, out) == SLV_OK ? 0 : -1;
}

static int model_divergence(double t, size_t n, size_t d, const double *x, double *div,
                            void *params)
{
    const sgm_gmm_model *m = params;
    if (d != m->gmm->dim)
        return -1;
    return sgm_gmm_divergence(m->gmm, m->process, t, n, x, div) == SLV_OK ? 0 : -1;
}

void sgm_gmm_model_init(sgm_gmm_model *m, const sgm_gmm *g, const sgm_process *process)
{
    m->gmm = g;
    m->process = process;
    m->model = (sgm_score_model){.score = model_score, .score_vjp = model_product,
                                 .score_jvp = model_product, .divergence = model_divergence,
                                 .dim = g->dim, .params = m};
}

int sgm_gmm_class_guidance_fn(double t, size_t n, size_t d, const double *x, double *out,
                              void *params)
{
    const sgm_gmm_class_guidance *c = params;
    if (d != c->gmm->dim)
        return -1;
    return sgm_gmm_class_log_posterior_grad(c->gmm, c->process, t, c->k, n, x, out) == SLV_OK ? 0
                                                                                             : -1;
}
