/* sgm_fast.c — fast samplers of the probability-flow ODE and the reverse SDE: DDIM, EDM's Heun
 * (Karras et al. 2022, Alg. 1), DPM-Solver-2/3 (Lu et al. 2022a), DPM-Solver++(2M)/(3M) (Lu et al.
 * 2022b), UniPC bh2 (Zhao et al. 2023), tAB-DEIS (Zhang & Chen 2022); EDM's stochastic sampler
 * (Alg. 2) and k-diffusion's DPM-Solver++(2M)/(3M) SDE.
 *
 * Every sampler is written once in EDM's scaled variables (sgm_sampler.h): the state x̂ = x/α_t
 * lives in the caller's array during the call, the denoiser D(x̂; σ̂) = (x + σ_t² s(x, t))/α_t
 * and the noise prediction ε = −σ_t s(x, t) come from one batched score call at x = α_t x̂, and
 * the updates are the papers' with h = λ_next − λ > 0. Formulas and their checks against the
 * authors' code: docs/sde.md, "Fast samplers". */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_internal.h"
#include "sgm_sampler.h"
#include "slv_rng.h"

/* ---- Names ----------------------------------------------------------------------------------- */

enum fast_kind {
    FAST_DDIM,
    FAST_EDM_HEUN,
    FAST_DPM_SOLVER_2,
    FAST_DPM_SOLVER_3,
    FAST_DPMPP_2M,
    FAST_DPMPP_3M,
    FAST_UNIPC,
    FAST_DEIS,
    FAST_EDM_CHURN,
    FAST_DPMPP_2M_SDE,
    FAST_DPMPP_3M_SDE,
    FAST_N_KINDS
};

/* name, order, evaluations per step, stochastic, own schedule, kind */
static const sgm_fast_method fast_table[FAST_N_KINDS] = {
    {"ddim", 1, 1, 0, SGM_SCHEDULE_LOGSNR, FAST_DDIM},
    {"edm-heun", 2, 2, 0, SGM_SCHEDULE_EDM, FAST_EDM_HEUN},
    {"dpm-solver-2", 2, 2, 0, SGM_SCHEDULE_LOGSNR, FAST_DPM_SOLVER_2},
    {"dpm-solver-3", 3, 3, 0, SGM_SCHEDULE_LOGSNR, FAST_DPM_SOLVER_3},
    {"dpmpp-2m", 2, 1, 0, SGM_SCHEDULE_LOGSNR, FAST_DPMPP_2M},
    {"dpmpp-3m", 3, 1, 0, SGM_SCHEDULE_LOGSNR, FAST_DPMPP_3M},
    {"unipc", 3, 1, 0, SGM_SCHEDULE_LOGSNR, FAST_UNIPC},
    {"deis", 3, 1, 0, SGM_SCHEDULE_LOGSNR, FAST_DEIS},
    {"edm-churn", 2, 2, 1, SGM_SCHEDULE_EDM, FAST_EDM_CHURN},
    {"dpmpp-2m-sde", 2, 1, 1, SGM_SCHEDULE_LOGSNR, FAST_DPMPP_2M_SDE},
    {"dpmpp-3m-sde", 3, 1, 1, SGM_SCHEDULE_LOGSNR, FAST_DPMPP_3M_SDE},
};

const sgm_fast_method *const sgm_fast_ddim = &fast_table[FAST_DDIM];
const sgm_fast_method *const sgm_fast_edm_heun = &fast_table[FAST_EDM_HEUN];
const sgm_fast_method *const sgm_fast_dpm_solver_2 = &fast_table[FAST_DPM_SOLVER_2];
const sgm_fast_method *const sgm_fast_dpm_solver_3 = &fast_table[FAST_DPM_SOLVER_3];
const sgm_fast_method *const sgm_fast_dpmpp_2m = &fast_table[FAST_DPMPP_2M];
const sgm_fast_method *const sgm_fast_dpmpp_3m = &fast_table[FAST_DPMPP_3M];
const sgm_fast_method *const sgm_fast_unipc = &fast_table[FAST_UNIPC];
const sgm_fast_method *const sgm_fast_deis = &fast_table[FAST_DEIS];
const sgm_fast_method *const sgm_fast_edm_churn = &fast_table[FAST_EDM_CHURN];
const sgm_fast_method *const sgm_fast_dpmpp_2m_sde = &fast_table[FAST_DPMPP_2M_SDE];
const sgm_fast_method *const sgm_fast_dpmpp_3m_sde = &fast_table[FAST_DPMPP_3M_SDE];

const sgm_fast_method *const sgm_fast_methods[] = {
    &fast_table[FAST_DDIM],         &fast_table[FAST_EDM_HEUN],  &fast_table[FAST_DPM_SOLVER_2],
    &fast_table[FAST_DPM_SOLVER_3], &fast_table[FAST_DPMPP_2M],  &fast_table[FAST_DPMPP_3M],
    &fast_table[FAST_UNIPC],        &fast_table[FAST_DEIS],      &fast_table[FAST_EDM_CHURN],
    &fast_table[FAST_DPMPP_2M_SDE], &fast_table[FAST_DPMPP_3M_SDE], NULL};

const sgm_fast_method *sgm_fast_method_by_name(const char *name)
{
    for (size_t i = 0; name && sgm_fast_methods[i]; i++)
        if (strcmp(name, sgm_fast_methods[i]->name) == 0)
            return sgm_fast_methods[i];
    return NULL;
}

static const char *const schedule_names[] = {"auto", "uniform", "logsnr", "edm"};

const char *sgm_schedule_name(sgm_schedule schedule)
{
    return (unsigned)schedule < 4 ? schedule_names[schedule] : "unknown";
}

int sgm_schedule_parse(const char *name, sgm_schedule *schedule)
{
    for (unsigned i = 0; name && i < 4; i++)
        if (strcmp(name, schedule_names[i]) == 0) {
            *schedule = (sgm_schedule)i;
            return SLV_OK;
        }
    return SLV_EINVAL;
}

void sgm_fast_options_init(sgm_fast_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = sgm_fast_dpmpp_2m;
    o->n_steps = 20;
    o->schedule = SGM_SCHEDULE_AUTO;
    o->rho = 7.0;
    o->eps = SGM_EPS_DEFAULT;
    o->denoise = 1;
    o->deis_order = 2;
    o->churn = 40.0;
    o->s_min = 0.05;
    o->s_max = 50.0;
    o->s_noise = 1.003;
}

