/* test_ode_problems.h — ODE test systems with closed-form solutions, shared by the test_ode_*
 * programs (header-only: the build compiles test_*.c files only). */
#ifndef TEST_ODE_PROBLEMS_H
#define TEST_ODE_PROBLEMS_H

#include <math.h>
#include <stddef.h>

#include "slv_ode.h"

/* ---- Rotation with decay: y' = A y, A = [[-a, -w], [w, -a]], d = 2 ----------------------------
 * y(t) = e^{-a (t - s)} R(w (t - s)) y(s), R the rotation matrix: the exact matrix exponential. */
typedef struct rotation_params {
    double a, w;
    long calls; /* rhs calls, counted by the rhs itself */
} rotation_params;

static inline int rotation_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    rotation_params *p = params;
    (void)t;
    (void)d;
    p->calls++;
    for (size_t i = 0; i < n; i++) {
        const double u = y[2 * i], v = y[2 * i + 1];
        dydt[2 * i] = -p->a * u - p->w * v;
        dydt[2 * i + 1] = p->w * u - p->a * v;
    }
    return 0;
}

/* Exact flow over a time span dt (any sign) applied to n states. */
static inline void rotation_exact(const rotation_params *p, double dt, size_t n, const double *y0,
                           double *y)
{
    const double decay = exp(-p->a * dt), c = cos(p->w * dt), s = sin(p->w * dt);
    for (size_t i = 0; i < n; i++) {
        const double u = y0[2 * i], v = y0[2 * i + 1];
        y[2 * i] = decay * (c * u - s * v);
        y[2 * i + 1] = decay * (s * u + c * v);
    }
}

/* Initial states on different radii and angles. */
static inline void rotation_initial(size_t n, double *y0)
{
    for (size_t i = 0; i < n; i++) {
        const double radius = 1.0 + 0.25 * (double)i, angle = 0.7 * (double)i;
        y0[2 * i] = radius * cos(angle);
        y0[2 * i + 1] = radius * sin(angle);
    }
}

/* ---- Logistic equation: y' = r y (1 - y/K), d = 1 ----------------------------------------------
 * y(t) = K y_s e^{r (t-s)} / (K + y_s (e^{r (t-s)} - 1)). */
typedef struct logistic_params {
    double r, K;
} logistic_params;

static inline int logistic_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    const logistic_params *p = params;
    (void)t;
    for (size_t i = 0; i < n * d; i++)
        dydt[i] = p->r * y[i] * (1.0 - y[i] / p->K);
    return 0;
}

static inline double logistic_exact(const logistic_params *p, double dt, double y0)
{
    const double g = exp(p->r * dt);
    return p->K * y0 * g / (p->K + y0 * (g - 1.0));
}

/* Largest |y_i - exact_i| / (atol + rtol |exact_i|): 1 means "at the tolerance". */
static inline double scaled_error(const double *y, const double *exact, size_t len, double rtol,
                           double atol)
{
    double worst = 0.0;
    for (size_t i = 0; i < len; i++) {
        const double e = fabs(y[i] - exact[i]) / (atol + rtol * fabs(exact[i]));
        worst = e > worst ? e : worst;
    }
    return worst;
}

static inline double max_abs_error(const double *y, const double *exact, size_t len)
{
    double worst = 0.0;
    for (size_t i = 0; i < len; i++) {
        const double e = fabs(y[i] - exact[i]);
        worst = e > worst ? e : worst;
    }
    return worst;
}

/* Least-squares slope of log(err) against log(x). */
static inline double loglog_slope(const double *x, const double *err, size_t count)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < count; i++) {
        const double lx = log(x[i]), ly = log(err[i]);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
    }
    const double m = (double)count;
    return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

/* Methods by kind, for tcase_add_loop_test. */
static inline const slv_ode_method *const *fixed_methods(void)
{
    static const slv_ode_method *methods[4];
    methods[0] = slv_ode_euler;
    methods[1] = slv_ode_heun;
    methods[2] = slv_ode_rk4;
    methods[3] = NULL;
    return methods;
}

static inline const slv_ode_method *const *adaptive_methods(void)
{
    static const slv_ode_method *methods[6];
    methods[0] = slv_ode_dopri5;
    methods[1] = slv_ode_cvode_adams;
    methods[2] = slv_ode_cvode_bdf;
    methods[3] = slv_ode_gsl_rk8pd;
    methods[4] = slv_ode_gsl_rkf45;
    methods[5] = NULL;
    return methods;
}

enum { N_FIXED_METHODS = 3, N_ADAPTIVE_METHODS = 5 };

#endif
