/* compare_report.c — what `scoresde compare` shows: the summary of the repeats, the table on
 * stdout, PREFIX.csv, PREFIX.md and the plots (picture.h's error-bar charts). */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "io.h"
#include "picture.h"

/* The summary of one measure over the runs: field_offset locates its metric_value (is_metric) or
 * its double in compare_run. */
static metric_value summarise(const compare_run *runs, size_t repeats, size_t field_offset, int is_metric,
                              int is_distance)
{
    metric_value out = {0, NAN, NAN, NAN};
    for (size_t k = 0; k < repeats; k++) {
        const char *at = (const char *)&runs[k] + field_offset;
        metric_value v;
        if (is_metric)
            memcpy(&v, at, sizeof v);
        else {
            memcpy(&v.value, at, sizeof v.value);
            v.se = NAN, v.lo = v.hi = v.value;
        }
        if (repeats == 1)
            return v;
        out.value += v.value / (double)repeats; /* NaN in any run: NaN */
    }
    /* Each run has its own standard error (from its n samples): the mean of R independent runs
     * has se = √(Σ se_k²)/R, better determined than the spread of a few runs. Without them (time,
     * mode weights, energy) the spread over the runs: se = sd/√R, interval ± t(0.975, R − 1) se. */
    double ss = 0, pooled = 0;
    for (size_t k = 0; k < repeats; k++) {
        const char *at = (const char *)&runs[k] + field_offset;
        metric_value v = {0, NAN, NAN, NAN};
        memcpy(&v, at, is_metric ? sizeof v : sizeof v.value);
        ss += (v.value - out.value) * (v.value - out.value);
        pooled += v.se * v.se;
    }
    double half;
    if (is_metric && isfinite(pooled)) {
        out.se = sqrt(pooled) / (double)repeats;
        half = 1.96 * out.se;
    } else {
        out.se = sqrt(ss / (double)(repeats - 1) / (double)repeats);
        half = gsl_cdf_tdist_Pinv(0.975, (double)(repeats - 1)) * out.se;
    }
    out.lo = is_distance ? fmax(out.value - half, 0.0) : out.value - half;
    out.hi = out.value + half;
    return out;
}

void compare_row_summarise(compare_row *row, size_t repeats)
{
#define SUMMARY(field, metric, distance) \
    row->field = summarise(row->runs, repeats, offsetof(compare_run, field), metric, distance)
    SUMMARY(nfe, 0, 1);
    SUMMARY(seconds, 0, 1);
    SUMMARY(energy, 0, 0);
    SUMMARY(mode_error, 0, 1);
    SUMMARY(flow_max, 0, 1);
    SUMMARY(sw2, 1, 1);
    SUMMARY(xent, 1, 0);
    SUMMARY(flow_rms, 1, 1);
    SUMMARY(frechet, 1, 1);
#undef SUMMARY
}

void compare_file_name(const char *label, char *out, size_t size)
{
    size_t k = 0;
    for (; label[k] && k + 1 < size; k++) {
        char ch = label[k];
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                   ch == '-' || ch == '+';
        out[k] = keep ? ch : '_';
    }
    if (size)
        out[k] = '\0';
}

/* ---- Text ------------------------------------------------------------------------------------ */

/* Which measures any row has (columns of the Markdown table and of stdout). */
typedef struct measured {
    int sw2, xent, flow, frechet, energy, modes;
} measured;

static measured what_was_measured(const compare_report *r)
{
    measured w = {0};
    for (size_t i = 0; i < r->n_rows; i++) {
        const compare_row *row = &r->rows[i];
        w.sw2 |= isfinite(row->sw2.value);
        w.xent |= isfinite(row->xent.value);
        w.flow |= isfinite(row->flow_rms.value);
        w.frechet |= isfinite(row->frechet.value);
        w.energy |= isfinite(row->energy.value);
        w.modes |= isfinite(row->mode_error.value);
    }
    return w;
}

/* "0.0123 [0.0101, 0.0145]", "0.0123 ± 0.0011", or "-" when not measured. */
static const char *interval_text(metric_value v, char *buf, size_t size)
{
    if (!isfinite(v.value))
        snprintf(buf, size, "-");
    else if (isfinite(v.lo) && isfinite(v.hi) && v.lo != v.hi)
        snprintf(buf, size, "%.4g [%.4g, %.4g]", v.value, v.lo, v.hi);
    else
        snprintf(buf, size, "%.4g", v.value);
    return buf;
}

