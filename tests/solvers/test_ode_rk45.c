/* test_ode_rk45.c — slv_ode_rk45, the library's own Dormand–Prince 5(4) with scipy's RK45 step
 * control: its tableau (one fixed step against ARKODE's Dormand–Prince) and order (log–log slopes
 * with fixed steps, solution and dense output), tolerance proportionality, agreement with dopri5,
 * scipy's NFE and numbers reproduced, per-state adaptivity on a batched rhs (a state's bits do not
 * depend on its batch, with rhs_rows and with the plain-rhs fallback; easy states stop early and
 * the batched call count is the hardest state's NFE), dense output, and the failure paths (NaN,
 * stop, recoverable returns, max_steps, step-size underflow, interrupt). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_ode.h"
#include "test_ode_problems.h"

/* Global error bound in units of atol + rtol·|y|, from test_ode_accuracy.c: a one-step embedded
 * pair keeps each step's local error within the tolerance, and on well-conditioned problems the
 * global error is a small multiple of it: C = 20, stated a priori. Here: the rotation's flow
 * amplifies errors by at most e^{0.6}; the clocked problem below is linear in x, so its flow keeps
 * relative errors unchanged, and its states (x0 ≥ 10, |λ| ≤ 2.5, so x ≥ 10·e^{−2.5} > 0.8 on
 * trajectories through t = 0 or 3) stay near or above atol/rtol = 1: in units of
 * atol + rtol·|x| errors grow by at most (1 + 1/0.8) ≈ 2.3 — except where a test says otherwise. */
static const double C_GLOBAL = 20.0;

/* ---- The clocked problem: y = (x, λ, τ), x' = λ cos(t) x, λ' = 0, τ' = 1 ------------------------
 * x(t) = x(s)·exp(λ (sin t − sin s)), τ(t) = τ(s) + t − s. λ, carried in the state, sets how hard
 * a state is (larger |λ|, faster x); τ is the state's own clock, so a state left behind by a
 * failure tells the time it holds. The rhs uses its time argument (rows->t[i] in the per-row
 * form): a wrong row time shows as an error against the closed form. */
enum { CLOCK_DIM = 3 };

typedef enum fault_kind {
    FAULT_NONE,
    FAULT_NAN,              /* NaN in dx/dt of the state with λ = fault_lambda, for t > t_fault */
    FAULT_STOP,             /* return −1 once any row is past t_fault */
    FAULT_RECOVERABLE_ONCE, /* return +1 on the first call with a row past t_fault */
    FAULT_RECOVERABLE       /* return +1 on every call with a row past t_fault */
} fault_kind;

/* What the rhs saw, and the fault it injects. */
typedef struct probe {
    size_t n_batch;
    const double *lambda;     /* (n_batch) λ of each path, to check rows->path (NULL: no check) */
    long calls, row_calls, plain_calls;
    size_t min_rows, max_rows;
    int bad_rows;             /* rows->path out of range, not increasing, or not the row's path */
    fault_kind fault;
    double t_fault, fault_lambda;
    int fired;
    long interrupt_after;     /* raise *interrupt at this call (0: never) */
    volatile int *interrupt;
} probe;

static void probe_init(probe *p, size_t n_batch, const double *lambda)
{
    memset(p, 0, sizeof *p);
    p->n_batch = n_batch;
    p->lambda = lambda;
    p->min_rows = (size_t)-1;
}

/* Counts a call of n rows; returns the fault's return code when the call is past t_fault. */
static int probe_call(probe *p, size_t n, double t_latest)
{
    p->calls++;
    p->min_rows = n < p->min_rows ? n : p->min_rows;
    p->max_rows = n > p->max_rows ? n : p->max_rows;
    if (p->interrupt_after > 0 && p->calls >= p->interrupt_after)
        *p->interrupt = 1;
    const int past = t_latest > p->t_fault;
    if (past && p->fault == FAULT_STOP)
        return -1;
    if (past && p->fault == FAULT_RECOVERABLE)
        return 1;
    if (past && p->fault == FAULT_RECOVERABLE_ONCE && !p->fired) {
        p->fired = 1;
        return 1;
    }
    return 0;
}

static void clocked_row(const probe *p, double t, const double *y, double *dydt)
{
    dydt[0] = y[1] * cos(t) * y[0];
    dydt[1] = 0.0;
    dydt[2] = 1.0;
    if (p->fault == FAULT_NAN && t > p->t_fault && y[1] == p->fault_lambda)
        dydt[0] = NAN;
}

static int clocked_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    probe *p = params;
    p->plain_calls++;
    int ret = probe_call(p, n, t);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < n; i++)
        clocked_row(p, t, y + i * d, dydt + i * d);
    return 0;
}

static int clocked_rhs_rows(const slv_ode_rows *rows, size_t n, size_t d, const double *y,
                            double *dydt, void *params)
{
    probe *p = params;
    p->row_calls++;
    double t_latest = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        t_latest = fmax(t_latest, rows->t[i]);
        if (rows->path[i] >= p->n_batch || (i > 0 && rows->path[i] <= rows->path[i - 1]) ||
            (p->lambda != NULL && y[i * d + 1] != p->lambda[rows->path[i]]))
            p->bad_rows++;
    }
    int ret = probe_call(p, n, t_latest);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < n; i++)
        clocked_row(p, rows->t[i], y + i * d, dydt + i * d);
    return 0;
}

/* Initial states at t = s: x = 10 + p, λ = lambda[p], τ = s. */
static void clocked_initial(size_t n, const double *lambda, double s, double *y)
{
    for (size_t p = 0; p < n; p++) {
        y[p * CLOCK_DIM] = 10.0 + (double)p;
        y[p * CLOCK_DIM + 1] = lambda[p];
        y[p * CLOCK_DIM + 2] = s;
    }
}

/* Exact flow of n states from time s to t. */
static void clocked_exact(size_t n, const double *y_s, double s, double t, double *y_t)
{
    for (size_t p = 0; p < n; p++) {
        const double *a = y_s + p * CLOCK_DIM;
        double *b = y_t + p * CLOCK_DIM;
        b[0] = a[0] * exp(a[1] * (sin(t) - sin(s)));
        b[1] = a[1];
        b[2] = a[2] + (t - s);
    }
}

/* λ of path p in the fault and batch tests: −0.5, −1, −1.5, ... (distinct, exact in binary). */
static void lambdas(size_t n, double *lambda)
{
    for (size_t p = 0; p < n; p++)
        lambda[p] = -0.5 * (double)(p + 1);
}

static slv_ode_solver *make_solver(const slv_ode_method *method, const slv_ode *sys, size_t n,
                                   slv_batch_mode mode, double tol, slv_ode_rhs_rows_fn rows)
{
    slv_ode_solver *s = slv_ode_solver_alloc(method, sys, n);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, mode), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, tol, tol), SLV_OK);
    slv_ode_solver_set_rhs_rows(s, rows);
    return s;
}

/* ---- Method table -------------------------------------------------------------------------- */

START_TEST(test_rk45_is_listed_after_the_existing_methods)
{
    const char *names[] = {"euler",     "heun",      "rk4",       "dopri5", "cvode-adams",
                           "cvode-bdf", "gsl-rk8pd", "gsl-rkf45", "rk45"};
    size_t count = 0;
    while (slv_ode_methods[count] != NULL)
        count++;
    ck_assert_uint_eq(count, 9);
    for (size_t k = 0; k < count; k++) {
        ck_assert_str_eq(slv_ode_methods[k]->name, names[k]);
        ck_assert_ptr_eq(slv_ode_method_by_name(names[k]), slv_ode_methods[k]);
        ck_assert_int_eq(slv_ode_methods[k]->dense_output, k == 8);
        ck_assert_int_eq(slv_ode_methods[k]->batched_independent, k == 8);
    }
    ck_assert_ptr_eq(slv_ode_method_by_name("rk45"), slv_ode_rk45);
    ck_assert_int_eq(slv_ode_rk45->order, 5);
    ck_assert_int_eq(slv_ode_rk45->adaptive, 1);
}
END_TEST