/* ---- Noise levels ---------------------------------------------------------------------------- */

/* One point of the grid: time, α_t = m(t), σ_t = s(t), σ̂ = σ_t/α_t, λ = −log σ̂. */
typedef struct level {
    double t, alpha, sigma, sigma_hat, lambda;
} level;
_Static_assert(sizeof(level) % sizeof(double) == 0, "a level is stored in a block of doubles");

/* The time of a scaled noise level σ̂ > 0 (every σ̂(t) is increasing). VE: σ̂ = σ_min (σ_max/σ_min)^t.
 * VP and sub-VP through c = −2 L(t) = β_min t + (β_max − β_min) t²/2: VP σ̂² = e^c − 1, sub-VP
 * σ̂ = e^{c/2} − e^{−c/2}; t is the positive root of the quadratic, written without cancellation. */
static double time_of_sigma_hat(const sgm_process *p, double sigma_hat)
{
    if (p->kind == SGM_PROCESS_VE)
        return log(sigma_hat / p->sigma_min) / log(p->sigma_max / p->sigma_min);
    const double c = p->kind == SGM_PROCESS_VP ? log1p(sigma_hat * sigma_hat)
                                               : 2.0 * asinh(0.5 * sigma_hat);
    const double half_bmin = 0.5 * p->beta_min, spread = p->beta_max - p->beta_min;
    return c / (half_bmin + sqrt(half_bmin * half_bmin + 0.5 * spread * c));
}

static level level_at_t(const sgm_process *p, double t)
{
    level lv;
    lv.t = t;
    lv.alpha = sgm_process_mean_coef(p, t);
    lv.sigma = sgm_process_std(p, t);
    lv.sigma_hat = lv.sigma / lv.alpha;
    lv.lambda = log(lv.alpha) - log(lv.sigma);
    return lv;
}

/* The level of a given λ (σ̂ = e^{−λ} kept exactly; t, α, σ from the process). */
static level level_at_lambda(const sgm_process *p, double lambda)
{
    level lv;
    lv.lambda = lambda;
    lv.sigma_hat = exp(-lambda);
    lv.t = time_of_sigma_hat(p, lv.sigma_hat);
    lv.alpha = sgm_process_mean_coef(p, lv.t);
    lv.sigma = sgm_process_std(p, lv.t);
    return lv;
}

static level level_at_sigma_hat(const sgm_process *p, double sigma_hat)
{
    level lv = level_at_lambda(p, -log(sigma_hat));
    lv.sigma_hat = sigma_hat;
    return lv;
}

/* φ₂(z) = (e^z − 1 − z)/z² and φ₃(z) = (e^z − 1 − z − z²/2)/z³, by their series near 0 where the
 * closed forms cancel. With them the exponential-integrator weights read
 *   ∫₀^h e^{−(h−τ)} τ dτ = h² φ₂(−h),   ∫₀^h e^{−(h−τ)} τ²/2 dτ = h³ φ₃(−h). */
static double phi2(double z)
{
    if (fabs(z) < 0.25) {
        double term = 0.5, sum = 0.5;
        for (int k = 1; k < 14; k++) {
            term *= z / (double)(k + 2);
            sum += term;
        }
        return sum;
    }
    return (expm1(z) - z) / (z * z);
}

static double phi3(double z)
{
    if (fabs(z) < 0.25) {
        double term = 1.0 / 6.0, sum = term;
        for (int k = 1; k < 14; k++) {
            term *= z / (double)(k + 3);
            sum += term;
        }
        return sum;
    }
    return (expm1(z) - z - 0.5 * z * z) / (z * z * z);
}

/* ---- One call ---------------------------------------------------------------------------------- */

enum { N_BUFFERS = 8 }; /* (n, d) work arrays besides the evaluation input */
enum { DEIS_MAX_NODES = 4, DEIS_QUADRATURE_POINTS = 20 };

typedef struct fast_run {
    sgm_call c;
    const sgm_fast_options *o;
    const sgm_fast_method *method;
    size_t n, d, K, M; /* K steps; M grid intervals between σ̂(T) and σ̂(eps) */
    uint64_t seed;
    double *x;         /* (n, d) the caller's array, holding x̂ during the call */
    double *xs;        /* (n, d) evaluation input x = α x̂ (known coordinates replaced) */
    double *buf[N_BUFFERS];
    double *inpaint_noise; /* (n, d) or NULL */
    level *grid;       /* (M + 1) */
    double *deis_coef; /* (M, DEIS_MAX_NODES) tAB-DEIS weights, or NULL */
    gsl_rng *rng;      /* noise of the stochastic samplers, inpainting noise */
    size_t at;         /* grid index of the state in x (for the report on failure) */
    int done;          /* 1: the sampler took the step to σ̂ = 0 itself */
} fast_run;

/* Evaluates the batch at level lv and input xhat: D (data prediction) when want_noise is 0, else
 * ε = −σ_t s (noise prediction), into out. One batched score call. */
static int evaluate(fast_run *r, const level *lv, const double *xhat, double *out, int want_noise)
{
    const size_t nd = r->n * r->d;
    for (size_t i = 0; i < nd; i++)
        r->xs[i] = lv->alpha * xhat[i];
    if (r->o->inpaint)
        sgm_inpaint_replace(&r->c, r->o->inpaint, lv->t, r->n, 0, r->xs, r->inpaint_noise, NULL, 0,
                            0);
    int status = sgm_call_score(&r->c, lv->t, r->n, 0, r->xs, out);
    if (status != SLV_OK)
        return status;
    if (want_noise) {
        for (size_t i = 0; i < nd; i++)
            out[i] *= -lv->sigma;
    } else {
        const double s2 = lv->sigma * lv->sigma;
        for (size_t i = 0; i < nd; i++)
            out[i] = (r->xs[i] + s2 * out[i]) / lv->alpha;
    }
    return SLV_OK;
}

static int denoiser(fast_run *r, const level *lv, const double *xhat, double *D)
{
    return evaluate(r, lv, xhat, D, 0);
}

static int noise_prediction(fast_run *r, const level *lv, const double *xhat, double *eps)
{
    return evaluate(r, lv, xhat, eps, 1);
}

static int check_interrupt(fast_run *r, size_t step)
{
    if (r->o->interrupt && *r->o->interrupt)
        return slv_error_set(&r->c.err, SLV_EINTERRUPTED, r->grid[r->at].t, -1,
                             "%s: interrupted before step %zu of %zu (t = %.17g)", r->method->name,
                             step, r->K, r->grid[r->at].t);
    return SLV_OK;
}

