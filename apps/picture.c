#include "picture.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <png.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- PNG grids (libpng) ---------------------------------------------------------------------- */

grid_layout png_grid_layout(size_t n, size_t cols, size_t scale, size_t image_w, size_t image_h)
{
    grid_layout g;
    g.cols = cols ? cols : (size_t)ceil(sqrt((double)n));
    if (g.cols == 0)
        g.cols = 1;
    g.rows = (n + g.cols - 1) / g.cols;
    g.scale = scale;
    if (g.scale == 0) {
        size_t native = g.cols * image_w;
        g.scale = native ? (PNG_GRID_MIN_WIDTH + native - 1) / native : 1;
        if (g.scale > PNG_GRID_MAX_SCALE)
            g.scale = PNG_GRID_MAX_SCALE;
        if (g.scale < 1)
            g.scale = 1;
    }
    g.gap = g.scale > 1 ? 2 : 1;
    g.width = g.cols * (image_w * g.scale + g.gap) + g.gap;
    g.height = g.rows * (image_h * g.scale + g.gap) + g.gap;
    return g;
}

int png_write_grid(const char *path, const app_model *m, const double *images, size_t n, size_t cols,
                   size_t scale, scoresde_error *err)
{
    const size_t C = m->channels, H = m->height, W = m->width;
    if (!m->is_image || (C != 1 && C != 3)) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: PNG grids need an image model with 1 or 3 channels", path);
        return -1;
    }
    const grid_layout g = png_grid_layout(n, cols, scale, W, H);
    const size_t k = g.scale, img_w = g.width, img_h = g.height;
    if (img_w > 1000000 || img_h > 1000000 || img_w * img_h > ((size_t)1 << 31) / C) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: a grid of %zu×%zu pixels is too large (lower --scale)", path, img_w,
                 img_h);
        return -1;
    }
    unsigned char *pixels = malloc(img_w * img_h * C);
    png_bytep *row_ptrs = malloc(img_h * sizeof *row_ptrs);
    atomic_file af = {0};
    png_structp png = NULL;
    png_infop info = NULL;
    int rc = -1;
    if (!pixels || !row_ptrs) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    memset(pixels, 128, img_w * img_h * C); /* mid-grey separators, visible on black and white */
    for (size_t idx = 0; idx < n; idx++) {
        size_t r0 = g.gap + (idx / g.cols) * (H * k + g.gap), c0 = g.gap + (idx % g.cols) * (W * k + g.gap);
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < H; i++)
                for (size_t j = 0; j < W; j++) {
                    unsigned char v = app_model_pixel(m, images[idx * m->dim + (c * H + i) * W + j]);
                    for (size_t a = 0; a < k; a++)
                        for (size_t b = 0; b < k; b++)
                            pixels[((r0 + i * k + a) * img_w + c0 + j * k + b) * C + c] = v;
                }
    }
    for (size_t i = 0; i < img_h; i++)
        row_ptrs[i] = pixels + i * img_w * C;
    if (atomic_open(&af, path, err))
        goto done;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: cannot initialise libpng", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: libpng failed while writing", path);
        goto done;
    }
    png_init_io(png, af.fp);
    png_set_IHDR(png, info, (png_uint_32)img_w, (png_uint_32)img_h, 8,
                 C == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, row_ptrs);
    png_write_end(png, NULL);
    rc = atomic_commit(&af, err);
done:
    if (png)
        png_destroy_write_struct(&png, info ? &info : NULL);
    if (rc && af.tmp_path)
        atomic_abort(&af);
    free(pixels);
    free(row_ptrs);
    return rc;
}

/* ---- PLplot ---------------------------------------------------------------------------------- */

/* PLplot writes to a file name; we give it a temporary one in the target's directory and rename
 * it once the plot is complete. */
static int plot_begin_sized(const char *path, char *tmp, size_t tmp_size, int width, int height,
                            scoresde_error *err);

static int plot_begin(const char *path, char *tmp, size_t tmp_size, scoresde_error *err)
{
    return plot_begin_sized(path, tmp, tmp_size, PLOT_WIDTH, PLOT_HEIGHT, err);
}