static const char *se_text(metric_value v, char *buf, size_t size)
{
    if (!isfinite(v.value))
        snprintf(buf, size, "-");
    else if (isfinite(v.se))
        snprintf(buf, size, "%.4g ± %.2g", v.value, v.se);
    else
        snprintf(buf, size, "%.4g", v.value);
    return buf;
}

static void print_table(FILE *fp, const compare_report *r, const measured *w, int markdown)
{
    char a[96];
    const char *sep = markdown ? " | " : "  ";
    if (markdown)
        fprintf(fp, "| sampler | NFE | wall time (s)");
    else
        fprintf(fp, "%-30s%s%8s%s%9s", "sampler", sep, "NFE", sep, "seconds");
#define HEAD(on, md, text, width) \
    if (on)                        \
        markdown ? fprintf(fp, " | %s", md) : fprintf(fp, "%s%*s", sep, width, text)
    HEAD(w->sw2, "SW2 (95% interval)", "SW2 [95% interval]", 30);
    HEAD(w->xent, "cross-entropy gap ± SE", "xent gap ± SE", 20);
    HEAD(w->flow, "flow error RMS ± SE", "flow RMS ± SE", 20);
    HEAD(w->flow, "flow error max", "flow max", 10);
    HEAD(w->frechet, "Fréchet distance ± SE", "Frechet ± SE", 18);
    HEAD(w->modes, "max mode-weight error", "mode-wt err", 12);
    HEAD(w->energy, "energy distance", "energy dist", 12);
#undef HEAD
    if (markdown) {
        fprintf(fp, " |\n|---|---:|---:");
        int cols = w->sw2 + w->xent + 2 * w->flow + w->frechet + w->modes + w->energy;
        for (int k = 0; k < cols; k++)
            fprintf(fp, "|---:");
        fprintf(fp, "|");
    }
    fprintf(fp, "\n");
    for (size_t i = 0; i < r->n_rows; i++) {
        const compare_row *row = &r->rows[i];
        if (markdown)
            fprintf(fp, "| %s | %.1f | %.3f", row->spec.label, row->nfe.value, row->seconds.value);
        else
            fprintf(fp, "%-30s%s%8.1f%s%9.3f", row->spec.label, sep, row->nfe.value, sep, row->seconds.value);
#define CELL(on, text, width) \
    if (on)                    \
        markdown ? fprintf(fp, " | %s", text) : fprintf(fp, "%s%*s", sep, width, text)
        CELL(w->sw2, interval_text(row->sw2, a, sizeof a), 30);
        CELL(w->xent, se_text(row->xent, a, sizeof a), 20);
        CELL(w->flow, se_text(row->flow_rms, a, sizeof a), 20);
        CELL(w->flow, se_text((metric_value){row->flow_max.value, NAN, NAN, NAN}, a, sizeof a), 10);
        CELL(w->frechet, se_text(row->frechet, a, sizeof a), 18);
        CELL(w->modes, se_text(row->mode_error, a, sizeof a), 12);
        CELL(w->energy, se_text(row->energy, a, sizeof a), 12);
#undef CELL
        fprintf(fp, markdown ? " |\n" : "\n");
    }
}