/* z[n*d]: standard normal noise of step k, stream SGM_STREAM_STEP(k, 0) of each sample. */
static void draw_noise(fast_run *r, size_t k, double *z)
{
    for (size_t s = 0; s < r->n; s++) {
        slv_rng_set_stream(r->rng, r->seed, (uint64_t)(r->c.first_sample + s), SGM_STREAM_STEP(k, 0));
        for (size_t j = 0; j < r->d; j++)
            z[s * r->d + j] = gsl_ran_gaussian_ziggurat(r->rng, 1.0);
    }
}

/* The order of step i of the M for a multistep sampler of order `order` (2M, 3M, UniPC, DEIS):
 * the warm-up steps are lower (step i has i + 1 values), and with fewer than 10 steps the last
 * ones drop to lower orders too (DPM-Solver's lower_order_final, for stability at very few steps;
 * we apply it to every multistep sampler. UniPC's code does it at any step count, which makes
 * its last step first order; from 10 steps on we keep the full order). */
static unsigned step_order(const fast_run *r, size_t i, unsigned order)
{
    unsigned k = order;
    if ((size_t)k > i + 1)
        k = (unsigned)(i + 1);
    if (r->M < 10 && (size_t)k > r->M - i)
        k = (unsigned)(r->M - i);
    return k;
}

/* ---- The deterministic samplers ---------------------------------------------------------------- */

/* DDIM (η = 0) = DPM-Solver++1 = DPM-Solver-1: x̂ ← e^{−h} x̂ + (1 − e^{−h}) D. Ends at σ̂(eps). */
static int run_ddim(fast_run *r)
{
    const size_t nd = r->n * r->d;
    double *D = r->buf[0];
    for (size_t i = 0; i < r->M; i++) {
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = denoiser(r, &r->grid[i], r->x, D);
        if (status != SLV_OK)
            return status;
        const double h = r->grid[i + 1].lambda - r->grid[i].lambda;
        const double keep = exp(-h), take = -expm1(-h);
        for (size_t k = 0; k < nd; k++)
            r->x[k] = keep * r->x[k] + take * D[k];
        r->at = i + 1;
    }
    return SLV_OK;
}

/* Heun in σ̂ (Karras et al. Alg. 1): d = (x̂ − D)/σ̂, Euler predictor, trapezoidal corrector.
 * Every step here ends at σ̂ > 0, so all are Heun; the step to σ̂ = 0 (denoise) is the Euler
 * step x̂ − σ̂ d = D, taken by the common end of the call: NFE 2K − 1 with denoise. */
static int run_edm_heun(fast_run *r)
{
    const size_t nd = r->n * r->d;
    double *D = r->buf[0], *xp = r->buf[1], *slope = r->buf[2];
    for (size_t i = 0; i < r->M; i++) {
        const level *a = &r->grid[i], *b = &r->grid[i + 1];
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = denoiser(r, a, r->x, D);
        if (status != SLV_OK)
            return status;
        const double ds = b->sigma_hat - a->sigma_hat;
        for (size_t k = 0; k < nd; k++) {
            slope[k] = (r->x[k] - D[k]) / a->sigma_hat;
            xp[k] = r->x[k] + ds * slope[k];
        }
        status = denoiser(r, b, xp, D);
        if (status != SLV_OK)
            return status;
        for (size_t k = 0; k < nd; k++)
            r->x[k] += 0.5 * ds * (slope[k] + (xp[k] - D[k]) / b->sigma_hat);
        r->at = i + 1;
    }
    return SLV_OK;
}

/* Single-step DPM-Solver-2 and -3 (Lu et al. 2022a, noise prediction, the authors' "dpmsolver"
 * variant with intermediate levels at λ + r h): in x̂ the exponential integrator of
 * dx̂/dλ = −σ̂ ε is x̂_t = x̂_s − σ̂_t (e^h − 1) ε_s − ..., with (e^h − 1)/h − 1 = h φ₂(h).
 *   order 2, r₁ = ½:  u = x̂ − σ̂_{s1}(e^{h/2} − 1) ε_s;  x̂ ← x̂ − σ̂_t (e^h − 1) ε(u)
 *   order 3, r₁ = ⅓, r₂ = ⅔:
 *     u₁ = x̂ − σ̂_{s1}(e^{r₁h} − 1) ε_s
 *     u₂ = x̂ − σ̂_{s2}(e^{r₂h} − 1) ε_s − (r₂/r₁) σ̂_{s2} r₂h φ₂(r₂h) (ε(u₁) − ε_s)
 *     x̂ ← x̂ − σ̂_t (e^h − 1) ε_s − (1/r₂) σ̂_t h φ₂(h) (ε(u₂) − ε_s)
 * Ends at σ̂(eps); the denoising step is the common end of the call. */
static int run_dpm_solver(fast_run *r, int order)
{
    const sgm_process *p = r->c.process;
    const size_t nd = r->n * r->d;
    double *e0 = r->buf[0], *e1 = r->buf[1], *e2 = r->buf[2], *u = r->buf[3];
    const double r1 = order == 2 ? 0.5 : 1.0 / 3.0, r2 = 2.0 / 3.0;
    for (size_t i = 0; i < r->M; i++) {
        const level *a = &r->grid[i], *b = &r->grid[i + 1];
        const double h = b->lambda - a->lambda;
        const level s1 = level_at_lambda(p, a->lambda + r1 * h);
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = noise_prediction(r, a, r->x, e0);
        if (status != SLV_OK)
            return status;
        const double c1 = s1.sigma_hat * expm1(r1 * h);
        for (size_t k = 0; k < nd; k++)
            u[k] = r->x[k] - c1 * e0[k];
        status = noise_prediction(r, &s1, u, e1);
        if (status != SLV_OK)
            return status;
        const double full = b->sigma_hat * expm1(h);
        if (order == 2) {
            for (size_t k = 0; k < nd; k++)
                r->x[k] -= full * e1[k];
        } else {
            const level s2 = level_at_lambda(p, a->lambda + r2 * h);
            const double c2 = s2.sigma_hat * expm1(r2 * h);
            const double c21 = (r2 / r1) * s2.sigma_hat * r2 * h * phi2(r2 * h);
            for (size_t k = 0; k < nd; k++)
                u[k] = r->x[k] - c2 * e0[k] - c21 * (e1[k] - e0[k]);
            status = noise_prediction(r, &s2, u, e2);
            if (status != SLV_OK)
                return status;
            const double c3 = b->sigma_hat * h * phi2(h) / r2;
            for (size_t k = 0; k < nd; k++)
                r->x[k] -= full * e0[k] + c3 * (e2[k] - e0[k]);
        }
        r->at = i + 1;
    }
    return SLV_OK;
}