static int plot_begin_sized(const char *path, char *tmp, size_t tmp_size, int width, int height,
                            scoresde_error *err)
{
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    FILE *probe = fopen(tmp, "wb");
    if (!probe) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    fclose(probe);
    plsdev("pngcairo");
    plsfnam(tmp);
    plspage(0, 0, width, height, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    plscol0(15, 0, 0, 0);
    return 0;
}

static int plot_end(const char *path, const char *tmp, scoresde_error *err)
{
    plend();
    FILE *fp = fopen(tmp, "rb");
    long size = -1;
    if (fp) {
        fseek(fp, 0, SEEK_END);
        size = ftell(fp);
        fsync(fileno(fp));
        fclose(fp);
    }
    if (size <= 0 || rename(tmp, path) != 0) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: the plot could not be written", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

int plot_scatter_2d(const char *path, const char *title, const plot_series *series, size_t n_series,
                    plot_density_fn density, void *density_params, double lo, double hi,
                    scoresde_error *err)
{
    char tmp[1100];
    if (n_series > 4)
        n_series = 4;
    if (lo == hi) {
        lo = DBL_MAX, hi = -DBL_MAX;
        for (size_t s = 0; s < n_series; s++)
            for (size_t i = 0; i < 2 * series[s].n; i++) {
                lo = fmin(lo, series[s].xy[i]);
                hi = fmax(hi, series[s].xy[i]);
            }
        double pad = 0.05 * (hi - lo) + 1e-9;
        lo -= pad, hi += pad;
    }
    size_t most = 0;
    for (size_t s = 0; s < n_series; s++)
        most = series[s].n > most ? series[s].n : most;
    PLFLT *xs = malloc((most + 1) * sizeof *xs), *ys = malloc((most + 1) * sizeof *ys);
    if (!xs || !ys) {
        free(xs), free(ys);
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    if (plot_begin(path, tmp, sizeof tmp, err)) {
        free(xs), free(ys);
        return -1;
    }
    /* A square plot in the left three quarters of the page: the legend goes to its right. */
    plscol0(3, 0, 140, 0); /* a green that reads on white */
    pladv(0);
    plvpas(0.08, 0.76, 0.1, 0.9, 1.0);
    plwind(lo, hi, lo, hi);
    if (density) {
        enum { G = 160 };
        double *grid = malloc(G * G * 2 * sizeof *grid), *logp = malloc(G * G * sizeof *logp);
        PLFLT **z = NULL;
        plAlloc2dGrid(&z, G, G);
        if (grid && logp && z) {
            for (int i = 0; i < G; i++)
                for (int j = 0; j < G; j++) {
                    grid[2 * (i * G + j)] = lo + (hi - lo) * (i + 0.5) / G;
                    grid[2 * (i * G + j) + 1] = lo + (hi - lo) * (j + 0.5) / G;
                }
            if (density(G * G, grid, logp, density_params) == 0) {
                double zmax = -DBL_MAX;
                for (int k = 0; k < G * G; k++)
                    zmax = fmax(zmax, logp[k]);
                for (int i = 0; i < G; i++)
                    for (int j = 0; j < G; j++)
                        z[i][j] = exp(logp[i * G + j] - zmax);
                PLFLT r[2] = {1.0, 0.2}, g[2] = {1.0, 0.35}, b[2] = {1.0, 0.75}, pos[2] = {0, 1};
                plscmap1l(1, 2, pos, r, g, b, NULL);
                plimage((const PLFLT *const *)z, G, G, lo, hi, lo, hi, 0, 1, lo, hi, lo, hi);
            }
        }
        plFree2dGrid(z, G, G);
        free(grid);
        free(logp);
    }
    plcol0(15);
    plbox("bcnst", 0.0, 0, "bcnstv", 0.0, 0);
    /* legend entries: the series, then the heat map's colour */
    const char *labels[5], *symbols[5];
    PLINT opt[5], colors[5], line_styles[5], nsym[5];
    PLFLT scales[5], widths[5];
    for (size_t s = 0; s < n_series; s++) {
        const plot_series *ser = &series[s];
        double size = ser->size > 0 ? ser->size : 0.5;
        for (size_t i = 0; i < ser->n; i++) {
            xs[i] = ser->xy[2 * i];
            ys[i] = ser->xy[2 * i + 1];
        }
        plcol0(ser->color);
        if (ser->line && ser->n > 1) {
            plwidth(2.0);
            plline((PLINT)ser->n, xs, ys);
            plwidth(1.0);
        }
        if (ser->symbol) {
            plschr(0, size);
            plstring((PLINT)ser->n, xs, ys, ser->symbol);
            plschr(0, 1.0);
        } else {
            plssym(0, size);
            plpoin((PLINT)ser->n, xs, ys, 17);
        }
        labels[s] = ser->label;
        opt[s] = PL_LEGEND_SYMBOL | (ser->line ? PL_LEGEND_LINE : 0);
        colors[s] = ser->color;
        line_styles[s] = 1;
        widths[s] = 2.0;
        symbols[s] = ser->symbol ? ser->symbol : "●";
        scales[s] = ser->symbol ? fmin(size, 1.2) : 0.6;
        nsym[s] = ser->line ? 2 : 1;
    }
    size_t n_legend = n_series;
    if (density) {
        plscol0(12, 51, 89, 191); /* the heat map's darkest colour */
        labels[n_legend] = "data density";
        opt[n_legend] = PL_LEGEND_SYMBOL;
        colors[n_legend] = 12;
        line_styles[n_legend] = 1;
        widths[n_legend] = 1.0;
        symbols[n_legend] = "■";
        scales[n_legend] = 1.2;
        nsym[n_legend] = 1;
        n_legend++;
    }
    plcol0(15);
    pllab("x0", "x1", title);
    if (n_legend > 0) {
        PLFLT w, h;
        pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE,
                 0.03, 0.0, 0.04, 0, 15, 1, 0, 0, (PLINT)n_legend, opt, 0.8, 0.8, 2.0, 0.0, colors,
                 (const char *const *)labels, NULL, NULL, NULL, NULL, colors, line_styles, widths, colors,
                 scales, nsym, (const char *const *)symbols);
    }
    free(xs), free(ys);
    return plot_end(path, tmp, err);
}

int plot_line_chart(const char *path, const plot_lines *p, scoresde_error *err)
{
    char tmp[1100];
    double x0 = DBL_MAX, x1 = -DBL_MAX, y0 = DBL_MAX, y1 = -DBL_MAX;
    size_t total = p->n_lines * p->n_points;
    PLFLT *xs = malloc(total * sizeof *xs), *ys = malloc(total * sizeof *ys);
    if (!xs || !ys) {
        free(xs), free(ys);
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    for (size_t k = 0; k < total; k++) {
        xs[k] = p->log_x ? log10(fmax(p->x[k], 1e-300)) : p->x[k];
        ys[k] = p->log_y ? log10(fmax(p->y[k], 1e-300)) : p->y[k];
        if (isfinite(xs[k]) && isfinite(ys[k])) {
            x0 = fmin(x0, xs[k]), x1 = fmax(x1, xs[k]);
            y0 = fmin(y0, ys[k]), y1 = fmax(y1, ys[k]);
        }
    }
    if (!(x1 > x0))
        x0 -= 0.5, x1 += 0.5;
    if (!(y1 > y0))
        y0 -= 0.5, y1 += 0.5;
    double px = 0.05 * (x1 - x0), py = 0.08 * (y1 - y0);
    if (plot_begin(path, tmp, sizeof tmp, err)) {
        free(xs), free(ys);
        return -1;
    }
    plcol0(15);
    plenv(x0 - px, x1 + px, y0 - py, y1 + py, 0, (p->log_x ? 10 : 0) + (p->log_y ? 20 : 0));
    pllab(p->xlabel, p->ylabel, p->title);
    PLINT opt[16], colors[16], lstyles[16], scolors[16], nsym[16];
    PLFLT widths[16], scales[16];
    const char *symbols[16];
    size_t n_legend = p->n_lines < 16 ? p->n_lines : 16;
    for (size_t l = 0; l < p->n_lines; l++) {
        int color = 1 + (int)(l % 14);
        if (color == 15 - 1)
            color = 14;
        plcol0(color);
        if (!p->points_only)
            plline((PLINT)p->n_points, xs + l * p->n_points, ys + l * p->n_points);
        plssym(0, 0.9);
        plpoin((PLINT)p->n_points, xs + l * p->n_points, ys + l * p->n_points, 17);
        if (l < n_legend) {
            opt[l] = (p->points_only ? 0 : PL_LEGEND_LINE) | PL_LEGEND_SYMBOL;
            colors[l] = scolors[l] = color;
            lstyles[l] = 1;
            widths[l] = 1.0;
            scales[l] = 1.0;
            nsym[l] = 1;
            symbols[l] = "#(728)";
        }
    }
    if (p->labels && n_legend) {
        PLFLT w, h;
        plcol0(15);
        pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                 PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 15, 1, 0,
                 0, (PLINT)n_legend, opt, 1.0, 0.8, 2.0, 1.0, colors, p->labels, NULL, NULL, NULL,
                 NULL, colors, lstyles, widths, scolors, scales, nsym, symbols);
    }
    free(xs), free(ys);
    return plot_end(path, tmp, err);
}

int plot_histogram(const char *path, const char *title, const double *values, size_t n, size_t bins,
                   double (*pdf)(double x, void *params), void *pdf_params, scoresde_error *err)
{
    char tmp[1100];
    double lo = DBL_MAX, hi = -DBL_MAX;
    for (size_t i = 0; i < n; i++)
        lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    if (!(hi > lo))
        lo -= 0.5, hi += 0.5;
    double *count = calloc(bins, sizeof *count), width = (hi - lo) / (double)bins, top = 0;
    if (!count) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)((values[i] - lo) / width);
        count[b < bins ? b : bins - 1] += 1.0 / ((double)n * width);
    }
    for (size_t b = 0; b < bins; b++)
        top = fmax(top, count[b]);
    enum { CURVE = 400 };
    PLFLT cx[CURVE], cy[CURVE];
    if (pdf)
        for (int k = 0; k < CURVE; k++) {
            cx[k] = lo + (hi - lo) * k / (CURVE - 1);
            cy[k] = pdf(cx[k], pdf_params);
            top = fmax(top, cy[k]);
        }
    if (plot_begin(path, tmp, sizeof tmp, err)) {
        free(count);
        return -1;
    }
    plcol0(15);
    plenv(lo, hi, 0, 1.08 * top, 0, 0);
    pllab("x", "density", title);
    plcol0(9);
    for (size_t b = 0; b < bins; b++) {
        PLFLT x[4] = {lo + b * width, lo + b * width, lo + (b + 1) * width, lo + (b + 1) * width};
        PLFLT y[4] = {0, count[b], count[b], 0};
        plfill(4, x, y);
    }
    if (pdf) {
        plcol0(1);
        plwidth(2.5);
        plline(CURVE, cx, cy);
    }
    free(count);
    return plot_end(path, tmp, err);
}

