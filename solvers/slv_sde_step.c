/* slv_sde_step.c — what every SDE one-step method shares (system checks, checked callback
 * calls), Euler–Maruyama, Milstein, and the table of methods.
 *
 * Every apply computes the new state into its workspace and copies it to x only when every
 * number is finite, so a failed step leaves x as it was.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "slv_sde_impl.h"

/* ---- Shared helpers ------------------------------------------------------------------------ */

#ifdef _OPENMP
/* 1 if idle OpenMP threads spin after a region, 0 if they sleep at once. Read when the library is
 * loaded, from the environment libgomp read just before (its constructor runs first):
 * GOMP_SPINCOUNT, when set, is the spin count; otherwise OMP_WAIT_POLICY=passive means none. */
static int omp_threads_spin = 1;

__attribute__((constructor)) static void read_omp_wait_policy(void)
{
    const char *policy = getenv("OMP_WAIT_POLICY"), *count = getenv("GOMP_SPINCOUNT");
    if (count != NULL) {
        char *end;
        unsigned long long n = strtoull(count, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        omp_threads_spin = !(end != count && *end == 0 && n == 0);
    } else {
        while (policy != NULL && isspace((unsigned char)*policy))
            policy++;
        omp_threads_spin = !(policy != NULL && strncasecmp(policy, "passive", 7) == 0);
    }
}
#endif

int slv_sde_team(int threads, size_t work, size_t grain)
{
#ifdef _OPENMP
    size_t most = threads > 0 ? (size_t)threads : (size_t)omp_get_max_threads();
    if (threads == 0 && omp_threads_spin)
        grain *= SLV_OMP_SPIN_FACTOR;
    size_t by_work = work / (grain > 0 ? grain : 1);
    if (by_work < 2 || most < 2)
        return 1;
    return (int)(by_work < most ? by_work : most);
#else
    (void)threads, (void)work, (void)grain;
    return 1;
#endif
}

size_t slv_sde_diffusion_row(const slv_sde *sys)
{
    return sys->noise == SLV_NOISE_GENERAL ? sys->dim * sys->noise_dim : sys->dim;
}

size_t slv_sde_diffusion_len(const slv_sde *sys, size_t n)
{
    return slv_sde_diffusion_row(sys) * (sys->additive ? 1 : n);
}

int slv_sde_validate(const slv_sde *sys, slv_error *err)
{
    slv_error local;
    if (err == NULL)
        err = &local;
    if (sys == NULL)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "slv_sde: system is NULL");
    if (sys->drift == NULL || sys->diffusion == NULL)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "slv_sde: %s callback is NULL",
                             sys->drift == NULL ? "drift" : "diffusion");
    if (sys->dim == 0)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "slv_sde: dim is 0, expected >= 1");
    switch (sys->noise) {
    case SLV_NOISE_SCALAR:
        if (sys->noise_dim != 1)
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "slv_sde: scalar noise needs noise_dim = 1, got %zu",
                                 sys->noise_dim);
        break;
    case SLV_NOISE_DIAGONAL:
        if (sys->noise_dim != sys->dim)
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "slv_sde: diagonal noise needs noise_dim = dim = %zu, got %zu",
                                 sys->dim, sys->noise_dim);
        break;
    case SLV_NOISE_GENERAL:
        if (sys->noise_dim == 0)
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "slv_sde: general noise needs noise_dim >= 1, got 0");
        break;
    default:
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "slv_sde: noise type %d is not SCALAR (1), DIAGONAL (2) or GENERAL (4)",
                             (int)sys->noise);
    }
    return SLV_OK;
}

static const char *noise_name(slv_noise_type noise)
{
    switch (noise) {
    case SLV_NOISE_SCALAR: return "scalar";
    case SLV_NOISE_DIAGONAL: return "diagonal";
    case SLV_NOISE_GENERAL: return "general";
    default: return "unknown";
    }
}

