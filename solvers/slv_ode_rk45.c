/* slv_ode_rk45.c — Dormand–Prince 5(4) with scipy.integrate.RK45's step control and dense output,
 * on a batch whose states each keep their own step sequence while sharing every rhs call.
 *
 * Why this file exists: the probability-flow ODE of a diffusion model is solved for a batch of
 * samples, and each sample should get the steps its own error asks for (a sample's result must
 * not depend on its batch-mates), yet the score network is only fast when it evaluates the whole
 * batch at once. SUNDIALS (ARKODE, CVODE) and GSL odeiv2 integrate one system with one step
 * sequence: either the batch is one system (JOINT: batched calls, shared steps) or each state is
 * solved alone (INDEPENDENT with those back ends: calls of batch size 1). No C library we know of
 * steps many independent problems with per-problem adaptivity over one batched function call,
 * so this integrator is written here.
 *
 * Method (Dormand & Prince, J. Comput. Appl. Math. 6 (1980); Hairer, Nørsett & Wanner, Solving
 * ODEs I, Table II.5.2 — the tableau of scipy's RK45 and Hairer's DOPRI5): 7 stages, the 7th is
 * f(t + h, y_new) and becomes the 1st of the next step (first same as last), so an attempted step
 * costs 6 evaluations. The step is taken with the 5th-order weights; the error estimate is
 * h·Σ e_j k_j with e = b5 − b4.
 *
 * Step control — scipy.integrate._ivp.rk.RungeKutta._step_impl, followed exactly:
 *   scale_i = atol + rtol·max(|y_i|, |y_new_i|);  norm = RMS_i(err_i / scale_i)
 *   (over one state's d numbers in INDEPENDENT mode, over all n·d numbers in JOINT mode);
 *   accept when norm < 1; then |h| *= min(10, 0.9·norm^(−1/5)) (10 when norm = 0), capped at 1
 *   when this step was rejected before; reject otherwise: |h| *= max(0.2, 0.9·norm^(−1/5)).
 *   min_step = 10·|nextafter(t, ±∞) − t|: |h| is raised to it at the start of a step, and a step
 *   that shrinks below it fails (SLV_ESTEPSIZE). The last step is cut to land on t1.
 *   With set_fixed_step h: steps end on t0 + k·h (the last one cut to t1), no error test, no
 *   initial-step probe (NFE per state 1 + 6 per step).
 *   Initial step: scipy's select_initial_step (Hairer, Nørsett & Wanner II.4): d0 = ‖y0‖,
 *   d1 = ‖f0‖ (RMS, weights 1/(atol + rtol·|y0|)); h0 = 0.01·d0/d1 (1e-6 if either < 1e-5),
 *   at most |t1 − t0|; one Euler step of h0 and an rhs call give d2 = ‖f1 − f0‖/h0;
 *   h1 = (0.01/max(d1, d2))^(1/5) (max(1e-6, 1e-3·h0) if both ≤ 1e-15);
 *   |h| = min(100·h0, h1, |t1 − t0|). (scipy ≥ 1.12 caps at |t1 − t0| as here; older versions
 *   do not, which only matters when the interval is shorter than the step.)
 *   A component with atol + rtol·|y| = 0 counts 0 when its numerator is 0 and infinity otherwise
 *   (scipy would divide 0/0).
 *   NFE per state: 1 (f at t0) + 1 (initial-step probe) + 6 per attempted step — scipy's nfev.
 *
 * Dense output: scipy's RK45 continuous extension (Shampine, Math. Comp. 46 (1986), the P matrix
 * of scipy's RK45): y(t_old + θh) = y_old + h·Σ_{j=1..4} q_j θ^j with q = K·P, 4th order, no
 * extra rhs call.
 *
 * Batching (INDEPENDENT mode): every state ("unit") holds its own t, |h|, rejection flag,
 * counters. The driver runs passes; in a pass each state still running attempts one step, and
 * each of the 6 stages is one rhs_rows call over the rows of those states, each row at its own
 * stage time (compact layout: the state at position i of the active list sits in row i of the
 * stage arrays). A state that reaches t1 leaves the active list, so later calls are smaller.
 * Without rhs_rows, each stage calls the plain rhs once per group of rows sharing one stage time
 * (gathered into a scratch batch when not adjacent). Every arithmetic operation works on one
 * state's numbers only, through the same code for every state, so a state's result is
 * bit-identical to solving it alone when the rhs computes each row on its own.
 * JOINT mode is the same code with one unit of n·d numbers and the plain rhs.
 *
 * Failures stop every state: y holds each state's last accepted state (y is written only when a
 * step is accepted, and then only with numbers the 7th-stage call has checked finite). An rhs
 * return > 0 rejects the attempt of every state in that call (all running states with rhs_rows,
 * the group sharing a time without) and retries with a quarter of the step, at most
 * MAX_RHS_RETRIES times in a row from one accepted state; a return > 0 at t0 (no step to shrink)
 * or with a fixed step is SLV_ECALLBACK.
 *
 * Workspace: 11·n·d doubles plus O(n) per-state arrays, made in alloc; nothing allocates in a
 * solve.
 */