/* ---- Error-bar charts (compare) -------------------------------------------------------------- */

/* Dark colours that read on white (Okabe–Ito and Tableau's darker half), set into cmap0 1..12,
 * and markers; series s gets colour s mod 12 and marker s mod 5, so 60 series differ. */
static const unsigned char errorbar_palette[12][3] = {
    {0, 114, 178},  {213, 94, 0},  {0, 158, 115}, {204, 121, 167}, {86, 180, 233}, {230, 159, 0},
    {0, 0, 0},      {148, 103, 189}, {140, 86, 75}, {31, 119, 180}, {214, 39, 40},  {127, 127, 127}};
static const char *const errorbar_markers[5] = {"●", "▲", "■", "◆", "▼"};

typedef struct axis_range {
    int log;
    double lo, hi; /* in plotted units (log10 when log) */
} axis_range;

/* Log when every finite value given is positive (log_from: only the first log_from of them
 * decide; the others, bar ends, are skipped when not positive on a log axis); the range of the
 * finite values, padded. */
static axis_range fit_axis(const double *v, size_t n, size_t log_from, double pad_fraction)
{
    axis_range a = {1, DBL_MAX, -DBL_MAX};
    size_t finite = 0;
    for (size_t i = 0; i < log_from && i < n; i++)
        if (isfinite(v[i])) {
            finite++;
            if (v[i] <= 0)
                a.log = 0;
        }
    if (!finite)
        a.log = 0;
    finite = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && (!a.log || v[i] > 0)) {
            finite++;
            double t = a.log ? log10(v[i]) : v[i];
            a.lo = fmin(a.lo, t), a.hi = fmax(a.hi, t);
        }
    if (!finite)
        a.lo = 0, a.hi = 1;
    if (!(a.hi > a.lo)) {
        double half = a.log ? 0.5 : fmax(0.5 * fabs(a.lo), 0.5);
        a.lo -= half, a.hi += half;
    }
    double pad = pad_fraction * (a.hi - a.lo);
    a.lo -= pad, a.hi += pad;
    return a;
}

