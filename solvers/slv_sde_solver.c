/* slv_sde_solver.c — the SDE drivers (slv_sde.h): fixed steps on a dyadic Brownian tree, and
 * adaptive dyadic steps with per-path error control on the tree of the whole span.
 *
 * Positions in the adaptive driver are integers in units of span/2^40 (SLV_BROWNIAN_MAX_LEVEL),
 * so "the time is a multiple of 2h" and "this step is tree node (k, i)" are exact integer tests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde_impl.h"

#define ADAPTIVE_SAFETY 0.9
#define ADAPTIVE_DEFAULT_LEVEL 4
#define POS_BITS SLV_BROWNIAN_MAX_LEVEL

struct slv_sde_solver {
    const slv_sde_step_type *type;
    const slv_sde *sys;
    size_t n;

    uint64_t seed;
    size_t first_path;
    int threads;
    slv_sde_observer_fn observer;
    void *observer_data;
    size_t observe_every;
    double rtol, atol;
    double initial_step; /* 0: automatic */
    size_t max_steps;
    volatile int *interrupt;

    /* Workspace, sized for the whole batch at alloc. */
    double *work;   /* type->work_size(sys, n) */
    double *dW, *H; /* (n, m) */
    double *x_sub;  /* (n, d) adaptive: states of the paths stepped together */
    double *x_old;  /* (n, d) */
    double *e_sub;  /* (n, d) error estimates */
    uint64_t *pos;  /* (n) adaptive: position in units of span/2^40 */
    unsigned *level; /* (n) adaptive: step is span/2^level */
    size_t *n_accepted; /* (n) */
    size_t *group;  /* (n) batch indices of the paths stepped together */
    size_t *pending; /* (n) paths at the earliest position */
    size_t *heap;   /* (n) scheduler */

    size_t n_drift, n_diffusion, n_steps, n_rejected;
    slv_error err;
};

slv_sde_solver *slv_sde_solver_alloc(const slv_sde_step_type *type, const slv_sde *sys,
                                     size_t n_paths)
{
    if (type == NULL || sys == NULL || n_paths == 0)
        return NULL;
    slv_sde_solver *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->type = type;
    s->sys = sys;
    s->n = n_paths;
    s->rtol = 1e-3;
    s->atol = 1e-3;
    s->max_steps = 100000;
    slv_error_clear(&s->err);
    size_t d = sys->dim, m = sys->noise_dim;
    size_t work_len = type->work_size(sys, n_paths);
    s->work = malloc((work_len > 0 ? work_len : 1) * sizeof(double));
    s->dW = malloc((n_paths * m + 1) * sizeof(double));
    s->H = malloc((n_paths * m + 1) * sizeof(double));
    s->x_sub = malloc((n_paths * d + 1) * sizeof(double));
    s->x_old = malloc((n_paths * d + 1) * sizeof(double));
    s->e_sub = malloc((n_paths * d + 1) * sizeof(double));
    s->pos = malloc(n_paths * sizeof *s->pos);
    s->level = malloc(n_paths * sizeof *s->level);
    s->n_accepted = malloc(n_paths * sizeof *s->n_accepted);
    s->group = malloc(n_paths * sizeof *s->group);
    s->pending = malloc(n_paths * sizeof *s->pending);
    s->heap = malloc(n_paths * sizeof *s->heap);
    if (s->work == NULL || s->dW == NULL || s->H == NULL || s->x_sub == NULL ||
        s->x_old == NULL || s->e_sub == NULL || s->pos == NULL || s->level == NULL ||
        s->n_accepted == NULL || s->group == NULL || s->pending == NULL || s->heap == NULL)
        goto fail;
    return s;
fail:
    slv_sde_solver_free(s);
    return NULL;
}