#include "slv_ode_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_STAGES = 7, MAX_RHS_RETRIES = 10 };

/* scipy.integrate._ivp.rk */
static const double SAFETY = 0.9;
static const double MIN_FACTOR = 0.2;
static const double MAX_FACTOR = 10.0;
static const double ERROR_EXPONENT = -1.0 / 5.0; /* −1/(error estimator order + 1) */
/* Step taken again after an rhs return > 0 (as the ARKODE driver does). */
static const double RECOVER_FACTOR = 0.25;

/* Dormand–Prince 5(4): nodes, stage matrix (row 6 = the 5th-order weights b, FSAL), error weights
 * e = b5 − b4 (scipy's RK45.E), dense-output matrix (scipy's RK45.P, Shampine 1986). */
static const double rk_c[N_STAGES] = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0};
static const double rk_a[N_STAGES][N_STAGES - 1] = {
    {0},
    {1.0 / 5.0},
    {3.0 / 40.0, 9.0 / 40.0},
    {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0},
    {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0},
    {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0},
    {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0}};
static const double rk_e[N_STAGES] = {-71.0 / 57600.0,      0.0,           71.0 / 16695.0,
                                      -71.0 / 1920.0,       17253.0 / 339200.0,
                                      -22.0 / 525.0,        1.0 / 40.0};
static const double rk_p[N_STAGES][4] = {
    {1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0,
     -12715105075.0 / 11282082432.0},
    {0.0, 0.0, 0.0, 0.0},
    {0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0,
     87487479700.0 / 32700410799.0},
    {0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0,
     -10690763975.0 / 1880347072.0},
    {0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0,
     701980252875.0 / 199316789632.0},
    {0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0},
    {0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0}};

/* A unit is one state (INDEPENDENT mode: n units of d numbers) or the whole batch (JOINT: one unit
 * of n·d numbers). Arrays marked "by unit" are indexed by the unit (y and f: at unit·len); arrays
 * marked "by position" by the unit's place in the active list of the current pass. */
typedef struct rk45_work {
    size_t n, d;
    double *f;                 /* (n, d) by unit: f at the accepted state, k1 of the next step */
    double *k[N_STAGES];       /* k[1..6]: (n, d) by position, stages 2..7; k[0] is unused (f) */
    double *y_stage;           /* (n, d) by position: input of stages 2..6, the probe state */
    double *y_new;             /* (n, d) by position: 5th-order result, input of stage 7 */
    double *gather_in;         /* (n, d) rows of one plain-rhs group that are not adjacent */
    double *gather_out;        /* (n, d) their derivatives */
    /* by unit (n) */
    double *t;                 /* time of the accepted state */
    double *h_abs;             /* |step| for the next attempt */
    size_t *n_steps, *n_rejected;
    unsigned char *rejected;   /* rejected since the last accepted step: next growth capped at 1 */
    int *retries;              /* rhs returns > 0 in a row since the last accepted step */
    size_t *out_next;          /* dense output: next index of t_out to write */
    /* by position (n) */
    size_t *active;            /* unit at each position, increasing */
    double *h;                 /* signed step of the current attempt */
    double *t_new;             /* end of the current attempt */
    double *t_stage;           /* time of the current stage */
    unsigned char *live;       /* still attempting (0 after an rhs return > 0 in this attempt) */
    size_t *order, *order_tmp; /* live positions sorted by stage time (plain-rhs groups) */
    double *group_t;           /* (n) times of a gathered group */
    size_t *group_path;        /* (n) paths of a gathered group */
} rk45_work;