/* ---- Tableau and order ---------------------------------------------------------------------- */

/* A nonlinear, time-dependent pendulum with forcing: y1' = y2, y2' = −sin y1 + t cos y2. */
static int pendulum_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    (void)d;
    (void)params;
    for (size_t i = 0; i < n; i++) {
        dydt[2 * i] = y[2 * i + 1];
        dydt[2 * i + 1] = -sin(y[2 * i]) + t * cos(y[2 * i + 1]);
    }
    return 0;
}

/* Fixed steps of rk45 and of ARKODE's ARKODE_DORMAND_PRINCE_7_4_5 (checked against the tableau
 * from the literature in test_ode_dopri5.c) are the same formula, so they agree to rounding (1e-14
 * on numbers of order 1), forward and backward, and a step costs 6 evaluations plus f at t0. */
START_TEST(test_fixed_steps_match_arkode_dormand_prince)
{
    const int backward = _i;
    const double t0 = backward ? 0.75 : 0.5, t1 = backward ? 0.0 : 1.25, h = 0.25;
    slv_ode sys = {pendulum_rhs, 2, NULL};
    double ours[4] = {0.3, -0.7, 1.2, 0.4}, arkode[4];
    memcpy(arkode, ours, sizeof arkode);
    slv_ode_solver *a = slv_ode_solver_alloc(slv_ode_dopri5, &sys, 2);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, 2, SLV_BATCH_INDEPENDENT, 1e-6, NULL);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(a, h), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(a, t0, t1, arkode), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(s, t0, t1, ours), SLV_OK);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 2 * 3); /* 3 steps per state */
    size_t nfe[2];
    slv_ode_solver_get_path_rhs_evals(s, nfe);
    ck_assert_uint_eq(nfe[0], 1 + 6 * 3);
    ck_assert_uint_eq(nfe[1], 1 + 6 * 3);
    for (int i = 0; i < 4; i++) {
        printf("rk45 fixed h = %g %s: y[%d] = %.17g, ARKODE %.17g, diff %.1e\n", h,
               backward ? "backward" : "forward", i, ours[i], arkode[i], fabs(ours[i] - arkode[i]));
        ck_assert_double_eq_tol(ours[i], arkode[i], 1e-14);
    }
    slv_ode_solver_free(a);
    slv_ode_solver_free(s);
}
END_TEST

/* Global error with N fixed steps of h = 2/N, N = 10 .. 160, on problems with closed forms: the
 * rotation with decay (linear, autonomous) and the clocked problem (time-dependent). Order 5:
 * log–log slope within 5 ± 0.3. The dense output, read at 37 times that are not step ends, is
 * also order 5: the continuous extension's own error is O(h^5) (order 4, not accumulated) on top
 * of the O(h^5) global error of the step it starts from. The errors stay far above rounding
 * (smallest ≈ 1e-13 against 1e-16). */
START_TEST(test_fixed_step_order_is_five)
{
    enum { N_H = 5, N_OUT = 37 };
    rotation_params rotation = {0.3, 2.0, 0};
    slv_ode rot_sys = {rotation_rhs, 2, &rotation};
    probe p;
    const double lambda[1] = {-1.5};
    probe_init(&p, 1, lambda);
    slv_ode clock_sys = {clocked_rhs, CLOCK_DIM, &p};
    double h[N_H], err_rot[N_H], err_clock[N_H], err_dense[N_H], t_out[N_OUT];
    for (int j = 0; j < N_OUT; j++) /* off the step grid: 2(j + 1)/37 − 0.013 */
        t_out[j] = j + 1 == N_OUT ? 2.0 : 2.0 * (double)(j + 1) / N_OUT - 0.013;
    for (int k = 0; k < N_H; k++) {
        h[k] = 2.0 / (double)(10 << k);
        const double y_rot0[2] = {1.0, 0.5};
        double y[2], exact[2], y_out[2 * N_OUT];
        slv_ode_solver *s = make_solver(slv_ode_rk45, &rot_sys, 1, SLV_BATCH_INDEPENDENT, 1e-6,
                                        NULL);
        ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h[k]), SLV_OK);
        memcpy(y, y_rot0, sizeof y);
        ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, N_OUT, t_out, y, y_out), SLV_OK);
        rotation_exact(&rotation, 2.0, 1, y_rot0, exact);
        err_rot[k] = max_abs_error(y, exact, 2);
        err_dense[k] = 0.0;
        for (int j = 0; j < N_OUT; j++) {
            rotation_exact(&rotation, t_out[j], 1, y_rot0, exact);
            err_dense[k] = fmax(err_dense[k], max_abs_error(y_out + 2 * j, exact, 2));
        }
        slv_ode_solver_free(s);

        double z0[CLOCK_DIM], z[CLOCK_DIM], z_exact[CLOCK_DIM];
        clocked_initial(1, lambda, 0.0, z0);
        memcpy(z, z0, sizeof z);
        s = make_solver(slv_ode_rk45, &clock_sys, 1, SLV_BATCH_INDEPENDENT, 1e-6, NULL);
        ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h[k]), SLV_OK);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, z), SLV_OK);
        ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), (size_t)(10 << k));
        clocked_exact(1, z0, 0.0, 2.0, z_exact);
        err_clock[k] = max_abs_error(z, z_exact, CLOCK_DIM);
        slv_ode_solver_free(s);
        printf("rk45 fixed h = %.4f: error rotation %.3e, clocked %.3e, dense output %.3e\n", h[k],
               err_rot[k], err_clock[k], err_dense[k]);
    }
    const double slope_rot = loglog_slope(h, err_rot, N_H);
    const double slope_clock = loglog_slope(h, err_clock, N_H);
    const double slope_dense = loglog_slope(h, err_dense, N_H);
    printf("rk45 order: rotation %.3f, clocked %.3f, dense output %.3f\n", slope_rot, slope_clock,
           slope_dense);
    ck_assert_double_le(fabs(slope_rot - 5.0), 0.3);
    ck_assert_double_le(fabs(slope_clock - 5.0), 0.3);
    ck_assert_double_le(fabs(slope_dense - 5.0), 0.3);
}
END_TEST

/* ---- Tolerances ------------------------------------------------------------------------------ */

/* rtol = atol = tol over 1e-4 .. 1e-10, INDEPENDENT batch of 3 rotation states on [0, 2] and of 3
 * clocked states (λ = −0.5, −1, −1.5) on [0, 8], forward and backward (from the exact state at the
 * end). Both laws below are asymptotic in the number of steps; the intervals give ≥ 7 steps per
 * state at 1e-4 (the clocked problem on [0, 2] takes only 3, where start-up dominates).
 *   - Steps: the controller keeps the 4th-order estimate, C h^5, near tol, so h ∝ tol^{1/5} and
 *     the step count ∝ tol^{−1/5}: slope −0.2. Start-up (initial step, growth ≤ 10 per step) and
 *     the cut last step add O(1) steps to counts of ≥ 7 .. 140; that moves the slope by ≤ 0.03.
 *   - Error: the 5th-order solution's local error is ∝ h^6 ∝ tol^{6/5} per step, times
 *     tol^{−1/5} steps: the global error ∝ tol (slope 1), the point of local extrapolation with
 *     error-per-step control. The same O(1) perturbations of the step sequence, and the error
 *     constant's variation along the solution, allow ± 0.15.
 *   - and each error ≤ C_GLOBAL in units of the tolerance. */