void slv_sde_solver_free(slv_sde_solver *s)
{
    if (s == NULL)
        return;
    free(s->work);
    free(s->dW);
    free(s->H);
    free(s->x_sub);
    free(s->x_old);
    free(s->e_sub);
    free(s->pos);
    free(s->level);
    free(s->n_accepted);
    free(s->group);
    free(s->pending);
    free(s->heap);
    free(s);
}

int slv_sde_solver_set_seed(slv_sde_solver *s, uint64_t seed, size_t first_path)
{
    s->seed = seed;
    s->first_path = first_path;
    return SLV_OK;
}

int slv_sde_solver_set_threads(slv_sde_solver *s, int threads)
{
    if (threads < 0)
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "slv_sde_solver_set_threads: threads = %d, expected >= 0", threads);
    s->threads = threads;
    return SLV_OK;
}

int slv_sde_solver_set_observer(slv_sde_solver *s, slv_sde_observer_fn fn, void *data, size_t every)
{
    s->observer = fn;
    s->observer_data = data;
    s->observe_every = every;
    return SLV_OK;
}

int slv_sde_solver_set_tolerances(slv_sde_solver *s, double rtol, double atol)
{
    if (!(rtol > 0.0) || !(atol > 0.0) || !isfinite(rtol) || !isfinite(atol))
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "slv_sde_solver_set_tolerances: rtol = %g, atol = %g, expected "
                             "finite and > 0",
                             rtol, atol);
    s->rtol = rtol;
    s->atol = atol;
    return SLV_OK;
}

int slv_sde_solver_set_initial_step(slv_sde_solver *s, double h0)
{
    if (!isfinite(h0))
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "slv_sde_solver_set_initial_step: h0 = %g, expected finite", h0);
    s->initial_step = fabs(h0);
    return SLV_OK;
}

int slv_sde_solver_set_max_steps(slv_sde_solver *s, size_t max_steps)
{
    if (max_steps == 0)
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "slv_sde_solver_set_max_steps: max_steps = 0, expected >= 1");
    s->max_steps = max_steps;
    return SLV_OK;
}

void slv_sde_solver_set_interrupt(slv_sde_solver *s, volatile int *flag)
{
    s->interrupt = flag;
}

size_t slv_sde_solver_get_n_drift_evals(const slv_sde_solver *s) { return s->n_drift; }
size_t slv_sde_solver_get_n_diffusion_evals(const slv_sde_solver *s) { return s->n_diffusion; }
size_t slv_sde_solver_get_n_steps(const slv_sde_solver *s) { return s->n_steps; }
size_t slv_sde_solver_get_n_rejected(const slv_sde_solver *s) { return s->n_rejected; }
const slv_error *slv_sde_solver_get_error(const slv_sde_solver *s) { return &s->err; }

/* ---- Shared by both drivers ---------------------------------------------------------------- */

static int check_solve_args(slv_sde_solver *s, const char *fn, double t0, double t1,
                            const double *x)
{
    if (x == NULL)
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1, "%s: x is NULL", fn);
    if (!isfinite(t0) || !isfinite(t1) || t0 == t1)
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1,
                             "%s: t0 = %g, t1 = %g, expected finite and distinct", fn, t0, t1);
    int rc = slv_sde_check_method(s->type, s->sys, &s->err);
    if (rc != SLV_OK)
        return rc;
    long bad = slv_find_nonfinite(x, s->n * s->sys->dim);
    if (bad >= 0)
        return slv_error_set(&s->err, SLV_ENONFINITE, t0, (long)s->first_path + bad / (long)s->sys->dim,
                             "%s: initial state of path %ld, component %ld is %g", fn,
                             (long)s->first_path + bad / (long)s->sys->dim,
                             bad % (long)s->sys->dim, x[bad]);
    return SLV_OK;
}

static int interrupted(const slv_sde_solver *s)
{
    return s->interrupt != NULL && *s->interrupt != 0;
}