/* The notes under the table: references, floors, intervals and what is missing. */
static void print_notes(FILE *fp, const compare_report *r, const measured *w, const char *bullet)
{
    char a[96];
    if (r->sw2_reference)
        fprintf(fp, "%sSW2: sliced Wasserstein-2 distance to %s. Floor: sets of %zu exact samples score %s "
                    "(mean, dashed line in the plots, and the middle 95%% of 40 sets): a sampler whose SW2 "
                    "lies in that range cannot be told from exact at this sample size.\n",
                bullet, r->sw2_reference, r->num, interval_text(r->sw2_floor, a, sizeof a));
    if (w->xent)
        fprintf(fp, "%sCross-entropy gap: E_q[-log p] - H(p) with the exact density p of the mixture, H(p) = "
                    "%.5f ± %.1g (200000 exact samples); 0 for exact samples, negative when q is more "
                    "concentrated than p.\n",
                bullet, r->entropy, r->entropy_se);
    if (r->flow_reference && w->flow)
        fprintf(fp, "%sFlow error: Euclidean distance of each sample to %s, with the sampler's own last step "
                    "(none, the denoising step, or the step to sigma = 0); RMS ± SE and the largest over the "
                    "samples.\n",
                bullet, r->flow_reference);
    if (w->frechet)
        fprintf(fp, "%sFréchet distance of the shipped classifier's features to the test set (bootstrap SE). "
                    "Floor: %zu training images score %s.\n",
                bullet, r->num, se_text(r->frechet_floor, a, sizeof a));
    if (isfinite(r->energy_floor))
        fprintf(fp, "%sEnergy distance: unbiased, so it can be negative; two exact sample sets give %.4g "
                    "(its noise).\n",
                bullet, r->energy_floor);
    if (r->repeats > 1)
        fprintf(fp, "%sMeans over %zu seeds (%llu .. %llu). SW2, the gap, the flow and Fréchet errors: SE = "
                    "√(Σ SE_k²)/R from each run's own, interval ± 1.96 SE; time, mode weights, energy: SE "
                    "over the seeds, interval ± t(0.975, %zu) SE.\n",
                bullet, r->repeats, (unsigned long long)r->seed, (unsigned long long)(r->seed + r->repeats - 1),
                r->repeats - 1);
    else
        fprintf(fp, "%sOne seed (%llu); SW2's and the Fréchet distance's errors are bootstrap SEs (200 and 30 "
                    "resamples), the others' standard errors over the samples; intervals ± 1.96 SE.\n",
                bullet, (unsigned long long)r->seed);
    /* missing values: not drawn */
    int any = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const compare_row *row = &r->rows[i];
        const char *what = w->sw2 && !isfinite(row->sw2.value)           ? "SW2"
                           : w->frechet && !isfinite(row->frechet.value) ? "Fréchet distance"
                           : w->xent && !isfinite(row->xent.value)       ? "cross-entropy gap"
                                                                         : NULL;
        if (what)
            fprintf(fp, "%s%s: %s missing (nan), not drawn.\n", bullet, row->spec.label, what);
    }
    if (w->flow) {
        for (size_t i = 0; i < r->n_rows; i++) {
            if (r->rows[i].deterministic)
                continue;
            if (any++ == 0)
                fprintf(fp, "%sNo flow error (stochastic samplers; not in the work-precision plot): %s", bullet,
                        r->rows[i].spec.label);
            else
                fprintf(fp, ", %s", r->rows[i].spec.label);
        }
        if (any)
            fprintf(fp, ".\n");
    }
    if (!w->sw2 && !w->frechet && !w->energy)
        fprintf(fp, "%sNo distance measured: give --reference (gmm:FILE, a file of points, toy:NAME).\n", bullet);
}

/* ---- Plots ----------------------------------------------------------------------------------- */

/* Rows grouped by method (the label before '@'), each group in order of NFE: one series each. */
typedef struct series_set {
    plot_errorbar_series *series;
    size_t n_series;
    double *x_nfe, *x_seconds, *y, *lo, *hi; /* (n_rows), grouped */
} series_set;

static int method_key_equal(const char *a, const char *b)
{
    size_t la = strcspn(a, "@"), lb = strcspn(b, "@");
    return la == lb && strncmp(a, b, la) == 0;
}