START_TEST(test_error_is_proportional_to_tolerance)
{
    enum { N_TOL = 7, N_STATES = 3 };
    const int problem = _i / 2, backward = _i % 2;
    const double t_end = problem == 0 ? 2.0 : 8.0;
    const double t0 = backward ? t_end : 0.0, t1 = backward ? 0.0 : t_end;
    rotation_params rotation = {0.3, 2.0, 0};
    probe p;
    const double lambda[N_STATES] = {-0.5, -1.0, -1.5};
    probe_init(&p, N_STATES, lambda);
    slv_ode rot_sys = {rotation_rhs, 2, &rotation}, clock_sys = {clocked_rhs, CLOCK_DIM, &p};
    const size_t d = problem == 0 ? 2 : CLOCK_DIM, len = N_STATES * d;
    double tol[N_TOL], err[N_TOL], steps[N_TOL];
    double y_at_0[N_STATES * CLOCK_DIM], y_at_end[N_STATES * CLOCK_DIM];
    if (problem == 0) {
        rotation_initial(N_STATES, y_at_0);
        rotation_exact(&rotation, t_end, N_STATES, y_at_0, y_at_end);
    } else {
        clocked_initial(N_STATES, lambda, 0.0, y_at_0);
        clocked_exact(N_STATES, y_at_0, 0.0, t_end, y_at_end);
    }
    const double *start = backward ? y_at_end : y_at_0, *exact = backward ? y_at_0 : y_at_end;
    for (int k = 0; k < N_TOL; k++) {
        tol[k] = pow(10.0, -4.0 - k);
        double y[N_STATES * CLOCK_DIM];
        memcpy(y, start, len * sizeof *y);
        slv_ode_solver *s = make_solver(slv_ode_rk45, problem == 0 ? &rot_sys : &clock_sys,
                                        N_STATES, SLV_BATCH_INDEPENDENT, tol[k], NULL);
        int status = slv_ode_solver_solve(s, t0, t1, y);
        ck_assert_msg(status == SLV_OK, "%s", slv_ode_solver_get_error(s)->message);
        const double scaled = scaled_error(y, exact, len, tol[k], tol[k]);
        err[k] = scaled * tol[k];
        steps[k] = (double)slv_ode_solver_get_n_steps(s) / N_STATES;
        printf("rk45 %s %s tol %.0e: error %.3f tol, %.1f steps and %.1f NFE per state\n",
               problem == 0 ? "rotation" : "clocked", backward ? "backward" : "forward", tol[k],
               scaled, steps[k], (double)slv_ode_solver_get_n_rhs_evals(s) / N_STATES);
        ck_assert_double_le(scaled, C_GLOBAL);
        slv_ode_solver_free(s);
    }
    const double slope_err = loglog_slope(tol, err, N_TOL);
    const double slope_steps = loglog_slope(tol, steps, N_TOL);
    printf("rk45 %s %s: error ∝ tol^%.3f, steps ∝ tol^%.3f\n",
           problem == 0 ? "rotation" : "clocked", backward ? "backward" : "forward", slope_err,
           slope_steps);
    ck_assert_double_le(fabs(slope_err - 1.0), 0.15);
    ck_assert_double_le(fabs(slope_steps + 0.2), 0.03);
}
END_TEST

/* Against ARKODE's dopri5 (same pair, different controller and initial step) at the same
 * tolerance, on a batch in INDEPENDENT mode: each is within C_GLOBAL of the closed form, so they
 * differ by at most 2·C_GLOBAL units of tol (triangle inequality) — a mistyped coefficient, which
 * drops the order, shows at tight tolerances as a difference orders of magnitude above that. */
START_TEST(test_agrees_with_arkode_dopri5)
{
    enum { N_STATES = 4 };
    const double tolerances[3] = {1e-5, 1e-7, 1e-9};
    const double tol = tolerances[_i];
    probe p;
    double lambda[N_STATES];
    lambdas(N_STATES, lambda);
    probe_init(&p, N_STATES, lambda);
    slv_ode sys = {clocked_rhs, CLOCK_DIM, &p};
    double y0[N_STATES * CLOCK_DIM], ours[N_STATES * CLOCK_DIM], arkode[N_STATES * CLOCK_DIM],
        exact[N_STATES * CLOCK_DIM];
    clocked_initial(N_STATES, lambda, 0.0, y0);
    clocked_exact(N_STATES, y0, 0.0, 3.0, exact);
    memcpy(ours, y0, sizeof ours);
    memcpy(arkode, y0, sizeof arkode);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, N_STATES, SLV_BATCH_INDEPENDENT, tol,
                                    clocked_rhs_rows);
    slv_ode_solver *a = make_solver(slv_ode_dopri5, &sys, N_STATES, SLV_BATCH_INDEPENDENT, tol,
                                    NULL);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 3.0, ours), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(a, 0.0, 3.0, arkode), SLV_OK);
    const size_t len = N_STATES * CLOCK_DIM;
    const double e_ours = scaled_error(ours, exact, len, tol, tol);
    const double e_arkode = scaled_error(arkode, exact, len, tol, tol);
    const double diff = scaled_error(ours, arkode, len, tol, tol);
    printf("tol %.0e: rk45 error %.3f tol (NFE %zu in %zu calls), dopri5 %.3f tol (NFE %zu), "
           "difference %.3f tol\n", tol, e_ours, slv_ode_solver_get_n_rhs_evals(s),
           slv_ode_solver_get_n_rhs_calls(s), e_arkode, slv_ode_solver_get_n_rhs_evals(a), diff);
    ck_assert_double_le(e_ours, C_GLOBAL);
    ck_assert_double_le(e_arkode, C_GLOBAL);
    ck_assert_double_le(diff, 2.0 * C_GLOBAL);
    slv_ode_solver_free(s);
    slv_ode_solver_free(a);
}
END_TEST

/* ---- scipy's numbers ------------------------------------------------------------------------- */

static int decay_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    (void)t;
    (void)params;
    for (size_t i = 0; i < n * d; i++)
        dydt[i] = -y[i];
    return 0;
}

/* Arenstorf orbit (Hairer, Nørsett & Wanner I, II.0): the restricted three-body problem. */
static int arenstorf_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    const double mu = 0.012277471, mu1 = 1.0 - mu;
    (void)t;
    (void)params;
    for (size_t i = 0; i < n; i++) {
        const double *z = y + i * d;
        double *f = dydt + i * d;
        const double d1 = pow((z[0] + mu) * (z[0] + mu) + z[1] * z[1], 1.5);
        const double d2 = pow((z[0] - mu1) * (z[0] - mu1) + z[1] * z[1], 1.5);
        f[0] = z[2];
        f[1] = z[3];
        f[2] = z[0] + 2.0 * z[3] - mu1 * (z[0] + mu) / d1 - mu * (z[0] - mu1) / d2;
        f[3] = z[1] - 2.0 * z[2] - mu1 * z[1] / d1 - mu * z[1] / d2;
    }
    return 0;
}