/* Multistep DPM-Solver++ (Lu et al. 2022b, data prediction): with D_i, D_{i−1}, D_{i−2} at the
 * last levels, h = λ_{i+1} − λ_i, r₀ = h_{i}/h (h_i = λ_i − λ_{i−1}), r₁ = h_{i−1}/h,
 *   order 1:  x̂ ← e^{−h} x̂ + (1 − e^{−h}) D_i                                         (DDIM)
 *   order 2:  x̂ ← e^{−h} x̂ + (1 − e^{−h}) [(1 + 1/(2r₀)) D_i − D_{i−1}/(2r₀)]           (2M)
 *   order 3:  D1₀ = (D_i − D_{i−1})/r₀, D1₁ = (D_{i−1} − D_{i−2})/r₁,
 *             D1 = D1₀ + r₀/(r₀ + r₁) (D1₀ − D1₁) ≈ h D',  D2 = (D1₀ − D1₁)/(r₀ + r₁) ≈ h² D''/2,
 *             x̂ ← e^{−h} x̂ + (1 − e^{−h}) D_i + h φ₂(−h) D1 + 2 h φ₃(−h) D2                (3M)
 * The 3M weight of D2 is twice the authors' (their code's "− φ₃ D2" with φ₃ = φ₂/h − ½ equals
 * h φ₃(−h) D2): the Taylor term ∫₀^h e^{−(h−τ)} τ²/2 dτ D'' = h³ φ₃(−h) D'' needs 2 h φ₃(−h) D2,
 * and with the authors' weight the method is second order (docs/sde.md measures both). The
 * first steps warm up with orders 1 and 2 (step_order). Ends at σ̂(eps). */
static int run_dpmpp_multistep(fast_run *r, unsigned order)
{
    const size_t nd = r->n * r->d;
    double *D0 = r->buf[0], *D1 = r->buf[1], *D2 = r->buf[2]; /* D_i, D_{i−1}, D_{i−2} */
    for (size_t i = 0; i < r->M; i++) {
        const level *a = &r->grid[i], *b = &r->grid[i + 1];
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = denoiser(r, a, r->x, D0);
        if (status != SLV_OK)
            return status;
        const double h = b->lambda - a->lambda, keep = exp(-h), take = -expm1(-h);
        const unsigned k_order = step_order(r, i, order);
        if (k_order == 1) {
            for (size_t k = 0; k < nd; k++)
                r->x[k] = keep * r->x[k] + take * D0[k];
        } else if (k_order == 2) {
            const double r0 = (a->lambda - r->grid[i - 1].lambda) / h, w = 0.5 / r0;
            for (size_t k = 0; k < nd; k++)
                r->x[k] = keep * r->x[k] + take * ((1.0 + w) * D0[k] - w * D1[k]);
        } else {
            const double r0 = (a->lambda - r->grid[i - 1].lambda) / h;
            const double r1 = (r->grid[i - 1].lambda - r->grid[i - 2].lambda) / h;
            const double w1 = h * phi2(-h), w2 = 2.0 * h * phi3(-h);
            for (size_t k = 0; k < nd; k++) {
                const double d10 = (D0[k] - D1[k]) / r0, d11 = (D1[k] - D2[k]) / r1;
                const double first = d10 + r0 / (r0 + r1) * (d10 - d11);
                const double second = (d10 - d11) / (r0 + r1);
                r->x[k] = keep * r->x[k] + take * D0[k] + w1 * first + w2 * second;
            }
        }
        double *oldest = D2; /* rotate the history: D_{i−2} ← D_{i−1} ← D_i */
        D2 = D1;
        D1 = D0;
        D0 = oldest;
        r->at = i + 1;
    }
    return SLV_OK;
}

/* UniPC with B(h) = e^{−h} − 1 (bh2), data prediction, order 2 (Zhao et al. 2023, the authors'
 * multistep_uni_pc_bh_update): m₀ = D at the current level, m₁ the one before, r₁ = (λ_{i−1} −
 * λ_i)/h < 0, D1 = (m₁ − m₀)/r₁, B = e^{−h} − 1,
 *   base  = e^{−h} x̂ − B m₀
 *   UniP-2 (predictor, = DPM-Solver++(2M)):  x̃ = base − B ½ D1     (first step: x̃ = base)
 *   UniC (corrector, with m_t = D(x̃) at the new level):
 *           x̂ = base − B (ρ₀ D1 + ρ₁ (m_t − m₀)),  [1 1; r₁ 1] (ρ₀, ρ₁) = (b₁, b₂),
 *           b₁ = −h φ₂(−h)/B,  b₂ = −2h φ₃(−h)/B                     (first step: ρ₁ = ½, no D1)
 * m_t, taken at the predicted state, is reused as the next step's m₀, so the corrector costs
 * no evaluation; the last step has no corrector (it would need one). UniC raises the order to 3.
 * Ends at σ̂(eps) with the predictor's state; the denoising step is the common end. */
static int run_unipc(fast_run *r)
{
    const size_t nd = r->n * r->d;
    double *m0 = r->buf[0], *m1 = r->buf[1], *mt = r->buf[2], *base = r->buf[3], *pred = r->buf[4];
    for (size_t i = 0; i < r->M; i++) {
        const level *a = &r->grid[i], *b = &r->grid[i + 1];
        int status = check_interrupt(r, i);
        if (status == SLV_OK && i == 0) /* later steps have m₀ from the corrector's evaluation */
            status = denoiser(r, a, r->x, m0);
        if (status != SLV_OK)
            return status;
        const double h = b->lambda - a->lambda, B = expm1(-h), keep = exp(-h);
        const unsigned k_order = step_order(r, i, 2);
        const double r1 = i > 0 ? (r->grid[i - 1].lambda - a->lambda) / h : -1.0;
        for (size_t k = 0; k < nd; k++) {
            base[k] = keep * r->x[k] - B * m0[k];
            pred[k] = k_order == 2 ? base[k] - B * 0.5 * (m1[k] - m0[k]) / r1 : base[k];
        }
        if (i + 1 == r->M) { /* last step: predictor only */
            memcpy(r->x, pred, nd * sizeof *pred);
            r->at = i + 1;
            break;
        }
        if ((status = denoiser(r, b, pred, mt)) != SLV_OK)
            return status;
        if (k_order == 1) {
            for (size_t k = 0; k < nd; k++)
                r->x[k] = base[k] - B * 0.5 * (mt[k] - m0[k]);
        } else {
            const double b1 = -h * phi2(-h) / B, b2 = -2.0 * h * phi3(-h) / B;
            const double rho0 = (b1 - b2) / (1.0 - r1), rho1 = b1 - rho0;
            for (size_t k = 0; k < nd; k++)
                r->x[k] = base[k] - B * (rho0 * (m1[k] - m0[k]) / r1 + rho1 * (mt[k] - m0[k]));
        }
        double *spare = m1; /* m₁ ← m₀ ← m_t */
        m1 = m0;
        m0 = mt;
        mt = spare;
        r->at = i + 1;
    }
    return SLV_OK;
}