int slv_sde_check_method(const slv_sde_step_type *type, const slv_sde *sys, slv_error *err)
{
    int rc = slv_sde_validate(sys, err);
    if (rc != SLV_OK)
        return rc;
    if (!(type->noise_support & (unsigned)sys->noise))
        return slv_error_set(err, SLV_EUNSUPPORTED, 0.0, -1,
                             "%s: %s noise is not supported by this method", type->name,
                             noise_name(sys->noise));
    if (type->needs_additive && !sys->additive)
        return slv_error_set(err, SLV_EUNSUPPORTED, 0.0, -1,
                             "%s: needs additive noise (slv_sde.additive = 1, g = g(t))",
                             type->name);
    return SLV_OK;
}

static int callback_status(const char *method, const char *what, int rc, double t,
                           slv_error *err)
{
    if (rc < 0)
        return slv_error_set(err, SLV_ECALLBACK, t, -1, "%s: %s returned %d at t = %.15g",
                             method, what, rc, t);
    slv_error_set(err, SLV_ECALLBACK, t, -1,
                  "%s: %s returned %d (retry with a smaller step) at t = %.15g", method, what, rc,
                  t);
    return 1;
}

int slv_sde_call_drift(const char *method, const slv_sde *sys, double t, size_t n,
                       const double *x, double *out, size_t *count, slv_error *err)
{
    int rc = sys->drift(t, n, sys->dim, x, out, sys->params);
    if (count != NULL)
        (*count)++;
    if (rc != 0)
        return callback_status(method, "drift", rc, t, err);
    long bad = slv_find_nonfinite(out, n * sys->dim);
    if (bad >= 0)
        return slv_error_set(err, SLV_ENONFINITE, t, bad / (long)sys->dim,
                             "%s: drift of batch row %ld, component %ld is %g at t = %.15g", method,
                             bad / (long)sys->dim, bad % (long)sys->dim, out[bad], t);
    return SLV_OK;
}

int slv_sde_call_diffusion(const char *method, const slv_sde *sys, int derivative, double t,
                           size_t n, const double *x, double *out, size_t *count,
                           slv_error *err)
{
    slv_sde_diffusion_fn fn = derivative ? sys->diffusion_dx : sys->diffusion;
    const char *what = derivative ? "diffusion_dx" : "diffusion";
    size_t rows = sys->additive ? 1 : n;
    int rc = fn(t, rows, sys->dim, sys->additive ? NULL : x, out, sys->params);
    if (count != NULL)
        (*count)++;
    if (rc != 0)
        return callback_status(method, what, rc, t, err);
    size_t row = derivative ? sys->dim : slv_sde_diffusion_row(sys);
    long bad = slv_find_nonfinite(out, rows * row);
    if (bad >= 0) {
        long path = sys->additive ? -1 : bad / (long)row;
        return slv_error_set(err, SLV_ENONFINITE, t, path,
                             "%s: %s%s of batch row %ld, entry %ld is %g at t = %.15g", method, what,
                             sys->additive ? " (additive, shared by all paths)" : "",
                             bad / (long)row, bad % (long)row, out[bad], t);
    }
    return SLV_OK;
}

int slv_sde_check_state(const char *method, double t, size_t n, size_t d, const double *y,
                        slv_error *err)
{
    long bad = slv_find_nonfinite(y, n * d);
    if (bad >= 0)
        return slv_error_set(err, SLV_ENONFINITE, t, bad / (long)d,
                             "%s: new state of batch row %ld, component %ld is %g at t = %.15g",
                             method, bad / (long)d, bad % (long)d, y[bad], t);
    return SLV_OK;
}

/* ---- Euler–Maruyama ------------------------------------------------------------------------
 *   x1 = x0 + h f(t, x0) + g(t, x0) ΔW
 * Strong order 0.5 (1.0 for additive noise), weak order 1. */

static size_t em_work_size(const slv_sde *sys, size_t n)
{
    return n * sys->dim + slv_sde_diffusion_len(sys, n);
}