/* y' = −y on [0, 10], rtol = atol = 1e-6. scipy 1.10.1's solve_ivp(method='RK45') takes 22 steps
 * with nfev = 134 and returns y(10) = 4.5486040320437674e-05, and with t_eval = [2.5, 5, 7.3]
 * 0.0820849869718739, 0.006738029055929275, 0.0006756269412789033. The same algorithm must take
 * the same steps, so the counts are asserted exactly; the arithmetic differs only in summation
 * order (numpy's dot against a loop), so the numbers agree to a few ulps (1e-15 relative).
 * The Arenstorf orbit over one period (rtol = atol = 1e-6) is printed beside scipy's counts
 * (nfev 1004, 132 steps): a chaotic-sensitive problem where a last-bit difference near an
 * error norm of 1 could flip one accept/reject decision, so it is compared, not asserted. */
START_TEST(test_reproduces_scipy_rk45)
{
    slv_ode sys = {decay_rhs, 1, NULL};
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, 1, SLV_BATCH_INDEPENDENT, 1e-6, NULL);
    const double t_out[4] = {2.5, 5.0, 7.3, 10.0};
    const double scipy_out[4] = {0.0820849869718739, 0.006738029055929275, 0.0006756269412789033,
                                 4.5486040320437674e-05};
    double y = 1.0, y_out[4];
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 4, t_out, &y, y_out), SLV_OK);
    printf("y' = -y, tol 1e-6: rk45 NFE %zu, %zu steps, %zu rejected (scipy 1.10.1: nfev 134, "
           "22 steps); y(10) = %.17g (scipy 4.5486040320437674e-05)\n",
           slv_ode_solver_get_n_rhs_evals(s), slv_ode_solver_get_n_steps(s),
           slv_ode_solver_get_n_rejected(s), y);
    ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), 134);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 22);
    for (int k = 0; k < 4; k++) {
        printf("  t = %4.1f: rk45 %.17g, scipy %.17g\n", t_out[k], y_out[k], scipy_out[k]);
        ck_assert_double_le(fabs(y_out[k] - scipy_out[k]), 1e-15 * scipy_out[k]);
    }
    ck_assert(y == y_out[3]);
    slv_ode_solver_free(s);

    /* The clocked problem x' = −0.5 cos(t) x backward from x(3) = 1 to 0 (rtol = atol = 1e-7):
     * scipy 1.10.1 takes 9 steps (nfev 56); its dense output at t = 0.375 is 0.8935345481424078,
     * 28.2 tol from the closed form — the interpolant's error, not controlled by the estimate. */
    const double lambda[1] = {-0.5};
    probe p;
    probe_init(&p, 1, lambda);
    slv_ode clock_sys = {clocked_rhs, CLOCK_DIM, &p};
    double x[CLOCK_DIM] = {1.0, -0.5, 3.0}, x_out[2 * CLOCK_DIM];
    const double t_clock[2] = {0.375, 0.0};
    s = make_solver(slv_ode_rk45, &clock_sys, 1, SLV_BATCH_INDEPENDENT, 1e-7, NULL);
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 3.0, 2, t_clock, x, x_out), SLV_OK);
    const double exact_375 = exp(-0.5 * (sin(0.375) - sin(3.0)));
    printf("clocked backward, tol 1e-7: rk45 NFE %zu, %zu steps (scipy 56, 9); x(0.375) = %.17g "
           "(scipy 0.8935345481424078), %.1f tol from the closed form\n",
           slv_ode_solver_get_n_rhs_evals(s), slv_ode_solver_get_n_steps(s), x_out[0],
           fabs(x_out[0] - exact_375) / (1e-7 * (1.0 + exact_375)));
    ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), 56);
    ck_assert_double_le(fabs(x_out[0] - 0.8935345481424078), 1e-15);
    slv_ode_solver_free(s);

    const double period = 17.0652165601579625588917206249;
    double z[4] = {0.994, 0.0, 0.0, -2.00158510637908252240537862224};
    slv_ode arenstorf = {arenstorf_rhs, 4, NULL};
    s = make_solver(slv_ode_rk45, &arenstorf, 1, SLV_BATCH_INDEPENDENT, 1e-6, NULL);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, period, z), SLV_OK);
    printf("Arenstorf orbit, tol 1e-6: rk45 NFE %zu, %zu steps, %zu rejected, y(T) = (%.10f, "
           "%.10f) (scipy 1.10.1: nfev 1004, 132 steps, (0.9940240004, 0.0001012255))\n",
           slv_ode_solver_get_n_rhs_evals(s), slv_ode_solver_get_n_steps(s),
           slv_ode_solver_get_n_rejected(s), z[0], z[1]);
    slv_ode_solver_free(s);
}
END_TEST

/* ---- Batches ------------------------------------------------------------------------------------
 * The mixed problem: y = (u, v, q), q' = 0 carries the kind of dynamics. q < 0: a linear,
 * time-dependent row u' = q cos(t) u − v, v' = u + q v; q ≥ 0: a forced pendulum,
 * u' = v, v' = −(1 + q) sin u + 0.3 cos t (bounded both ways in time, unlike Van der Pol, which
 * escapes to infinity backward). Each row is computed on its own. */
enum { MIXED_DIM = 3 };

static void mixed_row(double t, const double *y, double *dydt)
{
    const double u = y[0], v = y[1], q = y[2];
    if (q < 0.0) {
        dydt[0] = q * cos(t) * u - v;
        dydt[1] = u + q * v;
    } else {
        dydt[0] = v;
        dydt[1] = -(1.0 + q) * sin(u) + 0.3 * cos(t);
    }
    dydt[2] = 0.0;
}

static int mixed_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    probe *p = params;
    p->plain_calls++;
    probe_call(p, n, t);
    for (size_t i = 0; i < n; i++)
        mixed_row(t, y + i * d, dydt + i * d);
    return 0;
}

static int mixed_rhs_rows(const slv_ode_rows *rows, size_t n, size_t d, const double *y,
                          double *dydt, void *params)
{
    probe *p = params;
    p->row_calls++;
    for (size_t i = 0; i < n; i++)
        if (rows->path[i] >= p->n_batch || (i > 0 && rows->path[i] <= rows->path[i - 1]))
            p->bad_rows++;
    probe_call(p, n, rows->t[0]);
    for (size_t i = 0; i < n; i++)
        mixed_row(rows->t[i], y + i * d, dydt + i * d);
    return 0;
}

/* Deterministic filler states of both kinds. */
static void mixed_fill(size_t n, unsigned seed, double *y)
{
    unsigned state = seed;
    for (size_t i = 0; i < n; i++) {
        double r[3];
        for (int c = 0; c < 3; c++) {
            state = state * 1103515245u + 12345u;
            r[c] = (double)((state >> 8) & 0xffff) / 65536.0;
        }
        y[i * MIXED_DIM] = 2.0 * r[0] - 1.0;
        y[i * MIXED_DIM + 1] = 2.0 * r[1] - 1.0;
        y[i * MIXED_DIM + 2] = i % 2 ? -0.2 - 3.0 * r[2] : 4.0 * r[2]; /* linear or pendulum */
    }
}

/* Solves n mixed states from t0 to t1 in INDEPENDENT mode; returns the per-path NFE in nfe. */
static void mixed_solve(size_t n, double *y, double t0, double t1, int with_rows, size_t *nfe,
                        probe *p)
{
    probe_init(p, n, NULL);
    slv_ode sys = {mixed_rhs, MIXED_DIM, p};
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, n, SLV_BATCH_INDEPENDENT, 1e-7,
                                    with_rows ? mixed_rhs_rows : NULL);
    int status = slv_ode_solver_solve(s, t0, t1, y);
    ck_assert_msg(status == SLV_OK, "%s", slv_ode_solver_get_error(s)->message);
    slv_ode_solver_get_path_rhs_evals(s, nfe);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += nfe[i];
    ck_assert_uint_eq(sum, slv_ode_solver_get_n_rhs_evals(s));
    ck_assert_uint_eq((size_t)p->calls, slv_ode_solver_get_n_rhs_calls(s));
    ck_assert_int_eq(p->bad_rows, 0);
    if (with_rows) /* the plain rhs is never called when rhs_rows is given */
        ck_assert_int_eq(p->plain_calls, 0);
    else
        ck_assert_int_eq(p->row_calls, 0);
    slv_ode_solver_free(s);
}

