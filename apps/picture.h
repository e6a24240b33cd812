/* picture.h — what users would rather look at than read: PNG grids of images (libpng) and plots
 * of 2-D points, densities and paths (PLplot, cairo PNG driver). Every file is written atomically
 * (temporary file, then rename). Functions return 0 or −1 with err naming the file. */
#ifndef SCORESDE_PICTURE_H
#define SCORESDE_PICTURE_H

#include <stddef.h>

#include "model.h"

/* The layout of a grid of n images of image_w × image_h pixels: `cols` per row (0: about √n),
 * each pixel drawn as scale × scale pixels (0: automatic, the smallest factor that makes the grid
 * at least PNG_GRID_MIN_WIDTH pixels wide, at most PNG_GRID_MAX_SCALE), separated and framed by
 * grey lines `gap` pixels wide (1 at scale 1, else 2). */
enum { PNG_GRID_MIN_WIDTH = 512, PNG_GRID_MAX_SCALE = 16 };
typedef struct grid_layout {
    size_t cols, rows, scale, gap;
    size_t width, height; /* of the PNG, in pixels */
} grid_layout;
grid_layout png_grid_layout(size_t n, size_t cols, size_t scale, size_t image_w, size_t image_h);

/* A grid of n images (model space, each m->dim values, channel-major), laid out as above. */
int png_write_grid(const char *path, const app_model *m, const double *images, size_t n, size_t cols,
                   size_t scale, scoresde_error *err);

/* Optional density drawn as a heat map behind plotted points: fills logp[n] for points xy[n*2]. */
typedef int (*plot_density_fn)(size_t n, const double *xy, double *logp, void *params);

typedef struct plot_series {
    const double *xy; /* (n, 2) */
    size_t n;
    const char *label;
    int color;        /* PLplot colour index (cmap0) */
    double size;      /* symbol scale */
    int line;         /* 1: the points joined in order by a line (a path), markers on it */
    const char *symbol; /* marker glyph (UTF-8, e.g. "▲"; NULL: a small filled dot) */
} plot_series;

/* Scatter plot of up to 4 series over [lo, hi]² (lo == hi: fitted to the points), over the heat
 * map of `density` if not NULL (white to blue: higher density darker), with the legend to the
 * right of the plot, off the data. PLOT_WIDTH × PLOT_HEIGHT pixels, as every plot here. */
enum { PLOT_WIDTH = 900, PLOT_HEIGHT = 700 };
int plot_scatter_2d(const char *path, const char *title, const plot_series *series, size_t n_series,
                    plot_density_fn density, void *density_params, double lo, double hi,
                    scoresde_error *err);

/* Line plot: n_lines curves of n_points (x[i], y[line*n_points + i]) with log axes when asked. */
typedef struct plot_lines {
    const char *title, *xlabel, *ylabel;
    int log_x, log_y;
    size_t n_lines, n_points;
    const double *x, *y; /* x (n_lines, n_points) */
    const char *const *labels;
    int points_only;
} plot_lines;
int plot_line_chart(const char *path, const plot_lines *p, scoresde_error *err);

/* Histogram of values[n] with `bins` bins, and an optional exact density curve pdf(x) over it. */
int plot_histogram(const char *path, const char *title, const double *values, size_t n, size_t bins,
                   double (*pdf)(double x, void *params), void *pdf_params, scoresde_error *err);

/* Measured values with error bars against their cost: each series (a sampler, or one method at
 * several step counts, joined by a line in the order given) has n points (x[panel][i], y[i]) with
 * the interval [lo[i], hi[i]] (lo, hi may be NULL: no bars). One or two panels side by side share
 * the series, the y values and one legend, outside the data to the right (two panels: a picture
 * 1.6 times as wide). An axis is logarithmic when every drawn value on it is positive — bars
 * reaching 0 then end at the bottom of the frame — else linear with a line at 0. Points whose x or
 * y is not finite are not drawn (the caller says they are missing); `floor` (NaN: none) is drawn
 * as a dashed horizontal line named floor_label. Each series has its own colour from a palette of
 * dark colours that read on white, and its own marker. */
typedef struct plot_errorbar_series {
    const char *label;
    size_t n;
    const double *x[2]; /* per panel: (n) */
    const double *y, *lo, *hi; /* (n) */
} plot_errorbar_series;

typedef struct plot_errorbars {
    const char *title, *ylabel;
    size_t n_panels;          /* 1 or 2 */
    const char *xlabel[2];
    const plot_errorbar_series *series;
    size_t n_series;
    double floor;             /* NaN: none */
    const char *floor_label;
} plot_errorbars;
int plot_errorbar_chart(const char *path, const plot_errorbars *p, scoresde_error *err);

#endif