static void rk45_free(void *work)
{
    rk45_work *w = work;
    if (w == NULL)
        return;
    free(w->f);
    for (int j = 1; j < N_STAGES; j++)
        free(w->k[j]);
    free(w->y_stage);
    free(w->y_new);
    free(w->gather_in);
    free(w->gather_out);
    free(w->t);
    free(w->h_abs);
    free(w->n_steps);
    free(w->n_rejected);
    free(w->rejected);
    free(w->retries);
    free(w->out_next);
    free(w->active);
    free(w->h);
    free(w->t_new);
    free(w->t_stage);
    free(w->live);
    free(w->order);
    free(w->order_tmp);
    free(w->group_t);
    free(w->group_path);
    free(w);
}

/* len = n·d in both batch modes (batched_independent). */
static void *rk45_alloc(slv_ode_solver *s, size_t len)
{
    const size_t n = s->n;
    rk45_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->n = n;
    w->d = s->dim;
    int ok = (w->f = malloc(len * sizeof(double))) != NULL;
    for (int j = 1; j < N_STAGES; j++)
        ok &= (w->k[j] = malloc(len * sizeof(double))) != NULL;
    ok &= (w->y_stage = malloc(len * sizeof(double))) != NULL;
    ok &= (w->y_new = malloc(len * sizeof(double))) != NULL;
    ok &= (w->gather_in = malloc(len * sizeof(double))) != NULL;
    ok &= (w->gather_out = malloc(len * sizeof(double))) != NULL;
    ok &= (w->t = malloc(n * sizeof(double))) != NULL;
    ok &= (w->h_abs = malloc(n * sizeof(double))) != NULL;
    ok &= (w->n_steps = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->n_rejected = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->rejected = malloc(n)) != NULL;
    ok &= (w->retries = malloc(n * sizeof(int))) != NULL;
    ok &= (w->out_next = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->active = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->h = malloc(n * sizeof(double))) != NULL;
    ok &= (w->t_new = malloc(n * sizeof(double))) != NULL;
    ok &= (w->t_stage = malloc(n * sizeof(double))) != NULL;
    ok &= (w->live = malloc(n)) != NULL;
    ok &= (w->order = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->order_tmp = malloc(n * sizeof(size_t))) != NULL;
    ok &= (w->group_t = malloc(n * sizeof(double))) != NULL;
    ok &= (w->group_path = malloc(n * sizeof(size_t))) != NULL;
    if (!ok)
        goto fail;
    return w;
fail:
    rk45_free(w);
    return NULL;
}

/* ---- Arithmetic on one unit (the same code for every state: no cross-row operation) ------- */

/* out = y + h·Σ_{j<s} a[s][j]·k_j (s = 6 gives the 5th-order result y_new). */
static void stage_input(size_t len, int s, double h, const double *y,
                        const double *const k[N_STAGES], double *out)
{
    for (size_t c = 0; c < len; c++) {
        double sum = 0.0;
        for (int j = 0; j < s; j++)
            sum += rk_a[s][j] * k[j][c];
        out[c] = y[c] + h * sum;
    }
}

/* q/s: the error-norm term of one component (0/0 counts 0: scale 0 needs atol = 0 and y = 0). */
static double scaled(double q, double scale)
{
    return scale > 0.0 ? q / scale : (q == 0.0 ? 0.0 : INFINITY);
}

/* RMS over len of (h·Σ e_j k_j) / (atol + rtol·max(|y|, |y_new|)). */
static double error_norm(size_t len, double h, const double *y, const double *y_new,
                         const double *const k[N_STAGES], double rtol, double atol)
{
    double sum = 0.0;
    for (size_t c = 0; c < len; c++) {
        double err = 0.0;
        for (int j = 0; j < N_STAGES; j++)
            err += rk_e[j] * k[j][c];
        const double q = scaled(err * h, atol + rtol * fmax(fabs(y[c]), fabs(y_new[c])));
        sum += q * q;
    }
    return sqrt(sum / (double)len);
}