/* Two target states (a linear row and a pendulum row) solved alone, then inside batches of 7
 * and 64 with different companions (different dynamics, so different step sequences), with
 * rhs_rows and with the plain-rhs fallback, forward and backward: the targets' results and NFE
 * are bit-identical, and the two rhs forms give the same bits. A JOINT solver of one state is the
 * same system, so it gives the same bits too. */
START_TEST(test_state_bits_do_not_depend_on_batch)
{
    enum { BIG = 64 };
    const int with_rows = _i / 2, backward = _i % 2;
    const double t0 = backward ? 4.0 : 0.0, t1 = backward ? 0.0 : 4.0;
    const double targets[2][MIXED_DIM] = {{0.8, -0.3, -1.3}, {1.5, 0.2, 2.5}};
    const size_t sizes[2] = {7, BIG}, places[2][2] = {{3, 4}, {50, 13}};
    probe p;
    for (int k = 0; k < 2; k++) {
        double alone[MIXED_DIM], other_form[MIXED_DIM];
        size_t nfe_alone, nfe_other;
        memcpy(alone, targets[k], sizeof alone);
        mixed_solve(1, alone, t0, t1, with_rows, &nfe_alone, &p);
        memcpy(other_form, targets[k], sizeof other_form);
        mixed_solve(1, other_form, t0, t1, !with_rows, &nfe_other, &p);
        ck_assert(memcmp(alone, other_form, sizeof alone) == 0);
        ck_assert_uint_eq(nfe_alone, nfe_other);

        double joint[MIXED_DIM];
        memcpy(joint, targets[k], sizeof joint);
        probe_init(&p, 1, NULL);
        slv_ode sys = {mixed_rhs, MIXED_DIM, &p};
        slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, 1, SLV_BATCH_JOINT, 1e-7, NULL);
        ck_assert_int_eq(slv_ode_solver_solve(s, t0, t1, joint), SLV_OK);
        ck_assert(memcmp(alone, joint, sizeof alone) == 0);
        slv_ode_solver_free(s);

        for (int b = 0; b < 2; b++) {
            const size_t n = sizes[b], place = places[b][k];
            double batch[BIG * MIXED_DIM];
            size_t nfe[BIG], nfe_min = (size_t)-1, nfe_max = 0;
            mixed_fill(n, 17u + (unsigned)(n + (size_t)k), batch);
            memcpy(batch + place * MIXED_DIM, targets[k], sizeof targets[k]);
            mixed_solve(n, batch, t0, t1, with_rows, nfe, &p);
            for (size_t i = 0; i < n; i++) {
                nfe_min = nfe[i] < nfe_min ? nfe[i] : nfe_min;
                nfe_max = nfe[i] > nfe_max ? nfe[i] : nfe_max;
            }
            printf("%s %s target %d in a batch of %2zu at %2zu: NFE %zu (alone %zu), batch NFE "
                   "%zu .. %zu, %ld calls of %zu .. %zu rows\n",
                   with_rows ? "rhs_rows" : "rhs     ", backward ? "backward" : "forward ", k, n,
                   place, nfe[place], nfe_alone, nfe_min, nfe_max, p.calls, p.min_rows,
                   p.max_rows);
            ck_assert_msg(memcmp(batch + place * MIXED_DIM, alone, sizeof alone) == 0,
                          "target %d in a batch of %zu: (%.17g, %.17g) alone (%.17g, %.17g)", k,
                          n, batch[place * MIXED_DIM], batch[place * MIXED_DIM + 1], alone[0],
                          alone[1]);
            ck_assert_uint_eq(nfe[place], nfe_alone);
            ck_assert_uint_lt(nfe_min, nfe_max); /* the companions really step differently */
        }
    }
}
END_TEST

/* Clocked states with λ = −0.1 .. −12.8 (doubling) on [0, 3]: harder states need more steps, so the
 * per-state NFE grows with |λ| (adaptivity is per state). With rhs_rows every pass makes 6 calls
 * over all running states, and each running state attempts one step per pass, so the number of
 * batched calls is exactly the largest per-state NFE (2 + 6 per attempted step, the 2 being f at
 * t0 and the initial-step probe, shared by all states); calls shrink as easy states finish.
 * Without rhs_rows the calls are per group of states sharing a time: at least that many.
 * (Accuracy is not asserted here: for λ = −12.8, x dips to ~3e-6·x0 where atol = 1e-8 allows a
 * relative error of ~2e-4, which the flow carries back up by e^{11}; scipy does the same.) */
START_TEST(test_easy_states_take_fewer_evaluations)
{
    enum { N_STATES = 8 };
    const int with_rows = _i;
    double lambda[N_STATES], y[N_STATES * CLOCK_DIM], y0[N_STATES * CLOCK_DIM],
        exact[N_STATES * CLOCK_DIM];
    for (int p = 0; p < N_STATES; p++)
        lambda[p] = -0.1 * (double)(1 << p);
    probe p;
    probe_init(&p, N_STATES, lambda);
    slv_ode sys = {clocked_rhs, CLOCK_DIM, &p};
    clocked_initial(N_STATES, lambda, 0.0, y0);
    memcpy(y, y0, sizeof y);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, N_STATES, SLV_BATCH_INDEPENDENT, 1e-8,
                                    with_rows ? clocked_rhs_rows : NULL);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 3.0, y), SLV_OK);
    size_t nfe[N_STATES], nfe_max = 0, sum = 0;
    slv_ode_solver_get_path_rhs_evals(s, nfe);
    printf("%s: per-state NFE", with_rows ? "rhs_rows" : "rhs");
    for (int i = 0; i < N_STATES; i++) {
        printf(" %zu", nfe[i]);
        nfe_max = nfe[i] > nfe_max ? nfe[i] : nfe_max;
        sum += nfe[i];
        ck_assert_uint_eq((nfe[i] - 2) % 6, 0);
    }
    printf("; %zu batched calls of %zu .. %zu rows, %zu evaluations\n",
           slv_ode_solver_get_n_rhs_calls(s), p.min_rows, p.max_rows,
           slv_ode_solver_get_n_rhs_evals(s));
    ck_assert_uint_lt(nfe[0], nfe[N_STATES - 1]);
    for (int i = 1; i < N_STATES; i++)
        ck_assert_uint_le(nfe[i - 1], nfe[i]);
    ck_assert_uint_eq(sum, slv_ode_solver_get_n_rhs_evals(s));
    ck_assert_uint_eq((size_t)p.calls, slv_ode_solver_get_n_rhs_calls(s));
    if (with_rows) {
        ck_assert_uint_eq(slv_ode_solver_get_n_rhs_calls(s), nfe_max);
        ck_assert_uint_eq(p.max_rows, N_STATES);
        ck_assert_uint_eq(p.min_rows, 1); /* the hardest state runs alone at the end */
        ck_assert_int_eq(p.bad_rows, 0);
    } else {
        ck_assert_uint_ge(slv_ode_solver_get_n_rhs_calls(s), nfe_max);
    }
    clocked_exact(N_STATES, y0, 0.0, 3.0, exact);
    for (int i = 0; i < N_STATES; i++)
        printf("  λ = %5.1f: error %.3g tol\n", lambda[i],
               scaled_error(y + i * CLOCK_DIM, exact + i * CLOCK_DIM, CLOCK_DIM, 1e-8, 1e-8));
    slv_ode_solver_free(s);
}
END_TEST