static int observe(slv_sde_solver *s, double t, const double *x)
{
    if (s->observer == NULL)
        return SLV_OK;
    if (s->observer(t, s->n, s->sys->dim, x, s->observer_data) != 0)
        return slv_error_set(&s->err, SLV_EINTERRUPTED, t, -1,
                             "%s: the observer asked to stop at t = %.15g", s->type->name, t);
    return SLV_OK;
}

/* Increments of paths group[0..count) (batch indices) over node (level, index) into
 * dW/H rows 0..count), spread over threads. */
static int gather_increments(slv_sde_solver *s, slv_brownian *bm, const size_t *group,
                             size_t count, unsigned level, uint64_t index)
{
    const size_t m = s->sys->noise_dim;
    const int want_h = s->type->needs_levy_area;
    int rc = slv_brownian_reserve(bm, level);
    if (rc != SLV_OK)
        return slv_error_set(&s->err, rc, 0.0, -1,
                             "%s: cannot allocate the Brownian tree's level %u for %zu paths",
                             s->type->name, level, s->n);
    const int nt = slv_sde_team(s->threads, count * m, SLV_OMP_GRAIN_INCREMENTS);
    int status = SLV_OK;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(min : status)
    for (size_t j = 0; j < count; j++) {
        size_t p = group != NULL ? group[j] : j;
        int r = slv_brownian_interval_path(bm, p, level, index, s->dW + j * m,
                                           want_h ? s->H + j * m : NULL);
        if (r < status)
            status = r;
    }
    if (status != SLV_OK)
        return slv_error_set(&s->err, status, 0.0, -1,
                             "%s: Brownian tree query (level %u, node %llu) failed",
                             s->type->name, level, (unsigned long long)index);
    return SLV_OK;
}

/* Maps a step failure's batch index (within a group) to the global path index. */
static int step_failed(slv_sde_solver *s, int rc, const slv_error *step_err, const size_t *group,
                       const char *state_note)
{
    s->err = *step_err;
    if (rc > 0)
        rc = SLV_ECALLBACK;
    s->err.status = rc;
    size_t len = strlen(s->err.message);
    if (s->err.path >= 0) {
        long row = s->err.path;
        size_t p = group != NULL ? group[row] : (size_t)row;
        s->err.path = (long)(s->first_path + p);
        if (len + 1 < sizeof s->err.message)
            snprintf(s->err.message + len, sizeof s->err.message - len, " (row %ld is path %ld)",
                     row, s->err.path);
        len = strlen(s->err.message);
    }
    if (len + 1 < sizeof s->err.message)
        snprintf(s->err.message + len, sizeof s->err.message - len, "; %s", state_note);
    return rc;
}

/* ---- Fixed step ---------------------------------------------------------------------------- */

