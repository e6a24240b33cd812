/* compare.h — the pieces of `scoresde compare` (cmd_compare.c runs the samplers and measures,
 * compare_report.c writes the table, CSV, Markdown and plots, compare_images.c measures images,
 * compare_runs.c keeps the runs done so far in PREFIX.runs.csv for --resume). */
#ifndef SCORESDE_COMPARE_H
#define SCORESDE_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "model.h"
#include "sampling.h"

/* What one run (one sampler, one seed) measured; NaN where the measure does not apply. */
typedef struct compare_run {
    double nfe, seconds, energy, mode_error, flow_max;
    metric_value sw2, xent, flow_rms, frechet;
} compare_run;

/* One sampler: its runs (one per repeat) and their summary (means; with repeats ≥ 2 the standard
 * errors and intervals over the repeats, else the run's own). */
typedef struct compare_row {
    sampler_spec spec;
    int deterministic;      /* a probability-flow ODE sampler: its flow error is measured */
    compare_run *runs;      /* (repeats) */
    int done;               /* runs all filled: measured, or read from PREFIX.runs.csv (--resume) */
    metric_value nfe, seconds, energy, mode_error, flow_max, sw2, xent, flow_rms, frechet;
} compare_row;

/* What the whole comparison shares: the model, the floors and how they were made. */
typedef struct compare_report {
    const app_model *m;
    const compare_row *rows;
    size_t n_rows, num, repeats;
    uint64_t seed;
    metric_value sw2_floor;  /* n exact samples against the same reference; NaN: no reference */
    double energy_floor;     /* exact against exact (the unbiased estimate's noise) */
    metric_value frechet_floor; /* images: n training images against the test set */
    double entropy, entropy_se; /* H(p) of the oracle; NaN: none */
    const char *sw2_reference;  /* words: what SW2 is measured against */
    const char *flow_reference; /* words: the reference flow (NULL: none) */
    const char *prefix;
} compare_report;

/* Fills row->nfe ... row->frechet from row->runs: the mean over the repeats; with one repeat the
 * run's own standard error and interval; with R ≥ 2 the runs' own errors pooled, se = √(Σ se_k²)/R
 * and ± 1.96 se, or for values without one (time, mode weights, energy) se = sd/√R and ± t_{R−1} se
 * (distances: lo not below 0). */
void compare_row_summarise(compare_row *row, size_t repeats);

/* Prints the table (stdout) and writes PREFIX.csv, PREFIX.md, PREFIX.png, PREFIX_time.png and,
 * when measured, PREFIX_work.png (flow error) and PREFIX_xent.png. Returns 0 or 1 after the
 * message. */
int compare_write_reports(const compare_report *r);

/* "ode:dpmpp-2m@20" → "ode_dpmpp-2m_20": letters, digits, '.', '-' and '+' kept, others '_'. */
void compare_file_name(const char *label, char *out, size_t size);

/* PREFIX.runs.csv: every run measured so far, rewritten (atomically) as each sampler finishes, so
 * that an interrupted comparison can go on (--resume). Line 1 says which comparison the runs belong
 * to, "# scoresde compare runs: " then `identity` (space-separated key=value fields, values without
 * spaces: whatever changes the numbers); line 2 is the header "sampler,repeat,nfe,seconds,...";
 * then one line per (sampler label, repeat 0 .. R−1) with every field of compare_run, a
 * metric_value as X,X_se,X_lo,X_hi, each printed with %.17g (exact when read back; nan allowed). */

/* Writes the runs of the rows marked done to path. Returns 0, or −1 with err naming the path. */
int compare_runs_write(const char *path, const char *identity, const compare_row *rows, size_t n_rows,
                       size_t repeats, scoresde_error *err);
/* Reads path (written for the same `identity` and `repeats`): every row whose R runs the file holds
 * gets them in row->runs and is marked done (runs of other labels are ignored). Returns the number
 * of rows filled (0 when the file does not exist), or −1 with err naming the file and, for another
 * comparison's file, the first field that differs and its expected value; for a malformed file the
 * line and what was expected. */
int compare_runs_read(const char *path, const char *identity, compare_row *rows, size_t n_rows, size_t repeats,
                      scoresde_error *err);

/* Image models (Fashion-MNIST, 784 values): the Fréchet distance of the shipped classifier's
 * features against the test set, with a bootstrap standard error, and its small-sample floor
 * (n training images against the test set). */
typedef struct compare_images compare_images;
int compare_images_alloc(compare_images **out, size_t n, uint64_t seed, metric_value *floor, scoresde_error *err);
int compare_images_frechet(compare_images *ci, const app_model *m, const double *x, size_t n,
                           uint64_t seed, metric_value *out);
void compare_images_free(compare_images *ci);

#endif