/* JOINT mode: one system of n·d numbers, one step sequence and norm over the batch, the plain rhs
 * on the whole batch (rhs_rows is not used), every path's NFE = the batched count. */
START_TEST(test_joint_mode_is_one_system)
{
    enum { N_STATES = 5 };
    double lambda[N_STATES], y[N_STATES * CLOCK_DIM], y0[N_STATES * CLOCK_DIM],
        exact[N_STATES * CLOCK_DIM];
    lambdas(N_STATES, lambda);
    probe p;
    probe_init(&p, N_STATES, lambda);
    slv_ode sys = {clocked_rhs, CLOCK_DIM, &p};
    clocked_initial(N_STATES, lambda, 0.0, y0);
    memcpy(y, y0, sizeof y);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, N_STATES, SLV_BATCH_JOINT, 1e-7,
                                    clocked_rhs_rows);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 3.0, y), SLV_OK);
    const size_t nfe_total = slv_ode_solver_get_n_rhs_evals(s);
    size_t nfe[N_STATES];
    slv_ode_solver_get_path_rhs_evals(s, nfe);
    printf("rk45 JOINT: NFE %zu, %zu steps, %zu rejected\n", nfe_total,
           slv_ode_solver_get_n_steps(s), slv_ode_solver_get_n_rejected(s));
    ck_assert_int_eq(p.row_calls, 0);
    ck_assert_uint_eq(p.min_rows, N_STATES);
    ck_assert_uint_eq((size_t)p.calls, nfe_total);
    ck_assert_uint_eq(slv_ode_solver_get_n_rhs_calls(s), nfe_total);
    ck_assert_uint_eq((nfe_total - 2) % 6, 0);
    for (int i = 0; i < N_STATES; i++)
        ck_assert_uint_eq(nfe[i], nfe_total);
    clocked_exact(N_STATES, y0, 0.0, 3.0, exact);
    ck_assert_double_le(scaled_error(y, exact, N_STATES * CLOCK_DIM, 1e-7, 1e-7), C_GLOBAL);
    slv_ode_solver_free(s);
}
END_TEST

/* The same solver solving again (forward, then backward, then forward; then the other mode)
 * reproduces its first result bit for bit: nothing from an earlier solve leaks into a later one. */
START_TEST(test_repeated_solves_reproduce_bitwise)
{
    enum { N_STATES = 6 };
    double lambda[N_STATES], y0[N_STATES * CLOCK_DIM], first[N_STATES * CLOCK_DIM],
        again[N_STATES * CLOCK_DIM];
    lambdas(N_STATES, lambda);
    probe p;
    probe_init(&p, N_STATES, lambda);
    slv_ode sys = {clocked_rhs, CLOCK_DIM, &p};
    clocked_initial(N_STATES, lambda, 0.0, y0);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, N_STATES, SLV_BATCH_INDEPENDENT, 1e-6,
                                    clocked_rhs_rows);
    for (int mode = 1; mode >= 0; mode--) {
        ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, (slv_batch_mode)mode), SLV_OK);
        memcpy(first, y0, sizeof first);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, first), SLV_OK);
        const size_t nfe_first = slv_ode_solver_get_n_rhs_evals(s);
        memcpy(again, y0, sizeof again);
        ck_assert_int_eq(slv_ode_solver_solve(s, 1.0, -0.5, again), SLV_OK);
        memcpy(again, y0, sizeof again);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, again), SLV_OK);
        ck_assert_msg(memcmp(first, again, sizeof first) == 0, "mode %d: repeat differs", mode);
        ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), nfe_first);
    }
    slv_ode_solver_free(s);
}
END_TEST

/* ---- Dense output -------------------------------------------------------------------------------
 * The continuous extension is 4th order and not error-controlled: the controller bounds the
 * embedded estimate, not the interpolant. On an autonomous linear system y' = Ay both have the
 * leading form (coefficient)·h^5 A^5 y, the same vector; from scipy's P matrix and E vector, the
 * interpolant's coefficient is at most 0.38 times the estimate's over θ ∈ [0, 1] (computed from
 * the power series of the stages for y' = λy). So on the rotation with decay the dense output is
 * within the step start's global error (≤ C_GLOBAL) plus 0.38 tol: bound C_GLOBAL + 1.
 * (On non-autonomous problems the estimate can nearly vanish while the interpolant's error does
 * not; test_reproduces_scipy_rk45 shows a case where scipy's RK45 and ours are both 28 tol off.) */

static int rotation_rhs_rows(const slv_ode_rows *rows, size_t n, size_t d, const double *y,
                             double *dydt, void *params)
{
    (void)rows; /* autonomous */
    return rotation_rhs(0.0, n, d, y, dydt, params);
}

/* 41 output times over [0, 3] (forward) or [3, 0] (backward), t0 first, t1 last, the others off
 * the step grid, 5 rotation states in INDEPENDENT mode (with and without rhs_rows) and JOINT mode.
 * The output at t0 is the initial state and the one at t1 the returned y, bit for bit. */
START_TEST(test_dense_output_matches_closed_form)
{
    enum { N_STATES = 5, N_OUT = 41 };
    const int backward = _i % 2, variant = _i / 2; /* 0: rows, 1: plain rhs, 2: JOINT */
    const double t0 = backward ? 3.0 : 0.0, t1 = backward ? 0.0 : 3.0, tol = 1e-7;
    rotation_params rotation = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &rotation};
    double y0[2 * N_STATES], y[2 * N_STATES], exact[2 * N_STATES], t_out[N_OUT];
    static double y_out[N_OUT * 2 * N_STATES];
    rotation_initial(N_STATES, y0);
    for (int k = 0; k < N_OUT; k++)
        t_out[k] = t0 + (t1 - t0) * (double)k / (N_OUT - 1);
    memcpy(y, y0, sizeof y);
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, N_STATES,
                                    variant == 2 ? SLV_BATCH_JOINT : SLV_BATCH_INDEPENDENT, tol,
                                    variant == 0 ? rotation_rhs_rows : NULL);
    int status = slv_ode_solver_solve_dense(s, t0, N_OUT, t_out, y, y_out);
    ck_assert_msg(status == SLV_OK, "%s", slv_ode_solver_get_error(s)->message);
    const size_t len = 2 * N_STATES;
    double worst = 0.0, worst_t = t0;
    for (int k = 0; k < N_OUT; k++) {
        rotation_exact(&rotation, t_out[k] - t0, N_STATES, y0, exact);
        const double e = scaled_error(y_out + k * len, exact, len, tol, tol);
        if (e > worst) {
            worst = e;
            worst_t = t_out[k];
        }
    }
    rotation_exact(&rotation, t1 - t0, N_STATES, y0, exact);
    printf("dense output %-8s %s: worst error %.3f tol (at t = %.3f) over %d times; at t1 %.3f "
           "tol; %zu steps\n", variant == 0 ? "rhs_rows" : variant == 1 ? "rhs" : "JOINT",
           backward ? "backward" : "forward", worst, worst_t, N_OUT,
           scaled_error(y, exact, len, tol, tol), slv_ode_solver_get_n_steps(s));
    ck_assert_double_le(worst, C_GLOBAL + 1.0);
    ck_assert(memcmp(y_out, y0, sizeof y0) == 0);
    ck_assert(memcmp(y_out + (N_OUT - 1) * len, y, sizeof y) == 0);
    slv_ode_solver_free(s);
}
END_TEST