static int em_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                    const double *dW, const double *H, double *err_out, double *work,
                    size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    (void)H;
    const char *name = slv_sde_step_em_type.name;
    int rc = slv_sde_check_method(&slv_sde_step_em_type, sys, err);
    if (rc != SLV_OK)
        return rc;
    const size_t d = sys->dim, m = sys->noise_dim, nd = n * d;
    const size_t g_stride = sys->additive ? 0 : slv_sde_diffusion_row(sys);
    double *y = work;       /* (n, d): drift, then the new state */
    double *g = work + nd;  /* (n or 1, d or d*m) */
    if ((rc = slv_sde_call_drift(name, sys, t, n, x, y, n_drift, err)) != SLV_OK)
        return rc;
    if ((rc = slv_sde_call_diffusion(name, sys, 0, t, n, x, g, n_diffusion, err)) != SLV_OK)
        return rc;
    const slv_noise_type noise = sys->noise;
    /* A general-noise number costs m multiply-adds. */
    const int nt =
        slv_sde_team(threads, noise == SLV_NOISE_GENERAL ? nd * m : nd, SLV_OMP_GRAIN_NUMBERS);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t p = 0; p < n; p++) {
        const double *g_row = g + p * g_stride, *w = dW + p * m;
        for (size_t i = 0; i < d; i++) {
            size_t e = p * d + i;
            y[e] = x[e] + h * y[e] + slv_sde_noise_dot(noise, m, g_row, w, i);
        }
    }
    if ((rc = slv_sde_check_state(name, t + h, n, d, y, err)) != SLV_OK)
        return rc;
    if (err_out != NULL)
        memset(err_out, 0, nd * sizeof(double)); /* no embedded estimate */
    memcpy(x, y, nd * sizeof(double));
    return SLV_OK;
}

const slv_sde_step_type slv_sde_step_em_type = {
    .name = "em",
    .strong_order = 0.5,
    .weak_order = 1.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL | SLV_NOISE_GENERAL,
    .needs_additive = 0,
    .needs_levy_area = 0,
    .has_error_estimate = 0,
    .work_size = em_work_size,
    .apply = em_apply,
};

/* ---- Milstein --------------------------------------------------------------------------------
 *   x1 = x0 + h f + g ΔW + ½ L (ΔW² − |h|),   L = (∂g/∂x) g  (component-wise for diagonal noise)
 * L from diffusion_dx when given (SCALAR: it returns L; DIAGONAL: ∂g_i/∂x_i, L_i = g_i ∂g_i/∂x_i);
 * otherwise the derivative-free Runge–Kutta form L ≈ (g(t, x0 + g√|h|) − g(t, x0))/√|h|
 * (Kloeden–Platen 11.1). Additive noise has L = 0 and costs one diffusion call.
 * Embedded error estimate (EM inside Milstein, Euler inside Heun):
 *   e = |½ L (ΔW² − |h|)| + |(h/2)(f(t + h, x1) − f(t, x0))|   (one more drift call). */

static size_t milstein_work_size(const slv_sde *sys, size_t n)
{
    return 3 * n * sys->dim + slv_sde_diffusion_len(sys, n);
}