/* tAB-DEIS weights (Zhang & Chen 2022): in x̂ the probability-flow ODE is dx̂/dt = σ̂'(t) ε, and
 * tAB-DEIS replaces ε by the polynomial in t through (t_i, ε_i), ..., (t_{i−q+1}, ε_{i−q+1}):
 *   x̂_{i+1} = x̂_i + Σ_j C_ij ε_{i−j},  C_ij = ∫_{t_i}^{t_{i+1}} σ̂'(τ) ℓ_j(τ) dτ
 *           = −∫_{λ_i}^{λ_{i+1}} e^{−λ} ℓ_j(t(λ)) dλ,
 * ℓ_j the Lagrange basis of node t_{i−j}, q = step_order(i, deis_order + 1). The authors sum
 * 10000-point Riemann sums in t; the integral in λ has a smooth integrand (σ̂' ∝ 1/√t near t = 0
 * for VP), so a 20-point Gauss–Legendre rule is exact to rounding. With q = 1, C_i0 = σ̂_{i+1} −
 * σ̂_i: DDIM. */
static int deis_weights(fast_run *r)
{
    const sgm_process *p = r->c.process;
    gsl_integration_glfixed_table *table = gsl_integration_glfixed_table_alloc(DEIS_QUADRATURE_POINTS);
    if (!table)
        return slv_error_set(&r->c.err, SLV_ENOMEM, p->T, -1, "deis: cannot allocate the quadrature");
    for (size_t i = 0; i < r->M; i++) {
        const unsigned q = step_order(r, i, r->o->deis_order + 1);
        double *C = r->deis_coef + i * DEIS_MAX_NODES;
        for (unsigned j = 0; j < DEIS_MAX_NODES; j++)
            C[j] = 0.0;
        for (size_t g = 0; g < DEIS_QUADRATURE_POINTS; g++) {
            double lambda, weight;
            gsl_integration_glfixed_point(r->grid[i].lambda, r->grid[i + 1].lambda, g, &lambda,
                                          &weight, table);
            const double t = time_of_sigma_hat(p, exp(-lambda));
            for (unsigned j = 0; j < q; j++) {
                double basis = 1.0;
                for (unsigned m = 0; m < q; m++)
                    if (m != j)
                        basis *= (t - r->grid[i - m].t) / (r->grid[i - j].t - r->grid[i - m].t);
                C[j] -= weight * exp(-lambda) * basis;
            }
        }
    }
    gsl_integration_glfixed_table_free(table);
    return SLV_OK;
}

/* tAB-DEIS steps with the weights above (noise prediction). Ends at σ̂(eps). */
static int run_deis(fast_run *r)
{
    const size_t nd = r->n * r->d;
    double *eps[DEIS_MAX_NODES] = {r->buf[0], r->buf[1], r->buf[2], r->buf[3]}; /* ε_i, ε_{i−1}, ... */
    for (size_t i = 0; i < r->M; i++) {
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = noise_prediction(r, &r->grid[i], r->x, eps[0]);
        if (status != SLV_OK)
            return status;
        const double *C = r->deis_coef + i * DEIS_MAX_NODES;
        const unsigned q = step_order(r, i, r->o->deis_order + 1);
        for (unsigned j = 0; j < q; j++)
            for (size_t k = 0; k < nd; k++)
                r->x[k] += C[j] * eps[j][k];
        double *oldest = eps[DEIS_MAX_NODES - 1];
        for (unsigned j = DEIS_MAX_NODES - 1; j > 0; j--)
            eps[j] = eps[j - 1];
        eps[0] = oldest;
        r->at = i + 1;
    }
    return SLV_OK;
}

/* ---- The stochastic samplers ------------------------------------------------------------------- */

/* Karras et al. Alg. 2 on the grid σ̂_0 .. σ̂_M (then 0 when denoising): at a level in
 * [S_min, S_max] the level is raised to σ̂(1 + γ), γ = min(churn/K, √2 − 1), capped at σ̂(T), by
 * adding √(σ̂_new² − σ̂²) S_noise z; then a Heun step from the raised level, or an Euler step when
 * the next level is 0. This sampler takes the step to σ̂ = 0 itself (Alg. 2 may churn before it):
 * its result x̂ − σ̂ d = D carries no noise. */