/* A state's dense output does not depend on its batch: the first of 5 clocked states
 * (time-dependent, with and without rhs_rows) solved alone gives the same bits at 41 times. */
START_TEST(test_dense_output_does_not_depend_on_batch)
{
    enum { N_STATES = 5, N_OUT = 41 };
    const int with_rows = _i;
    double lambda[N_STATES], y0[N_STATES * CLOCK_DIM], y[N_STATES * CLOCK_DIM], t_out[N_OUT];
    double alone[CLOCK_DIM], alone_out[N_OUT * CLOCK_DIM];
    static double y_out[N_OUT * N_STATES * CLOCK_DIM];
    lambdas(N_STATES, lambda);
    probe p;
    slv_ode sys = {clocked_rhs, CLOCK_DIM, &p};
    clocked_initial(N_STATES, lambda, 3.0, y0);
    for (int k = 0; k < N_OUT; k++)
        t_out[k] = 3.0 - 3.0 * (double)k / (N_OUT - 1);
    for (int alone_run = 0; alone_run < 2; alone_run++) {
        const size_t n = alone_run ? 1 : N_STATES;
        double *state = alone_run ? alone : y, *out = alone_run ? alone_out : y_out;
        probe_init(&p, n, lambda);
        memcpy(state, y0, n * CLOCK_DIM * sizeof *state);
        slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, n, SLV_BATCH_INDEPENDENT, 1e-7,
                                        with_rows ? clocked_rhs_rows : NULL);
        ck_assert_int_eq(slv_ode_solver_solve_dense(s, 3.0, N_OUT, t_out, state, out), SLV_OK);
        slv_ode_solver_free(s);
    }
    for (int k = 0; k < N_OUT; k++)
        ck_assert(memcmp(alone_out + k * CLOCK_DIM, y_out + k * N_STATES * CLOCK_DIM,
                         sizeof alone) == 0);
    ck_assert(memcmp(alone, y, sizeof alone) == 0);
}
END_TEST

START_TEST(test_dense_output_arguments)
{
    rotation_params rotation = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &rotation};
    double y[4], y_out[3 * 4];
    rotation_initial(2, y);
    for (int m = 0; slv_ode_methods[m] != NULL; m++) {
        if (slv_ode_methods[m]->dense_output)
            continue;
        const double t_out[2] = {0.5, 1.0};
        slv_ode_solver *other = slv_ode_solver_alloc(slv_ode_methods[m], &sys, 2);
        ck_assert_int_eq(slv_ode_solver_solve_dense(other, 0.0, 2, t_out, y, y_out),
                         SLV_EUNSUPPORTED);
        slv_ode_solver_free(other);
    }
    slv_ode_solver *s = slv_ode_solver_alloc(slv_ode_rk45, &sys, 2);
    const slv_error *err = slv_ode_solver_get_error(s);
    const double back[3] = {0.5, 0.4, 1.0}, behind[2] = {-0.1, 1.0}, nan_time[2] = {NAN, 1.0};
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 3, back, y, y_out), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "t_out[1]"));
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 2, behind, y, y_out), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "t_out[0]"));
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 2, nan_time, y, y_out), SLV_EINVAL);
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 0, back, y, y_out), SLV_EINVAL);
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 3, back, y, NULL), SLV_EINVAL);
    ck_assert_int_eq(rotation.calls, 0);
    /* t0 == t1: every output is the initial state; equal neighbours are allowed */
    const double same[3] = {0.0, 0.0, 0.0}, repeated[3] = {0.5, 0.5, 1.0};
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 3, same, y, y_out), SLV_OK);
    for (int k = 0; k < 3; k++)
        ck_assert(memcmp(y_out + 4 * k, y, 4 * sizeof *y) == 0);
    ck_assert_int_eq(slv_ode_solver_solve_dense(s, 0.0, 3, repeated, y, y_out), SLV_OK);
    ck_assert(memcmp(y_out, y_out + 4, 4 * sizeof *y) == 0);
    slv_ode_solver_free(s);
}
END_TEST

/* ---- Failures -----------------------------------------------------------------------------------
 * A batch of 5 clocked states (λ = −0.5 .. −2.5) in INDEPENDENT mode on [0, 2], tol 1e-8, with and
 * without rhs_rows. After a failure every state must be its last accepted state: on its exact
 * trajectory at the time its clock τ shows (tol 1e-8, so 1e-6 is loose). States run at their own
 * pace, so an easy one may be far ahead of the one that failed, or finished. */
enum { N_FAULT = 5 };

static slv_ode_solver *fault_solver(probe *p, slv_ode *sys, double *lambda, double *y0, double *y,
                                    int with_rows)
{
    lambdas(N_FAULT, lambda);
    probe_init(p, N_FAULT, lambda);
    *sys = (slv_ode){clocked_rhs, CLOCK_DIM, p};
    clocked_initial(N_FAULT, lambda, 0.0, y0);
    memcpy(y, y0, N_FAULT * CLOCK_DIM * sizeof *y);
    return make_solver(slv_ode_rk45, sys, N_FAULT, SLV_BATCH_INDEPENDENT, 1e-8,
                       with_rows ? clocked_rhs_rows : NULL);
}

/* Each state on its trajectory at its clock's time, which is ≤ t_limit or t1 = 2; returns how
 * many had finished. */
static int check_last_accepted(const double *y, const double *y0, double t_limit)
{
    int finished = 0;
    for (int p = 0; p < N_FAULT; p++) {
        const double *state = y + p * CLOCK_DIM;
        const double tau = state[2];
        double exact[CLOCK_DIM];
        /* τ sums the steps through the Runge–Kutta weights: it is t to within rounding */
        const int at_t1 = fabs(tau - 2.0) <= 1e-12;
        ck_assert_msg(tau >= 0.0 && (tau <= t_limit + 1e-12 || at_t1),
                      "state %d at τ = %.17g, failure at %.17g", p, tau, t_limit);
        finished += at_t1;
        clocked_exact(1, y0 + p * CLOCK_DIM, 0.0, tau, exact);
        ck_assert_msg(max_abs_error(state, exact, CLOCK_DIM) <= 1e-6,
                      "state %d off its trajectory by %g", p,
                      max_abs_error(state, exact, CLOCK_DIM));
    }
    return finished;
}

START_TEST(test_nan_in_rhs_names_time_and_path)
{
    const int with_rows = _i;
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, with_rows);
    p.fault = FAULT_NAN;
    p.t_fault = 0.8;
    p.fault_lambda = lambda[3];
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("NaN (%s): %s\n", with_rows ? "rhs_rows" : "rhs", err->message);
    ck_assert_int_eq(status, SLV_ENONFINITE);
    ck_assert_int_eq(err->path, 3);
    ck_assert_msg(err->t > 0.8 && err->t <= 2.0, "t = %g", err->t);
    ck_assert_ptr_nonnull(strstr(err->message, "path 3"));
    check_last_accepted(y, y0, 2.0);
    ck_assert_double_le(y[3 * CLOCK_DIM + 2], err->t + 1e-12); /* path 3 before its failure */
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_stopping_rhs_gives_callback_error)
{
    const int with_rows = _i;
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, with_rows);
    p.fault = FAULT_STOP;
    p.t_fault = 0.8;
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("stop (%s): %s\n", with_rows ? "rhs_rows" : "rhs", err->message);
    ck_assert_int_eq(status, SLV_ECALLBACK);
    ck_assert_ptr_nonnull(strstr(err->message, "returned -1"));
    check_last_accepted(y, y0, 2.0);
    slv_ode_solver_free(s);
}
END_TEST

/* One return > 0: the states in that call retry with a quarter of the step (a rejected step
 * each) and finish within the tolerance. */