static double to_axis(const axis_range *a, double v)
{
    if (!isfinite(v))
        return NAN;
    if (a->log)
        return v > 0 ? log10(v) : a->lo; /* a bar reaching 0 ends at the frame */
    return v;
}

int plot_errorbar_chart(const char *path, const plot_errorbars *p, scoresde_error *err)
{
    char tmp[1100];
    const size_t n_panels = p->n_panels == 2 ? 2 : 1;
    size_t total = 0;
    for (size_t s = 0; s < p->n_series; s++)
        total += p->series[s].n;
    /* values that set the axes: the drawn points, and the y of their bars and of the floor */
    double *xv = malloc((total + 1) * sizeof *xv), *yv = malloc((3 * total + 2) * sizeof *yv);
    PLFLT *px = malloc((total + 1) * sizeof *px), *py = malloc((total + 1) * sizeof *py);
    PLFLT *plo = malloc((total + 1) * sizeof *plo), *phi = malloc((total + 1) * sizeof *phi);
    if (!xv || !yv || !px || !py || !plo || !phi) {
        free(xv), free(yv), free(px), free(py), free(plo), free(phi);
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    /* y: the points decide log or linear (with the floor); the bars' ends widen the range */
    size_t ny = 0;
    for (size_t s = 0; s < p->n_series; s++)
        for (size_t i = 0; i < p->series[s].n; i++)
            if (isfinite(p->series[s].y[i]))
                yv[ny++] = p->series[s].y[i];
    if (isfinite(p->floor))
        yv[ny++] = p->floor;
    const size_t n_points = ny;
    for (size_t s = 0; s < p->n_series; s++) {
        const plot_errorbar_series *ser = &p->series[s];
        for (size_t i = 0; i < ser->n; i++)
            if (isfinite(ser->y[i])) {
                yv[ny++] = ser->lo ? ser->lo[i] : NAN;
                yv[ny++] = ser->hi ? ser->hi[i] : NAN;
            }
    }
    axis_range ya = fit_axis(yv, ny, n_points, 0.06);
    const int width = n_panels == 2 ? PLOT_WIDTH * 8 / 5 : PLOT_WIDTH;
    if (plot_begin_sized(path, tmp, sizeof tmp, width, PLOT_HEIGHT, err)) {
        free(xv), free(yv), free(px), free(py), free(plo), free(phi);
        return -1;
    }
    for (int c = 0; c < 12; c++)
        plscol0(1 + c, errorbar_palette[c][0], errorbar_palette[c][1], errorbar_palette[c][2]);
    plscol0(13, 150, 150, 150); /* the floor and the zero line */
    plscol0(14, 225, 225, 225); /* the grid */
    pladv(0);
    plschr(0, 0.85);
    /* viewports: the legend takes the right quarter of the picture */
    const double left = n_panels == 2 ? 0.075 : 0.1, gap = 0.07, right_end = n_panels == 2 ? 0.75 : 0.64;
    const double panel_w = n_panels == 2 ? (right_end - left - gap) / 2 : right_end - left;
    for (size_t panel = 0; panel < n_panels; panel++) {
        size_t nx = 0;
        for (size_t s = 0; s < p->n_series; s++)
            for (size_t i = 0; i < p->series[s].n; i++)
                if (isfinite(p->series[s].y[i]))
                    xv[nx++] = p->series[s].x[panel][i];
        axis_range xa = fit_axis(xv, nx, nx, 0.05);
        double x0 = left + (double)panel * (panel_w + gap);
        plvpor(x0, x0 + panel_w, 0.13, 0.9);
        plwind(xa.lo, xa.hi, ya.lo, ya.hi);
        plcol0(14); /* a light grid first, the frame over it */
        plbox(xa.log ? "gl" : "g", 0.0, 0, ya.log ? "gl" : "g", 0.0, 0);
        plcol0(15);
        plbox(xa.log ? "bcnstl" : "bcnst", 0.0, 0, ya.log ? "bcnstvl" : "bcnstv", 0.0, 0);
        pllab(p->xlabel[panel], panel == 0 ? p->ylabel : "", n_panels == 2 ? "" : p->title);
        if (n_panels == 2 && panel == 0)
            plmtex("t", 2.0, 1.0 + 0.5 * gap / panel_w, 0.5, p->title); /* centred over both panels */
        PLFLT fx[2] = {xa.lo, xa.hi}, fy[2];
        plcol0(13);
        if (!ya.log && ya.lo < 0 && ya.hi > 0) { /* the zero line */
            fy[0] = fy[1] = 0;
            plline(2, fx, fy);
        }
        if (isfinite(p->floor) && (!ya.log || p->floor > 0)) {
            fy[0] = fy[1] = to_axis(&ya, p->floor);
            pllsty(2);
            plwidth(2.0);
            plline(2, fx, fy);
            pllsty(1);
            plwidth(1.0);
        }
        for (size_t s = 0; s < p->n_series; s++) {
            const plot_errorbar_series *ser = &p->series[s];
            size_t k = 0;
            for (size_t i = 0; i < ser->n; i++) {
                double xs = to_axis(&xa, ser->x[panel][i]), ys = to_axis(&ya, ser->y[i]);
                if (!isfinite(xs) || !isfinite(ys) || (xa.log && ser->x[panel][i] <= 0) ||
                    (ya.log && ser->y[i] <= 0))
                    continue;
                px[k] = xs, py[k] = ys;
                plo[k] = ser->lo && isfinite(ser->lo[i]) ? to_axis(&ya, ser->lo[i]) : ys;
                phi[k] = ser->hi && isfinite(ser->hi[i]) ? to_axis(&ya, ser->hi[i]) : ys;
                k++;
            }
            if (!k)
                continue;
            plcol0(1 + (int)(s % 12));
            plwidth(1.5);
            if (k > 1)
                plline((PLINT)k, px, py);
            plerry((PLINT)k, px, plo, phi);
            plwidth(1.0);
            plstring((PLINT)k, px, py, errorbar_markers[s % 5]);
        }
    }
    /* the legend: every series (drawn or not, so a missing one is seen to be missing), the floor */
    size_t n_legend = p->n_series + (isfinite(p->floor) ? 1 : 0);
    PLINT *opt = malloc(n_legend * sizeof *opt), *colors = malloc(n_legend * sizeof *colors);
    PLINT *styles = malloc(n_legend * sizeof *styles), *nsym = malloc(n_legend * sizeof *nsym);
    PLFLT *widths = malloc(n_legend * sizeof *widths), *scales = malloc(n_legend * sizeof *scales);
    const char **labels = malloc(n_legend * sizeof *labels), **symbols = malloc(n_legend * sizeof *symbols);
    if (opt && colors && styles && nsym && widths && scales && labels && symbols && n_legend) {
        for (size_t s = 0; s < n_legend; s++) {
            int is_floor = s == p->n_series;
            opt[s] = is_floor ? PL_LEGEND_LINE : PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
            colors[s] = is_floor ? 13 : 1 + (PLINT)(s % 12);
            styles[s] = is_floor ? 2 : 1;
            widths[s] = is_floor ? 2.0 : 1.5;
            scales[s] = 0.9;
            nsym[s] = 1;
            labels[s] = is_floor ? (p->floor_label ? p->floor_label : "floor") : p->series[s].label;
            symbols[s] = is_floor ? "" : errorbar_markers[s % 5];
        }
        double text = n_legend > 24 ? 0.6 : n_legend > 14 ? 0.7 : 0.8;
        PLFLT w, h;
        plcol0(15);
        pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE,
                 0.02, 0.0, 0.05, 0, 15, 1, 0, 0, (PLINT)n_legend, opt, 0.8, text, 2.0, 0.0, colors,
                 labels, NULL, NULL, NULL, NULL, colors, styles, widths, colors, scales, nsym, symbols);
    }
    free(opt), free(colors), free(styles), free(nsym), free(widths), free(scales), free(labels), free(symbols);
    free(xv), free(yv), free(px), free(py), free(plo), free(phi);
    return plot_end(path, tmp, err);
}