/* RMS over len of v / (atol + rtol·|y|) (select_initial_step's norm); v − w when w is given. */
static double initial_norm(size_t len, const double *v, const double *w, const double *y,
                           double rtol, double atol)
{
    double sum = 0.0;
    for (size_t c = 0; c < len; c++) {
        const double q = scaled(w != NULL ? v[c] - w[c] : v[c], atol + rtol * fabs(y[c]));
        sum += q * q;
    }
    return sqrt(sum / (double)len);
}

/* out = y_old + h·Σ_{j=1..4} q_j θ^j, q = K·P (scipy's RkDenseOutput, Horner form). */
static void dense_value(size_t len, double theta, double h, const double *y_old,
                        const double *const k[N_STAGES], double *out)
{
    for (size_t c = 0; c < len; c++) {
        double q[4] = {0.0, 0.0, 0.0, 0.0};
        for (int j = 0; j < N_STAGES; j++)
            for (int m = 0; m < 4; m++)
                q[m] += k[j][c] * rk_p[j][m];
        const double poly = theta * (q[0] + theta * (q[1] + theta * (q[2] + theta * q[3])));
        out[c] = y_old[c] + h * poly;
    }
}

/* ---- Rhs evaluation for the live positions --------------------------------------------------- */

/* Sorts order[0..m) by t_stage[order[i]], stably (equal times keep their position order): a
 * bottom-up merge sort into the preallocated tmp. */
static void sort_by_stage_time(size_t *order, size_t *tmp, size_t m, const double *t_stage)
{
    size_t *from = order, *to = tmp;
    for (size_t width = 1; width < m; width *= 2) {
        for (size_t lo = 0; lo < m; lo += 2 * width) {
            const size_t mid = lo + width < m ? lo + width : m;
            const size_t hi = lo + 2 * width < m ? lo + 2 * width : m;
            size_t a = lo, b = mid, out = lo;
            while (a < mid && b < hi)
                to[out++] = t_stage[from[b]] < t_stage[from[a]] ? from[b++] : from[a++];
            while (a < mid)
                to[out++] = from[a++];
            while (b < hi)
                to[out++] = from[b++];
        }
        size_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != order)
        memcpy(order, from, m * sizeof *order);
}

/* One call on the positions order[0..count): direct when they are adjacent, else through the
 * gather arrays. */
static int call_group(rk45_work *w, slv_ode_solver *s, const size_t *order, size_t count,
                      size_t len, const double *in, double *out)
{
    const size_t first = order[0];
    if (order[count - 1] - first == count - 1) { /* positions first .. first + count − 1 */
        const slv_ode_rows rows = {w->t_stage + first, w->active + first};
        return slv_ode_rhs_rows_call(s, &rows, count, in + first * len, out + first * len);
    }
    for (size_t g = 0; g < count; g++) {
        w->group_t[g] = w->t_stage[order[g]];
        w->group_path[g] = w->active[order[g]];
        memcpy(w->gather_in + g * len, in + order[g] * len, len * sizeof *in);
    }
    const slv_ode_rows rows = {w->group_t, w->group_path};
    int ret = slv_ode_rhs_rows_call(s, &rows, count, w->gather_in, w->gather_out);
    if (ret == 0)
        for (size_t g = 0; g < count; g++)
            memcpy(out + order[g] * len, w->gather_out + g * len, len * sizeof *out);
    return ret;
}

/* Evaluates out[i] = F(t_stage[i], in[i]) for every live position i < m (rows of len numbers).
 * Positions whose call returned > 0 are marked not live. Returns SLV_OK or the failure status
 * (report in s->err). */
static int eval_stage(rk45_work *w, slv_ode_solver *s, int joint, size_t m, size_t len,
                      const double *in, double *out)
{
    if (joint) {
        if (!w->live[0])
            return SLV_OK;
        int ret = slv_ode_rhs_call(s, w->t_stage[0], in, out);
        if (ret < 0)
            return s->err.status;
        if (ret > 0)
            w->live[0] = 0;
        return SLV_OK;
    }
    size_t n_live = 0;
    int same_time = 1;
    for (size_t i = 0; i < m; i++)
        if (w->live[i]) {
            if (n_live > 0 && w->t_stage[i] != w->t_stage[w->order[0]])
                same_time = 0;
            w->order[n_live++] = i;
        }
    if (n_live == 0)
        return SLV_OK;
    const int by_rows = s->rhs_rows != NULL;
    if (!by_rows && !same_time)
        sort_by_stage_time(w->order, w->order_tmp, n_live, w->t_stage);
    for (size_t a = 0; a < n_live;) {
        size_t b = a + 1;
        if (by_rows)
            b = n_live; /* one call for every live row, each at its own time */
        else
            while (b < n_live && w->t_stage[w->order[b]] == w->t_stage[w->order[a]])
                b++;
        int ret = call_group(w, s, w->order + a, b - a, len, in, out);
        if (ret < 0)
            return s->err.status;
        if (ret > 0)
            for (size_t g = a; g < b; g++)
                w->live[w->order[g]] = 0;
        a = b;
    }
    return SLV_OK;
}