START_TEST(test_recoverable_failure_is_retried)
{
    const int with_rows = _i;
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM],
        exact[N_FAULT * CLOCK_DIM];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, with_rows);
    p.fault = FAULT_RECOVERABLE_ONCE;
    p.t_fault = 0.8;
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    ck_assert_msg(status == SLV_OK, "%s", slv_ode_solver_get_error(s)->message);
    ck_assert_int_eq(p.fired, 1);
    ck_assert_uint_ge(slv_ode_solver_get_n_rejected(s), 1);
    clocked_exact(N_FAULT, y0, 0.0, 2.0, exact);
    ck_assert_double_le(scaled_error(y, exact, N_FAULT * CLOCK_DIM, 1e-8, 1e-8), C_GLOBAL);
    slv_ode_solver_free(s);
}
END_TEST

/* Returns > 0 for every call past 0.8: the states creep towards 0.8 with ever smaller steps until
 * 10 retries in a row from one state fail (SLV_ECALLBACK), the step falls below 10 ulp
 * (SLV_ESTEPSIZE) or the step budget runs out (SLV_EMAXSTEPS); no state passes 0.8. */
START_TEST(test_persistent_recoverable_failure_stops_before_it)
{
    const int with_rows = _i;
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, with_rows);
    ck_assert_int_eq(slv_ode_solver_set_max_steps(s, 2000), SLV_OK);
    p.fault = FAULT_RECOVERABLE;
    p.t_fault = 0.8;
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("persistent > 0 (%s): %s\n", with_rows ? "rhs_rows" : "rhs", err->message);
    ck_assert_msg(status == SLV_ECALLBACK || status == SLV_ESTEPSIZE || status == SLV_EMAXSTEPS,
                  "status %d", status);
    ck_assert_int_eq(check_last_accepted(y, y0, 0.8), 0);
    slv_ode_solver_free(s);
}
END_TEST

/* max_steps is per state. A first solve gives each state's attempted steps, (NFE − 2)/6; with
 * the budget set to the easiest state's attempts (≥ its accepted steps) that state reaches t1 = 2
 * while a harder one runs out first: the report names it and the time it reached. */
START_TEST(test_step_budget_is_per_state)
{
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM];
    size_t nfe[N_FAULT];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, 1);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, y), SLV_OK);
    slv_ode_solver_get_path_rhs_evals(s, nfe);
    const size_t budget = (nfe[0] - 2) / 6;
    memcpy(y, y0, sizeof y);
    ck_assert_int_eq(slv_ode_solver_set_max_steps(s, budget), SLV_OK);
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("max_steps %zu (per-state NFE %zu .. %zu without a budget): %s\n", budget, nfe[0],
           nfe[N_FAULT - 1], err->message);
    ck_assert_int_eq(status, SLV_EMAXSTEPS);
    ck_assert_int_ge(err->path, 1);
    ck_assert_msg(err->t > 0.0 && err->t < 2.0, "t = %g", err->t);
    ck_assert_double_eq_tol(y[err->path * CLOCK_DIM + 2], err->t, 1e-12); /* its clock */
    ck_assert_int_ge(check_last_accepted(y, y0, 2.0), 1);
    ck_assert_double_eq_tol(y[2], 2.0, 1e-12); /* the easiest state finished */
    slv_ode_solver_free(s);
}
END_TEST

/* x' = x², x(0) = x0 blows up at t = 1/x0. Of states with x0 = 0.1, 0.2, 1, 0.3, integrated to
 * t = 2, state 2 (blow-up at 1) cannot pass its singularity: its steps shrink below 10 ulp of t
 * (SLV_ESTEPSIZE) — or its state overflows first (SLV_ENONFINITE); either report names path 2.
 * The numerical solution carries relative errors of a few rtol, and its blow-up time 1/x + t
 * moves by as much: the report's time is within 100·rtol = 1e-4 of 1. */
static int square_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    (void)t;
    (void)params;
    for (size_t i = 0; i < n * d; i++)
        dydt[i] = y[i] * y[i];
    return 0;
}

START_TEST(test_blow_up_gives_step_size_underflow_naming_the_path)
{
    slv_ode sys = {square_rhs, 1, NULL};
    slv_ode_solver *s = make_solver(slv_ode_rk45, &sys, 4, SLV_BATCH_INDEPENDENT, 1e-6, NULL);
    double y[4] = {0.1, 0.2, 1.0, 0.3};
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("blow-up: %s\n", err->message);
    ck_assert_msg(status == SLV_ESTEPSIZE || status == SLV_ENONFINITE, "status %d", status);
    ck_assert_int_eq(err->path, 2);
    ck_assert_msg(fabs(err->t - 1.0) <= 1e-4, "t = %.17g", err->t);
    ck_assert_ptr_nonnull(strstr(err->message, "path 2"));
    ck_assert_int_eq(slv_find_nonfinite(y, 4), -1);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_interrupt_stops_every_state)
{
    const int with_rows = _i;
    volatile int flag = 0;
    probe p;
    slv_ode sys;
    double lambda[N_FAULT], y0[N_FAULT * CLOCK_DIM], y[N_FAULT * CLOCK_DIM];
    slv_ode_solver *s = fault_solver(&p, &sys, lambda, y0, y, with_rows);
    p.interrupt_after = 20;
    p.interrupt = &flag;
    slv_ode_solver_set_interrupt(s, &flag);
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    ck_assert_int_eq(status, SLV_EINTERRUPTED);
    ck_assert_int_eq(p.calls, 20); /* polled before the next rhs call */
    check_last_accepted(y, y0, 2.0);
    slv_ode_solver_free(s);
}
END_TEST

static Suite *ode_rk45_suite(void)
{
    Suite *suite = suite_create("ode_rk45");
    TCase *tc = tcase_create("method");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rk45_is_listed_after_the_existing_methods);
    tcase_add_loop_test(tc, test_fixed_steps_match_arkode_dormand_prince, 0, 2);
    tcase_add_test(tc, test_fixed_step_order_is_five);
    tcase_add_loop_test(tc, test_error_is_proportional_to_tolerance, 0, 4);
    tcase_add_loop_test(tc, test_agrees_with_arkode_dopri5, 0, 3);
    tcase_add_test(tc, test_reproduces_scipy_rk45);
    suite_add_tcase(suite, tc);

    tc = tcase_create("batch");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_state_bits_do_not_depend_on_batch, 0, 4);
    tcase_add_loop_test(tc, test_easy_states_take_fewer_evaluations, 0, 2);
    tcase_add_test(tc, test_joint_mode_is_one_system);
    tcase_add_test(tc, test_repeated_solves_reproduce_bitwise);
    tcase_add_loop_test(tc, test_dense_output_matches_closed_form, 0, 6);
    tcase_add_loop_test(tc, test_dense_output_does_not_depend_on_batch, 0, 2);
    tcase_add_test(tc, test_dense_output_arguments);
    suite_add_tcase(suite, tc);

    tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_nan_in_rhs_names_time_and_path, 0, 2);
    tcase_add_loop_test(tc, test_stopping_rhs_gives_callback_error, 0, 2);
    tcase_add_loop_test(tc, test_recoverable_failure_is_retried, 0, 2);
    tcase_add_loop_test(tc, test_persistent_recoverable_failure_stops_before_it, 0, 2);
    tcase_add_test(tc, test_step_budget_is_per_state);
    tcase_add_test(tc, test_blow_up_gives_step_size_underflow_naming_the_path);
    tcase_add_loop_test(tc, test_interrupt_stops_every_state, 0, 2);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_rk45_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