static int run_edm_churn(fast_run *r)
{
    const sgm_process *p = r->c.process;
    const sgm_fast_options *o = r->o;
    const size_t nd = r->n * r->d;
    double *D = r->buf[0], *xp = r->buf[1], *slope = r->buf[2], *raised = r->buf[3], *z = r->buf[4];
    const double gamma_max = fmin(o->churn / (double)r->K, sqrt(2.0) - 1.0);
    const size_t steps = r->M + (o->denoise ? 1 : 0);
    for (size_t i = 0; i < steps; i++) {
        const level *a = &r->grid[i];
        const int to_zero = i == r->M;
        int status = check_interrupt(r, i);
        if (status != SLV_OK)
            return status;
        double gamma = a->sigma_hat >= o->s_min && a->sigma_hat <= o->s_max ? gamma_max : 0.0;
        double sigma_up = fmin(a->sigma_hat * (1.0 + gamma), r->grid[0].sigma_hat);
        level up = *a;
        const double *from = r->x;
        if (sigma_up > a->sigma_hat) {
            up = level_at_sigma_hat(p, sigma_up);
            const double add = sqrt(sigma_up * sigma_up - a->sigma_hat * a->sigma_hat) * o->s_noise;
            draw_noise(r, i, z);
            for (size_t k = 0; k < nd; k++)
                raised[k] = r->x[k] + add * z[k];
            from = raised;
        }
        status = denoiser(r, &up, from, D);
        if (status != SLV_OK)
            return status;
        if (to_zero) { /* Euler to σ̂ = 0: x̂ + (0 − σ̂) (x̂ − D)/σ̂ = D */
            memcpy(r->x, D, nd * sizeof *D);
            r->done = 1;
            break;
        }
        const level *b = &r->grid[i + 1];
        const double ds = b->sigma_hat - up.sigma_hat;
        for (size_t k = 0; k < nd; k++) {
            slope[k] = (from[k] - D[k]) / up.sigma_hat;
            xp[k] = from[k] + ds * slope[k];
        }
        status = denoiser(r, b, xp, D);
        if (status != SLV_OK)
            return status;
        for (size_t k = 0; k < nd; k++)
            r->x[k] = from[k] + 0.5 * ds * (slope[k] + (xp[k] - D[k]) / b->sigma_hat);
        r->at = i + 1;
    }
    return SLV_OK;
}

/* k-diffusion's DPM-Solver++(2M) SDE (solver_type "midpoint") and (3M) SDE with η = 1, in x̂:
 * with e = 1 − e^{−2h} (the linear factor σ̂_{i+1}/σ̂_i e^{−h} = e^{−2h}),
 *   x̂ ← e^{−2h} x̂ + e D_i + [correction] + σ̂_{i+1} √e S_noise z,
 *   2M: correction ½ e (D_i − D_{i−1})/r₀ once a past value exists;
 *   3M: with h₂ = 2h, k-diffusion's phi_2 = expm1(−h₂)/h₂ + 1 = h₂ φ₂(−h₂) and
 *       phi_3 = phi_2/h₂ − ½ = −h₂ φ₃(−h₂), and d1, d2 as the 3M ODE's D1, D2: correction
 *       phi_2 d1 − 2 phi_3 d2 (with one past value phi_2 (D_i − D_{i−1})/r₀). k-diffusion
 *       subtracts phi_3 d2 once; the factor 2 is the 3M ODE's correction (the same Taylor term,
 *       ∫₀^h 2e^{−2(h−τ)} τ²/2 dτ D'' = −h² phi_3 D'' with d2 ≈ h² D''/2).
 * The noise of step i is stream SGM_STREAM_STEP(i, 0). Ends at σ̂(eps) with that level's noise;
 * with denoise the common end takes x̂ ← D (k-diffusion's "denoising step" to σ = 0): no noise. */
static int run_dpmpp_sde(fast_run *r, unsigned order)
{
    const size_t nd = r->n * r->d;
    double *D0 = r->buf[0], *D1 = r->buf[1], *D2 = r->buf[2], *z = r->buf[3];
    for (size_t i = 0; i < r->M; i++) {
        const level *a = &r->grid[i], *b = &r->grid[i + 1];
        int status = check_interrupt(r, i);
        if (status == SLV_OK)
            status = denoiser(r, a, r->x, D0);
        if (status != SLV_OK)
            return status;
        const double h = b->lambda - a->lambda, h2 = 2.0 * h;
        const double keep = exp(-h2), e = -expm1(-h2);
        const double noise = b->sigma_hat * sqrt(e) * r->o->s_noise;
        const unsigned past = i < order - 1 ? (unsigned)i : order - 1; /* past values used */
        draw_noise(r, i, z);
        if (past == 0) {
            for (size_t k = 0; k < nd; k++)
                r->x[k] = keep * r->x[k] + e * D0[k] + noise * z[k];
        } else {
            const double r0 = (a->lambda - r->grid[i - 1].lambda) / h;
            if (order == 2) {
                const double w = 0.5 * e / r0;
                for (size_t k = 0; k < nd; k++)
                    r->x[k] = keep * r->x[k] + e * D0[k] + w * (D0[k] - D1[k]) + noise * z[k];
            } else {
                const double p2 = h2 * phi2(-h2), p3 = -h2 * phi3(-h2); /* k-diffusion's phi_2, phi_3 */
                if (past == 1) {
                    for (size_t k = 0; k < nd; k++)
                        r->x[k] = keep * r->x[k] + e * D0[k] + p2 * (D0[k] - D1[k]) / r0 + noise * z[k];
                } else {
                    const double r1 = (r->grid[i - 1].lambda - r->grid[i - 2].lambda) / h;
                    for (size_t k = 0; k < nd; k++) {
                        const double d10 = (D0[k] - D1[k]) / r0, d11 = (D1[k] - D2[k]) / r1;
                        const double d1 = d10 + (d10 - d11) * r0 / (r0 + r1);
                        const double d2 = (d10 - d11) / (r0 + r1);
                        r->x[k] = keep * r->x[k] + e * D0[k] + p2 * d1 - 2.0 * p3 * d2 + noise * z[k];
                    }
                }
            }
        }
        double *oldest = D2;
        D2 = D1;
        D1 = D0;
        D0 = oldest;
        r->at = i + 1;
    }
    return SLV_OK;
}

/* ---- Driver ------------------------------------------------------------------------------------ */

static int check_options(sgm_call *c, const sgm_fast_options *o)
{
    const char *name = o->method ? o->method->name : "fast";
    if (!o->method)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "fast: method is NULL, expected a sampler such as sgm_fast_dpmpp_2m");
    if (o->method->kind < 0 || o->method->kind >= FAST_N_KINDS ||
        o->method != &fast_table[o->method->kind])
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "fast: method '%s' is not one of the sgm_fast_methods table", name);
    if (o->n_steps < (o->denoise ? 2u : 1u) || o->n_steps >= ((size_t)1 << 26))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "%s: n_steps = %zu, expected %s .. 2^26 - 1", name, o->n_steps,
                             o->denoise ? "2 (with denoise the last step goes to sigma = 0)" : "1");
    if ((unsigned)o->schedule > SGM_SCHEDULE_EDM)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "%s: schedule %d, expected auto, uniform, logsnr or edm", name,
                             (int)o->schedule);
    if (!(o->rho > 0.0) || !isfinite(o->rho))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "%s: rho = %g, expected a finite value > 0",
                             name, o->rho);
    if (o->method->kind == FAST_DEIS && (o->deis_order < 1 || o->deis_order > 3))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "deis: deis_order = %u, expected 1, 2 or 3 (degree of the polynomial)",
                             o->deis_order);
    if (o->method->stochastic && (!(o->s_noise > 0.0) || !isfinite(o->s_noise)))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "%s: s_noise = %g, expected a finite value > 0",
                             name, o->s_noise);
    if (o->method->kind == FAST_EDM_CHURN) {
        if (!(o->churn >= 0.0) || !isfinite(o->churn))
            return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                                 "edm-churn: churn = %g, expected a finite value >= 0", o->churn);
        if (!(o->s_min >= 0.0) || !(o->s_max >= o->s_min) || isnan(o->s_max))
            return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                                 "edm-churn: s_min = %g, s_max = %g, expected 0 <= s_min <= s_max", o->s_min,
                                 o->s_max);
    }
    return sgm_inpaint_validate(c, o->inpaint);
}