int slv_sde_solver_solve_fixed(slv_sde_solver *s, double t0, double t1, size_t n_steps,
                               double *x, double *w_final)
{
    static const char *fn = "slv_sde_solver_solve_fixed";
    s->n_drift = s->n_diffusion = s->n_steps = s->n_rejected = 0;
    slv_error_clear(&s->err);
    int rc = check_solve_args(s, fn, t0, t1, x);
    if (rc != SLV_OK)
        return rc;
    unsigned level;
    double root = slv_brownian_root_length(fabs(t1 - t0), n_steps, &level);
    if (n_steps == 0 || !(root > 0.0) || !isfinite(root))
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1,
                             "%s: n_steps = %zu, expected 1 .. 2^%d", fn, n_steps,
                             SLV_BROWNIAN_MAX_LEVEL);
    slv_brownian *bm = slv_brownian_alloc(s->n, s->sys->noise_dim, root, s->seed, s->first_path);
    if (bm == NULL)
        return slv_error_set(&s->err, SLV_ENOMEM, t0, -1,
                             "%s: cannot allocate the Brownian tree for %zu paths", fn, s->n);
    const double h = (t1 - t0) / (double)n_steps;
    const size_t every = s->observe_every;
    double t = t0;
    if ((rc = observe(s, t0, x)) != SLV_OK)
        goto done;
    for (size_t k = 0; k < n_steps; k++) {
        if (interrupted(s)) {
            rc = slv_error_set(&s->err, SLV_EINTERRUPTED, t, -1,
                               "%s: interrupted at t = %.15g after %zu of %zu steps", fn, t, k,
                               n_steps);
            goto done;
        }
        t = t0 + (double)k * h;
        if ((rc = gather_increments(s, bm, NULL, s->n, level, k)) != SLV_OK)
            goto done;
        slv_error step_err;
        slv_error_clear(&step_err);
        rc = s->type->apply(s->sys, t, h, s->n, x, s->dW, s->H, NULL, s->work,
                                    &s->n_drift, &s->n_diffusion, &step_err, s->threads);
        if (rc != SLV_OK) {
            char note[96];
            snprintf(note, sizeof note, "x holds the state at t = %.15g (after %zu steps)", t, k);
            rc = step_failed(s, rc, &step_err, NULL, note);
            goto done;
        }
        s->n_steps++;
        t = k + 1 == n_steps ? t1 : t0 + (double)(k + 1) * h;
        if (every > 0 && (k + 1) % every == 0 && k + 1 < n_steps)
            if ((rc = observe(s, t, x)) != SLV_OK)
                goto done;
    }
    if ((rc = observe(s, t1, x)) != SLV_OK)
        goto done;
    if (w_final != NULL) {
        /* W over [0, N·h): the nodes of N's binary digits, largest first — the same nodes and
         * order for N and 2N. */
        const size_t m = s->sys->noise_dim;
        memset(w_final, 0, s->n * m * sizeof(double));
        uint64_t start = 0;
        for (int bit = 63; bit >= 0; bit--) {
            if (!(((uint64_t)n_steps >> bit) & 1))
                continue;
            unsigned node_level = level - (unsigned)bit;
            if ((rc = gather_increments(s, bm, NULL, s->n, node_level, start >> bit)) != SLV_OK)
                goto done;
            for (size_t e = 0; e < s->n * m; e++)
                w_final[e] += s->dW[e];
            start += UINT64_C(1) << bit;
        }
    }
    rc = SLV_OK;
done:
    slv_brownian_free(bm);
    return rc;
}

/* ---- Adaptive ------------------------------------------------------------------------------ */

/* sqrt(mean_i (e_i / (atol + rtol·max(|x_old_i|, |x_new_i|)))²) */
static double error_norm(const double *e, const double *x_old, const double *x_new, size_t d,
                         double rtol, double atol)
{
    double sum = 0.0;
    for (size_t i = 0; i < d; i++) {
        double scale = atol + rtol * fmax(fabs(x_old[i]), fabs(x_new[i]));
        double r = e[i] / scale;
        sum += r * r;
    }
    return sqrt(sum / (double)d);
}

/* Min-heap of batch indices ordered by (pos, index): the scheduler of the adaptive driver. */
static int heap_less(const uint64_t *pos, size_t a, size_t b)
{
    return pos[a] < pos[b] || (pos[a] == pos[b] && a < b);
}

static void heap_push(size_t *heap, size_t *len, const uint64_t *pos, size_t p)
{
    size_t i = (*len)++;
    heap[i] = p;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(pos, heap[i], heap[parent]))
            break;
        size_t tmp = heap[i];
        heap[i] = heap[parent];
        heap[parent] = tmp;
        i = parent;
    }
}

static size_t heap_pop(size_t *heap, size_t *len, const uint64_t *pos)
{
    size_t top = heap[0];
    heap[0] = heap[--(*len)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < *len && heap_less(pos, heap[l], heap[best]))
            best = l;
        if (r < *len && heap_less(pos, heap[r], heap[best]))
            best = r;
        if (best == i)
            break;
        size_t tmp = heap[i];
        heap[i] = heap[best];
        heap[best] = tmp;
        i = best;
    }
    return top;
}