/* ---- Driver ---------------------------------------------------------------------------------- */

/* Path a unit's failure is reported on: the state (INDEPENDENT), or the only state of a JOINT
 * solver of one state, else none. */
static long unit_path(const slv_ode_solver *s, int joint, size_t unit)
{
    return !joint ? (long)unit : (s->n == 1 ? 0 : -1);
}

/* "path 3: " or "" for messages. */
static const char *unit_label(char *buf, size_t size, int joint, size_t unit)
{
    if (joint)
        buf[0] = '\0';
    else
        snprintf(buf, size, "path %zu: ", unit);
    return buf;
}

/* Writes unit u's outputs at every t_out[k] in (t_old, t_new] from the step just accepted at
 * position i, before y and f are overwritten. */
static void write_dense(rk45_work *w, size_t u, size_t i, size_t len, size_t batch_len,
                        double direction, size_t n_out, const double *t_out, const double *y_old,
                        const double *const k[N_STAGES], double *y_out)
{
    const double t_old = w->t[u], t_new = w->t_new[i], h = w->h[i];
    const double *y_new = w->y_new + i * len;
    size_t k_out = w->out_next[u];
    for (; k_out < n_out && direction * (t_out[k_out] - t_new) <= 0.0; k_out++) {
        double *dst = y_out + k_out * batch_len + u * len;
        if (t_out[k_out] == t_new)
            memcpy(dst, y_new, len * sizeof *dst);
        else
            dense_value(len, (t_out[k_out] - t_old) / h, h, y_old, k, dst);
    }
    w->out_next[u] = k_out;
}