/* The grid of M + 1 levels from σ̂(T) to σ̂(eps) on the schedule; SLV_EINVAL when two levels
 * coincide (a step of zero length). */
static int build_grid(fast_run *r, double eps)
{
    const sgm_process *p = r->c.process;
    const size_t M = r->M;
    const sgm_schedule schedule =
        r->o->schedule == SGM_SCHEDULE_AUTO ? r->method->schedule : r->o->schedule;
    const level first = level_at_t(p, p->T), last = level_at_t(p, eps);
    r->grid[0] = first;
    r->grid[M] = last;
    const double inv_rho = 1.0 / r->o->rho;
    const double a = pow(first.sigma_hat, inv_rho), b = pow(last.sigma_hat, inv_rho);
    for (size_t i = 1; i < M; i++) {
        const double u = (double)i / (double)M;
        switch (schedule) {
        case SGM_SCHEDULE_UNIFORM: r->grid[i] = level_at_t(p, p->T + u * (eps - p->T)); break;
        case SGM_SCHEDULE_EDM: r->grid[i] = level_at_sigma_hat(p, pow(a + u * (b - a), r->o->rho)); break;
        default: r->grid[i] = level_at_lambda(p, first.lambda + u * (last.lambda - first.lambda)); break;
        }
    }
    for (size_t i = 0; i < M; i++)
        if (!(r->grid[i + 1].lambda > r->grid[i].lambda))
            return slv_error_set(&r->c.err, SLV_EINVAL, r->grid[i].t, -1,
                                 "%s: the %s schedule gives equal noise levels at steps %zu and %zu "
                                 "(sigma_hat %.17g): n_steps = %zu is too many for this range",
                                 r->method->name, sgm_schedule_name(schedule), i, i + 1,
                                 r->grid[i].sigma_hat, r->K);
    return SLV_OK;
}

/* The sampler proper on x[n*d] (the states at T), with c initialised and the options checked. */
static int fast_run_call(fast_run *r, double eps)
{
    const sgm_process *p = r->c.process;
    const sgm_fast_options *o = r->o;
    const size_t n = r->n, d = r->d, nd = n * d;
    const int deis = r->method->kind == FAST_DEIS;
    const size_t n_arrays = 1 + N_BUFFERS + (o->inpaint ? 1 : 0);
    double *block = NULL;
    int status = SLV_OK;

    r->M = o->denoise ? r->K - 1 : r->K;
    /* One allocation: the (n, d) arrays, the grid (levels are made of doubles), the DEIS weights. */
    const size_t grid_doubles = (r->M + 1) * (sizeof(level) / sizeof(double));
    const size_t extra = grid_doubles + (deis ? r->M * DEIS_MAX_NODES : 0); /* K < 2^26: no overflow */
    const size_t n_doubles = n_arrays * nd + extra;
    if (nd > (SIZE_MAX / sizeof(double) - extra) / n_arrays) {
        status = slv_error_set(&r->c.err, SLV_ENOMEM, p->T, -1,
                               "%s: %zu workspace arrays of %zu points of dimension %zu overflow memory sizes",
                               r->method->name, n_arrays, n, d);
        goto done;
    }
    block = malloc(n_doubles * sizeof *block);
    if (r->method->stochastic || o->inpaint)
        r->rng = gsl_rng_alloc(slv_rng_counter);
    if (!block || ((r->method->stochastic || o->inpaint) && !r->rng)) {
        status = slv_error_set(&r->c.err, SLV_ENOMEM, p->T, -1,
                               "%s: cannot allocate %zu doubles of workspace", r->method->name, n_doubles);
        goto done;
    }
    r->xs = block;
    for (size_t b = 0; b < N_BUFFERS; b++)
        r->buf[b] = block + (1 + b) * nd;
    r->inpaint_noise = o->inpaint ? block + (1 + N_BUFFERS) * nd : NULL;
    r->grid = (level *)(block + n_arrays * nd);
    r->deis_coef = deis ? block + n_arrays * nd + grid_doubles : NULL;

    if ((status = build_grid(r, eps)) != SLV_OK)
        goto done;
    if (deis && (status = deis_weights(r)) != SLV_OK)
        goto done;
    if (o->inpaint) { /* one forward-noise vector per sample for the whole call, as sgm_decode */
        memset(r->inpaint_noise, 0, nd * sizeof *r->inpaint_noise);
        for (size_t i = 0; i < n; i++) {
            slv_rng_set_stream(r->rng, r->seed, (uint64_t)(r->c.first_sample + i), SGM_STREAM_INPAINT_ODE);
            for (size_t j = 0; j < d; j++)
                if (o->inpaint->mask[j])
                    r->inpaint_noise[i * d + j] = gsl_ran_gaussian_ziggurat(r->rng, 1.0);
        }
    }
    /* x̂ = x/α at T */
    for (size_t k = 0; k < nd; k++)
        r->x[k] /= r->grid[0].alpha;
    r->at = 0;

    switch (r->method->kind) {
    case FAST_DDIM: status = run_ddim(r); break;
    case FAST_EDM_HEUN: status = run_edm_heun(r); break;
    case FAST_DPM_SOLVER_2: status = run_dpm_solver(r, 2); break;
    case FAST_DPM_SOLVER_3: status = run_dpm_solver(r, 3); break;
    case FAST_DPMPP_2M: status = run_dpmpp_multistep(r, 2); break;
    case FAST_DPMPP_3M: status = run_dpmpp_multistep(r, 3); break;
    case FAST_UNIPC: status = run_unipc(r); break;
    case FAST_DEIS: status = run_deis(r); break;
    case FAST_EDM_CHURN: status = run_edm_churn(r); break;
    case FAST_DPMPP_2M_SDE: status = run_dpmpp_sde(r, 2); break;
    case FAST_DPMPP_3M_SDE: status = run_dpmpp_sde(r, 3); break;
    default: status = slv_error_set(&r->c.err, SLV_EINVAL, 0.0, -1, "fast: unknown method kind");
    }
    /* The end: with denoise, the step from σ̂(eps) to 0 is x̂ ← D(x̂; σ̂(eps)) (Tweedie's formula:
     * EDM's Euler step to 0, DDIM's and DPM-Solver++'s step to σ = 0, DPM-Solver's
     * denoise_to_zero) unless the sampler took it itself (edm-churn); the output D is in data
     * units. Without denoise the output is x(eps) = α(eps) x̂. */
    if (status == SLV_OK && o->denoise && !r->done) {
        status = check_interrupt(r, r->K - 1);
        if (status == SLV_OK)
            status = denoiser(r, &r->grid[r->M], r->x, r->buf[N_BUFFERS - 1]);
        if (status == SLV_OK) {
            memcpy(r->x, r->buf[N_BUFFERS - 1], nd * sizeof *r->x);
            r->done = 1;
        }
    }
    if (status == SLV_OK && o->denoise) {
        if (o->inpaint)
            sgm_inpaint_finish(&r->c, o->inpaint, n, 0, r->x);
    } else {
        const double alpha = r->grid[r->at].alpha; /* also on failure: the state where it stopped */
        for (size_t k = 0; k < nd; k++)
            r->x[k] *= alpha;
        if (status == SLV_OK && o->inpaint)
            sgm_inpaint_finish(&r->c, o->inpaint, n, 0, r->x);
    }
    if (status == SLV_OK) {
        long bad = slv_find_nonfinite(r->x, nd);
        if (bad >= 0)
            status = slv_error_set(&r->c.err, SLV_ENONFINITE, eps, (long)(r->c.first_sample + (size_t)bad / d),
                                   "%s: sample %zu, component %zu is %g at the end (t = %g)", r->method->name,
                                   r->c.first_sample + (size_t)bad / d, (size_t)bad % d, r->x[bad], eps);
    }
    r->c.stats.n_steps = r->K;
done:
    r->c.stats.nfe = r->c.stats.n_score_calls;
    free(block);
    if (r->rng)
        gsl_rng_free(r->rng);
    r->rng = NULL;
    return status;
}