int slv_sde_solver_solve_adaptive(slv_sde_solver *s, double t0, double t1, double *x,
                                  double *w_final)
{
    static const char *fn = "slv_sde_solver_solve_adaptive";
    s->n_drift = s->n_diffusion = s->n_steps = s->n_rejected = 0;
    slv_error_clear(&s->err);
    int rc = check_solve_args(s, fn, t0, t1, x);
    if (rc != SLV_OK)
        return rc;
    if (!s->type->has_error_estimate)
        return slv_error_set(&s->err, SLV_EUNSUPPORTED, t0, -1,
                             "%s: method %s has no embedded error estimate; use a fixed step",
                             fn, s->type->name);
    const double span = fabs(t1 - t0);
    slv_brownian *bm = slv_brownian_alloc(s->n, s->sys->noise_dim, span, s->seed, s->first_path);
    if (bm == NULL)
        return slv_error_set(&s->err, SLV_ENOMEM, t0, -1,
                             "%s: cannot allocate the Brownian tree for %zu paths", fn, s->n);

    const size_t n = s->n, d = s->sys->dim, m = s->sys->noise_dim;
    const uint64_t full = UINT64_C(1) << POS_BITS;
    /* Output level q: observer every span/2^q, steps never longer. */
    unsigned q = 0;
    while (q < POS_BITS && (UINT64_C(1) << q) < s->observe_every)
        q++;
    const uint64_t out_stride = UINT64_C(1) << (POS_BITS - q);
    unsigned k0 = ADAPTIVE_DEFAULT_LEVEL;
    if (s->initial_step > 0.0) {
        k0 = 0;
        while (k0 < POS_BITS && ldexp(span, -(int)k0) > s->initial_step)
            k0++;
    }
    if (k0 < q)
        k0 = q;
    const double exponent = 1.0 / (s->type->strong_order + 0.5);
    size_t *heap = s->heap, heap_len = 0;
    for (size_t p = 0; p < n; p++) {
        s->pos[p] = 0;
        s->level[p] = k0;
        s->n_accepted[p] = 0;
        heap_push(heap, &heap_len, s->pos, p);
    }
    if ((rc = observe(s, t0, x)) != SLV_OK)
        goto done;

    uint64_t target = out_stride;
    while (heap_len > 0) {
        if (interrupted(s)) { /* report the time every path has reached */
            const double reached = t0 + (t1 - t0) * ldexp((double)s->pos[heap[0]], -POS_BITS);
            rc = slv_error_set(&s->err, SLV_EINTERRUPTED, reached, -1,
                               "%s: interrupted with every path at t >= %.17g", fn, reached);
            goto done;
        }
        const uint64_t pos_min = s->pos[heap[0]];
        if (pos_min >= target) {
            /* Every path has reached the output time. */
            double t_out = target == full ? t1 : t0 + (t1 - t0) * ldexp((double)target, -POS_BITS);
            if ((rc = observe(s, t_out, x)) != SLV_OK)
                goto done;
            target += out_stride;
            continue;
        }
        /* The earliest paths step next: `pending` holds them (batch indices, ascending). */
        size_t *pending = s->pending, n_pending = 0;
        while (heap_len > 0 && s->pos[heap[0]] == pos_min)
            pending[n_pending++] = heap_pop(heap, &heap_len, s->pos);
        const double t = t0 + (t1 - t0) * ldexp((double)pos_min, -POS_BITS);
        /* One batched step per step level, shortest steps last: a rejected path moves to the
         * next level and is retried in the same sweep, with the paths already there. */
        for (unsigned k = 0; k <= POS_BITS && n_pending > 0; k++) {
            size_t count = 0;
            for (size_t j = 0; j < n_pending; j++)
                if (s->level[pending[j]] == k)
                    s->group[count++] = pending[j];
            if (count == 0)
                continue;
            const uint64_t index = pos_min >> (POS_BITS - k);
            const double h = ldexp(t1 - t0, -(int)k);
            if ((rc = gather_increments(s, bm, s->group, count, k, index)) != SLV_OK)
                goto done;
            for (size_t j = 0; j < count; j++)
                memcpy(s->x_sub + j * d, x + s->group[j] * d, d * sizeof(double));
            memcpy(s->x_old, s->x_sub, count * d * sizeof(double));
            slv_error step_err;
            slv_error_clear(&step_err);
            int step_rc = s->type->apply(s->sys, t, h, count, s->x_sub, s->dW, s->H,
                                                 s->e_sub, s->work, &s->n_drift,
                                                 &s->n_diffusion, &step_err, s->threads);
            if (step_rc < 0) {
                rc = step_failed(s, step_rc, &step_err, s->group,
                                 "each row of x holds that path's last accepted state");
                goto done;
            }
            for (size_t j = 0; j < count; j++) {
                size_t p = s->group[j];
                double E = step_rc > 0 ? INFINITY
                                       : error_norm(s->e_sub + j * d, s->x_old + j * d,
                                                    s->x_sub + j * d, d, s->rtol, s->atol);
                if (E <= 1.0) {
                    memcpy(x + p * d, s->x_sub + j * d, d * sizeof(double));
                    s->pos[p] += full >> k;
                    s->n_steps++;
                    if (++s->n_accepted[p] > s->max_steps && s->pos[p] < full) {
                        double t_now = t0 + (t1 - t0) * ldexp((double)s->pos[p], -POS_BITS);
                        rc = slv_error_set(&s->err, SLV_EMAXSTEPS, t_now,
                                           (long)(s->first_path + p),
                                           "%s: path %zu took %zu steps and is at t = %.15g, "
                                           "short of t1 = %.15g (max_steps = %zu)",
                                           fn, s->first_path + p, s->n_accepted[p], t_now, t1,
                                           s->max_steps);
                        goto done;
                    }
                    double grow = E > 0.0 ? ADAPTIVE_SAFETY * pow(E, -exponent) : INFINITY;
                    if (grow >= 2.0 && k > q && s->pos[p] % (full >> (k - 1)) == 0)
                        s->level[p] = k - 1;
                    if (s->pos[p] < full)
                        heap_push(heap, &heap_len, s->pos, p);
                } else {
                    s->n_rejected++;
                    if (k + 1 > POS_BITS) {
                        rc = slv_error_set(&s->err, SLV_ESTEPSIZE, t, (long)(s->first_path + p),
                                           "%s: path %zu needs a step below |t1 - t0|/2^%d = %g "
                                           "at t = %.15g (error norm %g with h = %g)",
                                           fn, s->first_path + p, POS_BITS,
                                           ldexp(span, -POS_BITS), t, E, h);
                        goto done;
                    }
                    s->level[p] = k + 1;
                }
            }
            /* Drop the accepted paths from `pending`. */
            size_t kept = 0;
            for (size_t j = 0; j < n_pending; j++)
                if (s->pos[pending[j]] == pos_min)
                    pending[kept++] = pending[j];
            n_pending = kept;
        }
    }
    /* All paths are at t1; the observer's last call is due unless it was made above. */
    while (target <= full) {
        double t_out = target == full ? t1 : t0 + (t1 - t0) * ldexp((double)target, -POS_BITS);
        if ((rc = observe(s, t_out, x)) != SLV_OK)
            goto done;
        target += out_stride;
    }
    if (w_final != NULL) {
        if ((rc = gather_increments(s, bm, NULL, n, 0, 0)) != SLV_OK)
            goto done;
        memcpy(w_final, s->dW, n * m * sizeof(double));
    }
    rc = SLV_OK;
done:
    slv_brownian_free(bm);
    return rc;
}