static int series_build(series_set *s, const compare_report *r, size_t field_offset, int only_deterministic,
                        char (*labels)[96])
{
    const size_t n = r->n_rows;
    s->series = calloc(n, sizeof *s->series);
    s->x_nfe = malloc(n * sizeof *s->x_nfe), s->x_seconds = malloc(n * sizeof *s->x_seconds);
    s->y = malloc(n * sizeof *s->y), s->lo = malloc(n * sizeof *s->lo), s->hi = malloc(n * sizeof *s->hi);
    size_t *order = malloc(n * sizeof *order);
    unsigned char *used = calloc(n, 1);
    s->n_series = 0;
    if (!s->series || !s->x_nfe || !s->x_seconds || !s->y || !s->lo || !s->hi || !order || !used) {
        free(order), free(used);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (used[i] || (only_deterministic && !r->rows[i].deterministic))
            continue;
        size_t first = k;
        for (size_t j = i; j < n; j++)
            if (!used[j] && method_key_equal(r->rows[i].spec.label, r->rows[j].spec.label) &&
                (!only_deterministic || r->rows[j].deterministic)) {
                used[j] = 1;
                /* insertion by NFE */
                size_t at = k++;
                while (at > first && r->rows[order[at - 1]].nfe.value > r->rows[j].nfe.value) {
                    order[at] = order[at - 1];
                    at--;
                }
                order[at] = j;
            }
        for (size_t q = first; q < k; q++) {
            const compare_row *row = &r->rows[order[q]];
            metric_value v;
            memcpy(&v, (const char *)row + field_offset, sizeof v);
            s->x_nfe[q] = row->nfe.value, s->x_seconds[q] = row->seconds.value;
            s->y[q] = v.value, s->lo[q] = v.lo, s->hi[q] = v.hi;
        }
        plot_errorbar_series *ser = &s->series[s->n_series];
        if (k - first > 1) { /* one method at several step counts: "ode:ddim", a line */
            const char *label = r->rows[order[first]].spec.label;
            snprintf(labels[s->n_series], 96, "%.*s", (int)strcspn(label, "@"), label);
            ser->label = labels[s->n_series];
        } else
            ser->label = r->rows[order[first]].spec.label;
        ser->n = k - first;
        ser->x[0] = s->x_nfe + first, ser->x[1] = s->x_seconds + first;
        ser->y = s->y + first, ser->lo = s->lo + first, ser->hi = s->hi + first;
        s->n_series++;
    }
    free(order), free(used);
    return 0;
}

static void series_free(series_set *s)
{
    free(s->series), free(s->x_nfe), free(s->x_seconds), free(s->y), free(s->lo), free(s->hi);
}

static int chart(const compare_report *r, const char *suffix, size_t field_offset, int only_deterministic,
                 const char *title, const char *ylabel, int panels, int x_is_time, double floor,
                 const char *floor_label)
{
    char path[1200];
    scoresde_error error;
    char(*labels)[96] = malloc(r->n_rows * sizeof *labels);
    series_set s = {0};
    int rc = 0;
    if (!labels || series_build(&s, r, field_offset, only_deterministic, labels)) {
        rc = cli_fail("compare", "out of memory for the plots");
        goto done;
    }
    if (x_is_time) /* one panel against time: swap the x arrays */
        for (size_t i = 0; i < s.n_series; i++) {
            const double *t = s.series[i].x[0];
            s.series[i].x[0] = s.series[i].x[1];
            s.series[i].x[1] = t;
        }
    plot_errorbars p = {title,
                        ylabel,
                        (size_t)panels,
                        {x_is_time ? "wall time (s)" : "NFE per sample", "wall time (s)"},
                        s.series,
                        s.n_series,
                        floor,
                        floor_label};
    snprintf(path, sizeof path, "%s%s.png", r->prefix, suffix);
    if (plot_errorbar_chart(path, &p, &error))
        rc = cli_fail("compare", "--out %s", error.message);
done:
    series_free(&s);
    free(labels);
    return rc;
}

/* ---- All of it ------------------------------------------------------------------------------- */

static void csv_value(FILE *fp, double v)
{
    fprintf(fp, ",%.6g", v);
}