/* Checks and resolves what every entry point shares; SLV_OK with r ready for fast_run_call. */
static int fast_prepare(fast_run *r, const sgm_process *process, const sgm_score_model *model,
                        const sgm_fast_options *options, size_t n, uint64_t seed, size_t first_sample,
                        double *eps)
{
    memset(r, 0, sizeof *r);
    int status = sgm_call_init(&r->c, process, model, n, first_sample);
    if (status != SLV_OK)
        return status;
    if (!options)
        return slv_error_set(&r->c.err, SLV_EINVAL, 0.0, -1, "fast: options is NULL");
    if ((status = check_options(&r->c, options)) != SLV_OK)
        return status;
    if ((status = sgm_resolve_eps(&r->c, options->eps, sgm_process_default_eps(process), eps)) != SLV_OK)
        return status;
    if (process->kind != SGM_PROCESS_VE && !(*eps > 0.0))
        return slv_error_set(&r->c.err, SLV_EINVAL, 0.0, -1,
                             "%s: eps = 0 gives sigma = 0 for %s (log-SNR infinite); use eps > 0 (the "
                             "denoising step then goes to sigma = 0)",
                             options->method->name, sgm_process_kind_name(process->kind));
    r->o = options;
    r->method = options->method;
    r->n = n;
    r->d = r->c.d;
    r->K = options->n_steps;
    r->seed = seed;
    return SLV_OK;
}

int sgm_fast_sample_from(const sgm_process *process, const sgm_score_model *model,
                         const sgm_fast_options *options, size_t n, uint64_t seed,
                         size_t first_sample, double *x, sgm_stats *stats, slv_error *err)
{
    fast_run r;
    double eps = 0.0;
    int status = fast_prepare(&r, process, model, options, n, seed, first_sample, &eps);
    if (status == SLV_OK && !x)
        status = slv_error_set(&r.c.err, SLV_EINVAL, 0.0, -1, "%s: x is NULL", options->method->name);
    if (status == SLV_OK) {
        r.x = x;
        status = fast_run_call(&r, eps);
    }
    return sgm_call_finish(&r.c, status, stats, err);
}

int sgm_fast_sample(const sgm_process *process, const sgm_score_model *model,
                    const sgm_fast_options *options, size_t n, uint64_t seed, size_t first_sample,
                    double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "fast: x is NULL");
    if (status == SLV_OK && sgm_process_prior_sample(process, n, c.d, seed, first_sample, x) != SLV_OK)
        status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "fast: cannot allocate a generator");
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    return sgm_fast_sample_from(process, model, options, n, seed, first_sample, x, stats, err);
}

int sgm_fast_decode(const sgm_process *process, const sgm_score_model *model,
                    const sgm_fast_options *options, size_t n, const double *z, uint64_t seed,
                    size_t first_sample, double *x, size_t *nfe, sgm_stats *stats,
                    slv_error *err)
{
    fast_run r;
    double eps = 0.0;
    int status = fast_prepare(&r, process, model, options, n, seed, first_sample, &eps);
    if (status == SLV_OK && (!z || !x))
        status = slv_error_set(&r.c.err, SLV_EINVAL, 0.0, -1, "%s: z or x is NULL", options->method->name);
    if (status == SLV_OK && options->method->stochastic)
        status = slv_error_set(&r.c.err, SLV_EINVAL, 0.0, -1,
                               "decode: '%s' samples the reverse SDE; decoding takes a deterministic "
                               "sampler (ddim, edm-heun, dpm-solver-2, dpm-solver-3, dpmpp-2m, "
                               "dpmpp-3m, unipc, deis)", options->method->name);
    if (status == SLV_OK) {
        if (x != z)
            memmove(x, z, n * r.d * sizeof *x);
        r.x = x;
        status = fast_run_call(&r, eps);
        if (nfe)
            for (size_t i = 0; i < n; i++)
                nfe[i] = r.c.stats.nfe;
    }
    return sgm_call_finish(&r.c, status, stats, err);
}