/* Integrates from t0 to t1, with the dense output s->call asks for. */
static int rk45_apply(void *work, slv_ode_solver *s, double t0, double t1, double *y)
{
    rk45_work *w = work;
    double *const y_out = s->call.y_out;
    const size_t n_out = y_out != NULL ? s->call.n_out : 1;
    const double *const t_out = y_out != NULL ? s->call.t_out : &t1;
    const int joint = s->mode == SLV_BATCH_JOINT;
    const size_t batch_len = w->n * w->d;
    const size_t n_units = joint ? 1 : w->n, len = joint ? batch_len : w->d;
    const double direction = t1 > t0 ? 1.0 : -1.0;
    const double interval = fabs(t1 - t0), rtol = s->rtol, atol = s->atol;
    const double fixed = s->fixed_step;
    char label[32];
    int status = SLV_OK;

    /* Outputs at t0 are the initial states. */
    size_t k0 = 0;
    while (y_out != NULL && k0 < n_out && t_out[k0] == t0) {
        memcpy(y_out + k0 * batch_len, y, batch_len * sizeof *y);
        k0++;
    }
    for (size_t u = 0; u < n_units; u++) {
        w->t[u] = t0;
        w->n_steps[u] = w->n_rejected[u] = 0;
        w->rejected[u] = 0;
        w->retries[u] = 0;
        w->out_next[u] = k0;
        w->active[u] = u; /* position = unit until the first state finishes */
        w->live[u] = 1;
        w->t_stage[u] = t0;
    }
    size_t m = n_units;

    /* f at t0 for every state (by unit = by position here). */
    status = eval_stage(w, s, joint, m, len, y, w->f);
    if (status != SLV_OK)
        goto done;
    for (size_t u = 0; u < n_units; u++)
        if (!w->live[u]) {
            status = slv_error_set(&s->err, SLV_ECALLBACK, t0, unit_path(s, joint, u),
                                   "%s: %srhs returned > 0 (recoverable) at t0 = %.17g, where "
                                   "there is no step to shrink", s->method->name,
                                   unit_label(label, sizeof label, joint, u), t0);
            goto done;
        }

    /* Initial step (select_initial_step), one probe call for every state. */
    if (fixed > 0.0) {
        for (size_t u = 0; u < n_units; u++)
            w->h_abs[u] = fixed;
    } else {
        double *f1 = w->k[1];
        for (size_t u = 0; u < n_units; u++) {
            const double *y0 = y + u * len, *f0 = w->f + u * len;
            const double d0 = initial_norm(len, y0, NULL, y0, rtol, atol);
            const double d1 = initial_norm(len, f0, NULL, y0, rtol, atol);
            double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
            h0 = fmin(h0, interval);
            w->h_abs[u] = h0; /* kept until the probe's result is known */
            for (size_t c = 0; c < len; c++)
                w->y_stage[u * len + c] = y0[c] + h0 * direction * f0[c];
            w->t_stage[u] = t0 + h0 * direction;
        }
        status = eval_stage(w, s, joint, m, len, w->y_stage, f1);
        if (status != SLV_OK)
            goto done;
        for (size_t u = 0; u < n_units; u++) {
            const double h0 = w->h_abs[u];
            if (!w->live[u]) { /* probe failed recoverably: start from a quarter of it */
                w->h_abs[u] = RECOVER_FACTOR * h0;
                w->live[u] = 1;
                continue;
            }
            const double *y0 = y + u * len, *f0 = w->f + u * len;
            const double d1 = initial_norm(len, f0, NULL, y0, rtol, atol);
            const double d2 = initial_norm(len, f1 + u * len, f0, y0, rtol, atol) / h0;
            const double h1 = d1 <= 1e-15 && d2 <= 1e-15 ? fmax(1e-6, h0 * 1e-3)
                                                        : pow(0.01 / fmax(d1, d2), 1.0 / 5.0);
            w->h_abs[u] = fmin(fmin(100.0 * h0, h1), interval);
        }
    }

    while (m > 0) {
        if (s->interrupt != NULL && *s->interrupt) {
            const size_t u = w->active[0];
            const long path = m == 1 ? unit_path(s, joint, u) : -1;
            status = slv_error_set(&s->err, SLV_EINTERRUPTED, w->t[u], path,
                                   "%s: interrupted at t = %.17g between steps (%zu state%s "
                                   "running)", s->method->name, w->t[u], m, m == 1 ? "" : "s");
            goto done;
        }
        /* Set up each running state's attempt. */
        for (size_t i = 0; i < m; i++) {
            const size_t u = w->active[i];
            const double t = w->t[u];
            double h_abs = w->h_abs[u];
            if (fixed > 0.0) {
                h_abs = fixed;
            } else {
                const double min_step = 10.0 * fabs(nextafter(t, direction * INFINITY) - t);
                if (!w->rejected[u] && h_abs < min_step)
                    h_abs = min_step;
                if (h_abs < min_step) {
                    status = slv_error_set(&s->err, SLV_ESTEPSIZE, t, unit_path(s, joint, u),
                                           "%s: %sstep size %.3g at t = %.17g fell below 10 ulp "
                                           "of t (%.3g) after %zu rejected steps", s->method->name,
                                           unit_label(label, sizeof label, joint, u), h_abs, t,
                                           min_step, w->n_rejected[u]);
                    goto done;
                }
            }
            if (!w->rejected[u] && w->n_steps[u] >= s->max_steps) {
                status = slv_error_set(&s->err, SLV_EMAXSTEPS, t, unit_path(s, joint, u),
                                       "%s: %smax_steps = %zu steps taken, reached t = %.17g of "
                                       "[%g, %g]", s->method->name,
                                       unit_label(label, sizeof label, joint, u), s->max_steps, t,
                                       t0, t1);
                goto done;
            }
            double t_new;
            if (fixed > 0.0) {
                /* The grid t0 + k·h, not a running sum of h (whose drift could leave a last step
                 * of a few ulp); an end within 64 ulp of t1 is t1. */
                t_new = t0 + direction * fixed * (double)(w->n_steps[u] + 1);
                if (direction * (t_new - t1) > 0.0 ||
                    fabs(t1 - t_new) <= 64.0 * DBL_EPSILON * fmax(fabs(t0), fabs(t1)))
                    t_new = t1;
            } else {
                t_new = t + h_abs * direction;
                if (direction * (t_new - t1) > 0.0)
                    t_new = t1;
            }
            w->t_new[i] = t_new;
            w->h[i] = t_new - t;
            w->live[i] = 1;
        }

        /* Stages 2..7; stage 7 is f at the 5th-order result (FSAL). */
        for (int st = 1; st < N_STAGES; st++) {
            double *in = st == N_STAGES - 1 ? w->y_new : w->y_stage;
            size_t n_live = 0;
            for (size_t i = 0; i < m; i++) {
                if (!w->live[i])
                    continue;
                const size_t u = w->active[i];
                const double *k[N_STAGES] = {w->f + u * len};
                for (int j = 1; j < st; j++)
                    k[j] = w->k[j] + i * len;
                stage_input(len, st, w->h[i], y + u * len, k, in + i * len);
                w->t_stage[i] = rk_c[st] == 1.0 ? w->t_new[i] : w->t[u] + rk_c[st] * w->h[i];
                n_live++;
            }
            if (n_live == 0)
                break;
            status = eval_stage(w, s, joint, m, len, in, w->k[st]);
            if (status != SLV_OK)
                goto done;
        }

        /* Accept or reject each attempt; keep the states still running, in order. */
        size_t m_next = 0;
        for (size_t i = 0; i < m; i++) {
            const size_t u = w->active[i];
            double *y_u = y + u * len;
            const double h_abs = fabs(w->h[i]);
            if (!w->live[i]) { /* an rhs call of this attempt returned > 0 */
                w->n_rejected[u]++;
                if (fixed > 0.0 || ++w->retries[u] > MAX_RHS_RETRIES) {
                    status = slv_error_set(
                        &s->err, SLV_ECALLBACK, s->call.t_recoverable, unit_path(s, joint, u),
                        "%s: %srhs returned > 0 (recoverable) at t = %.17g and %s (from the "
                        "accepted state at t = %.17g)", s->method->name,
                        unit_label(label, sizeof label, joint, u), s->call.t_recoverable,
                        fixed > 0.0 ? "a fixed step cannot shrink"
                                    : "10 smaller steps in a row did not get past it",
                        w->t[u]);
                    goto done;
                }
                w->h_abs[u] = RECOVER_FACTOR * h_abs;
                w->rejected[u] = 1;
                w->active[m_next++] = u;
                continue;
            }
            const double *k[N_STAGES] = {w->f + u * len};
            for (int j = 1; j < N_STAGES; j++)
                k[j] = w->k[j] + i * len;
            const double *y_new = w->y_new + i * len;
            if (fixed == 0.0) {
                const double norm = error_norm(len, w->h[i], y_u, y_new, k, rtol, atol);
                if (!(norm < 1.0)) {
                    w->h_abs[u] = h_abs * fmax(MIN_FACTOR, SAFETY * pow(norm, ERROR_EXPONENT));
                    w->rejected[u] = 1;
                    w->n_rejected[u]++;
                    w->active[m_next++] = u;
                    continue;
                }
                double factor = norm == 0.0
                                    ? MAX_FACTOR
                                    : fmin(MAX_FACTOR, SAFETY * pow(norm, ERROR_EXPONENT));
                if (w->rejected[u])
                    factor = fmin(1.0, factor);
                w->h_abs[u] = h_abs * factor;
            }
            if (y_out != NULL)
                write_dense(w, u, i, len, batch_len, direction, n_out, t_out, y_u, k, y_out);
            memcpy(y_u, y_new, len * sizeof *y_u);
            memcpy(w->f + u * len, w->k[N_STAGES - 1] + i * len, len * sizeof *y_u);
            w->t[u] = w->t_new[i];
            w->n_steps[u]++;
            w->rejected[u] = 0;
            w->retries[u] = 0;
            if (w->t[u] != t1)
                w->active[m_next++] = u;
        }
        m = m_next;
    }

done:
    for (size_t u = 0; u < n_units; u++) {
        s->call.n_steps += w->n_steps[u];
        s->call.n_rejected += w->n_rejected[u];
    }
    return status;
}

const struct slv_ode_backend slv_ode_backend_rk45 = {rk45_alloc, rk45_apply, rk45_free, 1};