static int milstein_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                          const double *dW, const double *H, double *err_out,
                          double *work, size_t *n_drift, size_t *n_diffusion,
                          slv_error *err, int threads)
{
    (void)H;
    const char *name = slv_sde_step_milstein_type.name;
    int rc = slv_sde_check_method(&slv_sde_step_milstein_type, sys, err);
    if (rc != SLV_OK)
        return rc;
    const size_t d = sys->dim, m = sys->noise_dim, nd = n * d;
    const int scalar = sys->noise == SLV_NOISE_SCALAR;
    const size_t g_stride = sys->additive ? 0 : d;
    const double ah = fabs(h), sqrt_h = sqrt(ah);
    double *f = work;             /* (n, d) drift at (t, x0) */
    double *L = work + nd;        /* (n, d) g'g; scratch for the shifted state first */
    double *y = work + 2 * nd;    /* (n, d) new state */
    double *g = work + 3 * nd;    /* (n or 1, d) */
    const int nt = slv_sde_team(threads, nd, SLV_OMP_GRAIN_NUMBERS);

    if ((rc = slv_sde_call_drift(name, sys, t, n, x, f, n_drift, err)) != SLV_OK)
        return rc;
    if ((rc = slv_sde_call_diffusion(name, sys, 0, t, n, x, g, n_diffusion, err)) != SLV_OK)
        return rc;
    if (sys->additive) {
        memset(L, 0, nd * sizeof(double));
    } else if (sys->diffusion_dx != NULL) {
        if ((rc = slv_sde_call_diffusion(name, sys, 1, t, n, x, L, n_diffusion, err)) != SLV_OK)
            return rc;
        if (!scalar)
            for (size_t e = 0; e < nd; e++)
                L[e] *= g[e];
    } else {
        /* Shifted state x0 + g√|h| in y, g there into L, then the difference quotient. */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t e = 0; e < nd; e++)
            y[e] = x[e] + g[e] * sqrt_h;
        if ((rc = slv_sde_call_diffusion(name, sys, 0, t, n, y, L, n_diffusion, err)) != SLV_OK)
            return rc;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t e = 0; e < nd; e++)
            L[e] = (L[e] - g[e]) / sqrt_h;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t p = 0; p < n; p++) {
        for (size_t i = 0; i < d; i++) {
            size_t e = p * d + i;
            double w = dW[p * m + (scalar ? 0 : i)];
            double corr = 0.5 * L[e] * (w * w - ah);
            y[e] = x[e] + h * f[e] + g[p * g_stride + i] * w + corr;
            L[e] = corr; /* kept for the error estimate */
        }
    }
    if ((rc = slv_sde_check_state(name, t + h, n, d, y, err)) != SLV_OK)
        return rc;
    if (err_out != NULL) {
        /* Heun's drift correction needs f(t + h, x1); g (no longer needed) is too small for
         * additive systems, so the drift goes into err_out itself. */
        if ((rc = slv_sde_call_drift(name, sys, t + h, n, y, err_out, n_drift, err)) != SLV_OK)
            return rc;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t e = 0; e < nd; e++)
            err_out[e] = fabs(L[e]) + fabs(0.5 * h * (err_out[e] - f[e]));
    }
    memcpy(x, y, nd * sizeof(double));
    return SLV_OK;
}

const slv_sde_step_type slv_sde_step_milstein_type = {
    .name = "milstein",
    .strong_order = 1.0,
    .weak_order = 1.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL,
    .needs_additive = 0,
    .needs_levy_area = 0,
    .has_error_estimate = 1,
    .work_size = milstein_work_size,
    .apply = milstein_apply,
};

/* ---- The table ---------------------------------------------------------------------------- */

const slv_sde_step_type *const slv_sde_step_em = &slv_sde_step_em_type;
const slv_sde_step_type *const slv_sde_step_milstein = &slv_sde_step_milstein_type;
const slv_sde_step_type *const slv_sde_step_sra1 = &slv_sde_step_sra1_type;
const slv_sde_step_type *const slv_sde_step_sra3 = &slv_sde_step_sra3_type;
const slv_sde_step_type *const slv_sde_step_sriw1 = &slv_sde_step_sriw1_type;
const slv_sde_step_type *const slv_sde_step_sriw2 = &slv_sde_step_sriw2_type;

const slv_sde_step_type *const slv_sde_step_types[] = {
    &slv_sde_step_em_type,    &slv_sde_step_milstein_type, &slv_sde_step_sra1_type,
    &slv_sde_step_sra3_type,  &slv_sde_step_sriw1_type,    &slv_sde_step_sriw2_type,
    NULL,
};

const slv_sde_step_type *slv_sde_step_type_by_name(const char *name)
{
    static const struct {
        const char *alias;
        const slv_sde_step_type *type;
    } aliases[] = {{"sri2", &slv_sde_step_sriw1_type}};
    if (name == NULL)
        return NULL;
    for (size_t i = 0; slv_sde_step_types[i] != NULL; i++)
        if (strcmp(slv_sde_step_types[i]->name, name) == 0)
            return slv_sde_step_types[i];
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].alias, name) == 0)
            return aliases[i].type;
    return NULL;
}