int compare_write_reports(const compare_report *r)
{
    char path[1200];
    scoresde_error error;
    const measured w = what_was_measured(r);
    atomic_file af;
    const app_model *m = r->m;

    printf("model %s (%s, d = %zu), %zu samples per sampler, seed %llu", m->name,
           sgm_process_kind_name(m->process.kind), m->dim, r->num, (unsigned long long)r->seed);
    if (r->repeats > 1)
        printf(" .. %llu (%zu repeats)", (unsigned long long)(r->seed + r->repeats - 1), r->repeats);
    printf("\n\n");
    print_table(stdout, r, &w, 0);
    printf("\n");
    print_notes(stdout, r, &w, "  ");

    snprintf(path, sizeof path, "%s.csv", r->prefix);
    if (atomic_open(&af, path, &error))
        return cli_fail("compare", "--out %s", error.message);
    fprintf(af.fp, "sampler,nfe,seconds,energy_distance,mode_weight_error,repeats,seconds_se,"
                   "mode_weight_error_se,sw2,sw2_lo,sw2_hi,sw2_floor,xent_gap,xent_gap_se,flow_rms,flow_rms_se,"
                   "flow_max,frechet,frechet_se,frechet_floor\n");
    for (size_t i = 0; i < r->n_rows; i++) {
        const compare_row *row = &r->rows[i];
        fprintf(af.fp, "%s,%.1f,%.6f,%.6g,%.6g,%zu", row->spec.label, row->nfe.value, row->seconds.value,
                row->energy.value, row->mode_error.value, r->repeats);
        const double values[] = {row->seconds.se, row->mode_error.se, row->sw2.value, row->sw2.lo, row->sw2.hi,
                                 isfinite(row->sw2.value) ? r->sw2_floor.value : NAN, row->xent.value,
                                 row->xent.se, row->flow_rms.value, row->flow_rms.se, row->flow_max.value,
                                 row->frechet.value, row->frechet.se,
                                 isfinite(row->frechet.value) ? r->frechet_floor.value : NAN};
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++)
            csv_value(af.fp, values[k]);
        fprintf(af.fp, "\n");
    }
    if (atomic_commit(&af, &error))
        return cli_fail("compare", "--out %s", error.message);

    snprintf(path, sizeof path, "%s.md", r->prefix);
    if (atomic_open(&af, path, &error))
        return cli_fail("compare", "--out %s", error.message);
    fprintf(af.fp, "Model `%s` (%s), %zu samples per sampler, ", m->name, sgm_process_kind_name(m->process.kind),
            r->num);
    if (r->repeats > 1)
        fprintf(af.fp, "%zu repeats, seeds %llu .. %llu.\n\n", r->repeats, (unsigned long long)r->seed,
                (unsigned long long)(r->seed + r->repeats - 1));
    else
        fprintf(af.fp, "seed %llu.\n\n", (unsigned long long)r->seed);
    print_table(af.fp, r, &w, 1);
    fprintf(af.fp, "\n");
    print_notes(af.fp, r, &w, "- ");
    if (atomic_commit(&af, &error))
        return cli_fail("compare", "--out %s", error.message);

    /* Plots: the distance against NFE and against time; the flow error (work–precision); the gap. */
    size_t field = offsetof(compare_row, energy);
    const char *name = "energy distance (unbiased: may be < 0)", *floor_label = "exact vs exact (noise)";
    double floor = r->energy_floor;
    if (w.sw2)
        field = offsetof(compare_row, sw2), name = "sliced Wasserstein-2 distance", floor = r->sw2_floor.value,
        floor_label = "exact samples (floor)";
    else if (w.frechet)
        field = offsetof(compare_row, frechet), name = "Fréchet distance (classifier features)",
        floor = r->frechet_floor.value, floor_label = "training images (floor)";
    char title[256];
    snprintf(title, sizeof title, "%s against score evaluations (%s, n = %zu)", w.sw2 ? "SW2" : w.frechet ? "FD" : "energy",
             sgm_process_kind_name(m->process.kind), r->num);
    if (chart(r, "", field, 0, title, name, 1, 0, floor, floor_label))
        return 1;
    snprintf(title, sizeof title, "%s against wall time (%s, n = %zu)", w.sw2 ? "SW2" : w.frechet ? "FD" : "energy",
             sgm_process_kind_name(m->process.kind), r->num);
    if (chart(r, "_time", field, 0, title, name, 1, 1, floor, floor_label))
        return 1;
    int extra = 0;
    if (w.flow) {
        snprintf(title, sizeof title, "work-precision: error against the reference flow (%s)",
                 sgm_process_kind_name(m->process.kind));
        if (chart(r, "_work", offsetof(compare_row, flow_rms), 1, title, "RMS error of the samples", 2, 0, NAN,
                  NULL))
            return 1;
        extra |= 1;
    }
    if (w.xent) {
        snprintf(title, sizeof title, "cross-entropy gap against score evaluations (%s)",
                 sgm_process_kind_name(m->process.kind));
        if (chart(r, "_xent", offsetof(compare_row, xent), 0, title, "E_q[-log p] - H(p)  (nats)", 1, 0, NAN, NULL))
            return 1;
        extra |= 2;
    }
    printf("\nwrote %s.csv, %s.md, %s.png, %s_time.png", r->prefix, r->prefix, r->prefix, r->prefix);
    if (extra & 1)
        printf(", %s_work.png", r->prefix);
    if (extra & 2)
        printf(", %s_xent.png", r->prefix);
    if (m->is_image)
        printf(", %s_<sampler>.png", r->prefix);
    printf("\n");
    return 0;
}
