#include "classifier.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snet_data.h"
#include "snet_io.h"
#include "snet_layers.h"

/* Offsets of the six tensors in the flat buffer. */
typedef struct classifier_view {
    float *w1, *b1, *w2, *b2, *w3, *b3;
} classifier_view;

static classifier_view view_of(const classifier *c, float *base)
{
    classifier_view v;
    v.w1 = base;
    v.b1 = v.w1 + c->H1 * (c->D + c->F);
    v.w2 = v.b1 + c->H1;
    v.b2 = v.w2 + c->H2 * c->H1;
    v.w3 = v.b2 + c->H2;
    v.b3 = v.w3 + c->K * c->H2;
    return v;
}

static int alloc_buffers(classifier *c, size_t max_batch)
{
    const size_t in = c->D + c->F;
    c->n_params = c->H1 * in + c->H1 + c->H2 * c->H1 + c->H2 + c->K * c->H2 + c->K;
    c->max_batch = max_batch;
    c->params = calloc(c->n_params, sizeof *c->params);
    float **rows[] = {&c->input, &c->d_input, &c->a1, &c->h1, &c->da1, &c->dh1,
                      &c->a2, &c->h2, &c->da2, &c->dh2, &c->logits, &c->dlogits};
    const size_t width[] = {in, in, c->H1, c->H1, c->H1, c->H1, c->H2, c->H2, c->H2, c->H2, c->K, c->K};
    int ok = c->params != NULL;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ok = (*rows[i] = malloc(max_batch * width[i] * sizeof(float))) != NULL && ok;
    return ok ? 0 : -1;
}

int classifier_alloc_timed(classifier *c, size_t max_batch, uint64_t seed, size_t F, const scoresde_schedule *noise)
{
    memset(c, 0, sizeof *c);
    c->D = 784, c->H1 = 512, c->H2 = 256, c->K = 10;
    if (F % 2 || F > 256 || (F && !noise))
        return -1;
    c->F = F;
    if (noise)
        c->noise = *noise;
    if (alloc_buffers(c, max_batch)) {
        classifier_free(c);
        return -1;
    }
    /* PyTorch's default Linear initialisation: U(±1/√fan_in) for weights and biases. */
    const size_t in = c->D + c->F;
    classifier_view v = view_of(c, c->params);
    snet_fill_uniform(v.w1, c->H1 * in, (float)(1 / sqrt((double)in)), (unsigned long)seed);
    snet_fill_uniform(v.b1, c->H1, (float)(1 / sqrt((double)in)), (unsigned long)seed + 1);
    snet_fill_uniform(v.w2, c->H2 * c->H1, (float)(1 / sqrt((double)c->H1)), (unsigned long)seed + 2);
    snet_fill_uniform(v.b2, c->H2, (float)(1 / sqrt((double)c->H1)), (unsigned long)seed + 3);
    snet_fill_uniform(v.w3, c->K * c->H2, (float)(1 / sqrt((double)c->H2)), (unsigned long)seed + 4);
    snet_fill_uniform(v.b3, c->K, (float)(1 / sqrt((double)c->H2)), (unsigned long)seed + 5);
    return 0;
}

int classifier_alloc(classifier *c, size_t max_batch, uint64_t seed)
{
    return classifier_alloc_timed(c, max_batch, seed, 0, NULL);
}

void classifier_free(classifier *c)
{
    free(c->params);
    float *rows[] = {c->input, c->d_input, c->a1, c->h1, c->da1, c->dh1,
                     c->a2, c->h2, c->da2, c->dh2, c->logits, c->dlogits};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        free(rows[i]);
    memset(c, 0, sizeof *c);
}

/* The network's input rows: x, then the time features of t (none for the clean classifier). */
static const float *input_rows(classifier *c, size_t B, const float *x, const float *t)
{
    if (c->F == 0)
        return x;
    const size_t in = c->D + c->F, half = c->F / 2;
    for (size_t b = 0; b < B; b++) {
        float *row = c->input + b * in;
        memcpy(row, x + b * c->D, c->D * sizeof *row);
        for (size_t j = 0; j < half; j++) {
            double omega = half > 1 ? pow(2.0, 6.0 * (double)j / (double)(half - 1)) : 1.0;
            double phase = 2.0 * M_PI * omega * (double)t[b];
            row[c->D + j] = (float)sin(phase);
            row[c->D + half + j] = (float)cos(phase);
        }
    }
    return c->input;
}

void classifier_forward_t(classifier *c, size_t B, const float *x, const float *t, float *features,
                          float *logits)
{
    classifier_view v = view_of(c, c->params);
    const float *in = input_rows(c, B, x, t);
    snet_linear_forward(c->a1, in, v.w1, v.b1, B, c->D + c->F, c->H1); // (B, H1)
    snet_silu_forward(c->h1, c->a1, B * c->H1);
    snet_linear_forward(c->a2, c->h1, v.w2, v.b2, B, c->H1, c->H2); // (B, H2)
    snet_silu_forward(c->h2, c->a2, B * c->H2);
    snet_linear_forward(c->logits, c->h2, v.w3, v.b3, B, c->H2, c->K); // (B, K)
    if (features)
        memcpy(features, c->h2, B * c->H2 * sizeof *features);
    if (logits)
        memcpy(logits, c->logits, B * c->K * sizeof *logits);
}

void classifier_forward(classifier *c, size_t B, const float *x, float *features, float *logits)
{
    classifier_forward_t(c, B, x, NULL, features, logits);
}

/* From dlogits (B, K): the parameter gradients into grad (may be NULL) and the input rows'
 * gradient into d_input (may be NULL), after a forward pass of the same rows. */
static void classifier_backward(classifier *c, size_t B, const float *in, float *grad, float *d_input)
{
    classifier_view w = view_of(c, c->params);
    classifier_view g = grad ? view_of(c, grad) : (classifier_view){0};
    snet_zero(c->dh2, B * c->H2);
    snet_zero(c->da2, B * c->H2);
    snet_zero(c->dh1, B * c->H1);
    snet_zero(c->da1, B * c->H1);
    snet_linear_backward(c->dh2, g.w3, g.b3, c->dlogits, c->h2, w.w3, B, c->H2, c->K);
    snet_silu_backward(c->da2, c->dh2, c->a2, B * c->H2);
    snet_linear_backward(c->dh1, g.w2, g.b2, c->da2, c->h1, w.w2, B, c->H1, c->H2);
    snet_silu_backward(c->da1, c->dh1, c->a1, B * c->H1);
    if (d_input)
        snet_zero(d_input, B * (c->D + c->F));
    snet_linear_backward(d_input, g.w1, g.b1, c->da1, in, w.w1, B, c->D + c->F, c->H1);
}

void classifier_log_posterior_grad(classifier *c, size_t B, const float *x, const float *t, size_t k,
                                   float *dx)
{
    classifier_forward_t(c, B, x, t, NULL, NULL);
    /* ∂/∂z [z_k − log Σ_j e^{z_j}] = onehot(k) − softmax(z) */
    for (size_t b = 0; b < B; b++) {
        const float *z = c->logits + b * c->K;
        float zmax = z[0];
        for (size_t j = 1; j < c->K; j++)
            zmax = z[j] > zmax ? z[j] : zmax;
        double sum = 0;
        for (size_t j = 0; j < c->K; j++)
            sum += exp((double)(z[j] - zmax));
        for (size_t j = 0; j < c->K; j++)
            c->dlogits[b * c->K + j] = (float)((j == k) - exp((double)(z[j] - zmax)) / sum);
    }
    classifier_backward(c, B, c->F ? c->input : x, NULL, c->d_input);
    const size_t in = c->D + c->F;
    for (size_t b = 0; b < B; b++)
        memcpy(dx + b * c->D, c->d_input + b * in, c->D * sizeof *dx);
}

/* Softmax cross-entropy: returns the mean loss and writes dlogits = (softmax − onehot)/B. */
static double cross_entropy(const float *logits, const uint8_t *labels, const size_t *index, size_t B,
                            size_t K, float *dlogits)
{
    double loss = 0;
    for (size_t b = 0; b < B; b++) {
        const float *z = logits + b * K;
        float zmax = z[0];
        for (size_t k = 1; k < K; k++)
            zmax = z[k] > zmax ? z[k] : zmax;
        double sum = 0;
        for (size_t k = 0; k < K; k++)
            sum += exp((double)(z[k] - zmax));
        size_t y = labels[index[b]];
        loss += log(sum) - (double)(z[y] - zmax);
        for (size_t k = 0; k < K; k++)
            dlogits[b * K + k] = (float)((exp((double)(z[k] - zmax)) / sum - (k == y)) / (double)B);
    }
    return loss / (double)B;
}

/* x_t = m(t) x₀ + s(t) z for each row of x (B, D), t ~ U(10⁻³, 1) into tb (B). */
static void perturb(const classifier *c, gsl_rng *rng, size_t B, float *x, float *tb)
{
    for (size_t b = 0; b < B; b++) {
        double t = 1e-3 + (1.0 - 1e-3) * gsl_rng_uniform(rng);
        double mean = scoresde_schedule_mean_coef(&c->noise, t), std = scoresde_schedule_std(&c->noise, t);
        tb[b] = (float)t;
        for (size_t i = 0; i < c->D; i++)
            x[b * c->D + i] = (float)(mean * x[b * c->D + i] + std * gsl_ran_gaussian_ziggurat(rng, 1.0));
    }
}

int classifier_train(classifier *c, const float *images, const uint8_t *labels, size_t n, size_t epochs,
                     size_t B, double lr, uint64_t seed,
                     void (*progress)(size_t epoch, double loss, void *ctx), void *ctx)
{
    if (B > c->max_batch || B == 0 || n < B)
        return -1;
    size_t P = c->n_params;
    float *grad = calloc(P, sizeof *grad), *m = calloc(P, sizeof *m), *v2 = calloc(P, sizeof *v2);
    float *x = malloc(B * c->D * sizeof *x), *tb = malloc(B * sizeof *tb);
    size_t *order = malloc(n * sizeof *order);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = -1;
    if (!grad || !m || !v2 || !x || !tb || !order || !rng)
        goto done;
    gsl_rng_set(rng, (unsigned long)seed);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    const double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
    uint64_t t = 0;
    for (size_t epoch = 0; epoch < epochs; epoch++) {
        gsl_ran_shuffle(rng, order, n, sizeof *order);
        double loss_sum = 0;
        size_t n_batches = n / B;
        for (size_t batch = 0; batch < n_batches; batch++) {
            const size_t *index = order + batch * B;
            for (size_t b = 0; b < B; b++)
                memcpy(x + b * c->D, images + index[b] * c->D, c->D * sizeof *x);
            if (c->F)
                perturb(c, rng, B, x, tb);
            classifier_forward_t(c, B, x, c->F ? tb : NULL, NULL, NULL);
            loss_sum += cross_entropy(c->logits, labels, index, B, c->K, c->dlogits);
            snet_zero(grad, P);
            classifier_backward(c, B, c->F ? c->input : x, grad, NULL);
            t++;
            double bc1 = 1 - pow(beta1, (double)t), bc2 = 1 - pow(beta2, (double)t);
            for (size_t i = 0; i < P; i++) {
                m[i] = (float)(beta1 * m[i] + (1 - beta1) * grad[i]);
                v2[i] = (float)(beta2 * v2[i] + (1 - beta2) * grad[i] * grad[i]);
                c->params[i] -= (float)(lr * (m[i] / bc1) / (sqrt(v2[i] / bc2) + adam_eps));
            }
        }
        if (progress)
            progress(epoch + 1, loss_sum / (double)n_batches, ctx);
    }
    rc = 0;
done:
    free(grad), free(m), free(v2), free(x), free(tb), free(order);
    gsl_rng_free(rng);
    return rc;
}

double classifier_accuracy(classifier *c, const float *images, const uint8_t *labels, size_t n)
{
    size_t correct = 0;
    for (size_t first = 0; first < n; first += c->max_batch) {
        size_t B = n - first < c->max_batch ? n - first : c->max_batch;
        classifier_forward(c, B, images + first * c->D, NULL, NULL);
        for (size_t b = 0; b < B; b++) {
            size_t best = 0;
            for (size_t k = 1; k < c->K; k++)
                if (c->logits[b * c->K + k] > c->logits[b * c->K + best])
                    best = k;
            correct += best == labels[first + b];
        }
    }
    return n ? (double)correct / (double)n : 0.0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Version 1 (clean): magic, version, four sizes, n_params. Version 2 adds F, the process kind and
 * its four schedule parameters. */
enum { HEADER_V1_BYTES = 4 + 4 + 16 + 8, HEADER_V2_EXTRA = 4 + 4 + 4 * 8 };

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u32(p, (uint32_t)u);
    put_u32(p + 4, (uint32_t)(u >> 32));
}

static double get_f64(const unsigned char *p)
{
    uint64_t u = get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
    double v;
    memcpy(&v, &u, 8);
    return v;
}

int classifier_save(const classifier *c, const char *path, scoresde_error *err)
{
    size_t header = HEADER_V1_BYTES + (c->F ? HEADER_V2_EXTRA : 0);
    size_t bytes = header + 4 * c->n_params + 4;
    unsigned char *buf = malloc(bytes), *p = buf;
    if (!buf) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    memcpy(p, "SGC1", 4);
    put_u32(p + 4, c->F ? 2 : 1);
    put_u32(p + 8, (uint32_t)c->D);
    put_u32(p + 12, (uint32_t)c->H1);
    put_u32(p + 16, (uint32_t)c->H2);
    put_u32(p + 20, (uint32_t)c->K);
    put_u32(p + 24, (uint32_t)c->n_params);
    put_u32(p + 28, (uint32_t)((uint64_t)c->n_params >> 32));
    if (c->F) {
        unsigned char *q = p + HEADER_V1_BYTES;
        put_u32(q, (uint32_t)c->F);
        put_u32(q + 4, (uint32_t)c->noise.kind);
        put_f64(q + 8, c->noise.sigma_min);
        put_f64(q + 16, c->noise.sigma_max);
        put_f64(q + 24, c->noise.beta_min);
        put_f64(q + 32, c->noise.beta_max);
    }
    for (size_t i = 0; i < c->n_params; i++) {
        uint32_t u;
        memcpy(&u, &c->params[i], 4);
        put_u32(p + header + 4 * i, u);
    }
    put_u32(p + bytes - 4, (uint32_t)crc32(0L, buf, (uInt)(bytes - 4)));
    int rc = snet_write_atomic(path, buf, bytes, err) == SNET_OK ? 0 : -1;
    free(buf);
    return rc;
}

int classifier_load(classifier *c, const char *path, size_t max_batch, scoresde_error *err)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(path, "rb");
    unsigned char header[HEADER_V1_BYTES + HEADER_V2_EXTRA], *buf = NULL;
    size_t header_bytes = HEADER_V1_BYTES;
    int rc = -1;
    if (!fp) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: cannot open", path);
        return -1;
    }
    if (fread(header, 1, HEADER_V1_BYTES, fp) != HEADER_V1_BYTES) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: truncated header (expected %d bytes)", path, HEADER_V1_BYTES);
        goto done;
    }
    if (memcmp(header, "SGC1", 4) != 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: bad magic (expected 'SGC1': not a classifier file)", path);
        goto done;
    }
    uint32_t version = get_u32(header + 4);
    if (version != 1 && version != 2) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: version %u not supported (expected 1 or 2)", path, version);
        goto done;
    }
    if (version == 2) {
        header_bytes += HEADER_V2_EXTRA;
        if (fread(header + HEADER_V1_BYTES, 1, HEADER_V2_EXTRA, fp) != HEADER_V2_EXTRA) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: truncated header (expected %d bytes)", path,
                     HEADER_V1_BYTES + HEADER_V2_EXTRA);
            goto done;
        }
        const unsigned char *q = header + HEADER_V1_BYTES;
        c->F = get_u32(q);
        c->noise = (scoresde_schedule){.kind = (scoresde_process_kind)get_u32(q + 4),
                                       .sigma_min = get_f64(q + 8),
                                       .sigma_max = get_f64(q + 16),
                                       .beta_min = get_f64(q + 24),
                                       .beta_max = get_f64(q + 32)};
        scoresde_error why;
        if (c->F == 0 || c->F % 2 || c->F > 256) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: %zu time features (expected an even number 2..256)", path, c->F);
            goto done;
        }
        if (scoresde_schedule_validate(&c->noise, &why)) {
            scoresde_error_fail(err, why.status, "%s: %s", path, why.message);
            goto done;
        }
    }
    c->D = get_u32(header + 8), c->H1 = get_u32(header + 12), c->H2 = get_u32(header + 16);
    c->K = get_u32(header + 20);
    uint64_t n = get_u32(header + 24) | (uint64_t)get_u32(header + 28) << 32;
    if (c->D != 784 || c->K != 10 || c->H1 == 0 || c->H2 == 0 || c->H1 > 65536 || c->H2 > 65536) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: shape %zu-%zu-%zu-%zu (expected 784 inputs and 10 classes)", path,
                 c->D, c->H1, c->H2, c->K);
        goto done;
    }
    if (alloc_buffers(c, max_batch) || n != c->n_params) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: header says %llu parameters, the shape needs %zu", path,
                 (unsigned long long)n, c->n_params);
        goto done;
    }
    size_t bytes = 4 * c->n_params + 4;
    buf = malloc(header_bytes + bytes);
    if (!buf || fread(buf + header_bytes, 1, bytes, fp) != bytes || fgetc(fp) != EOF) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: size does not match the header (%zu parameters)", path, c->n_params);
        goto done;
    }
    memcpy(buf, header, header_bytes);
    if ((uint32_t)crc32(0L, buf, (uInt)(header_bytes + bytes - 4)) != get_u32(buf + header_bytes + bytes - 4)) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: checksum mismatch (the file is corrupt)", path);
        goto done;
    }
    for (size_t i = 0; i < c->n_params; i++) {
        uint32_t u = get_u32(buf + header_bytes + 4 * i);
        memcpy(&c->params[i], &u, 4);
        if (!isfinite(c->params[i])) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: parameter %zu is not finite", path, i);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc)
        classifier_free(c);
    free(buf);
    fclose(fp);
    return rc;
}

int classifier_load_split(int train, uint64_t seed, float **images, uint8_t **labels, size_t *n, scoresde_error *err)
{
    snet_dataset *ds;
    const char *dir = getenv("SCORESDE_FASHION_MNIST_DIR");
    *images = NULL;
    if (labels)
        *labels = NULL;
    if (snet_dataset_fashion_mnist(&ds, dir, train, SNET_RANGE_MINUS1_1, err) != SNET_OK)
        return -1;
    *n = snet_dataset_size(ds);
    *images = malloc(*n * 784 * sizeof **images);
    if (labels)
        *labels = malloc(*n);
    if (!*images || (labels && !*labels)) {
        snet_dataset_free(ds);
        free(*images);
        *images = NULL;
        if (labels) {
            free(*labels);
            *labels = NULL;
        }
        scoresde_error_fail(err, SCORESDE_ENOMEM, "out of memory for Fashion-MNIST");
        return -1;
    }
    snet_dataset_items(ds, 0, *n, seed, *images);
    if (labels)
        memcpy(*labels, snet_dataset_labels(ds), *n);
    snet_dataset_free(ds);
    return 0;
}

void classifier_features(classifier *c, const float *images, size_t n, double *features, size_t *predicted)
{
    float *f = malloc(c->max_batch * c->H2 * sizeof *f);
    float *logits = predicted ? malloc(c->max_batch * c->K * sizeof *logits) : NULL;
    for (size_t first = 0; f && (logits || !predicted) && first < n; first += c->max_batch) {
        size_t B = n - first < c->max_batch ? n - first : c->max_batch;
        classifier_forward(c, B, images + first * c->D, f, logits);
        for (size_t i = 0; i < B * c->H2; i++)
            features[first * c->H2 + i] = f[i];
        for (size_t b = 0; predicted && b < B; b++) {
            size_t best = 0;
            for (size_t k = 1; k < c->K; k++)
                if (logits[b * c->K + k] > logits[b * c->K + best])
                    best = k;
            predicted[best]++;
        }
    }
    free(f);
    free(logits);
}

int classifier_check_process(const classifier *c, const sgm_process *p, scoresde_error *err)
{
    if (c->F == 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "a clean classifier (no time input): guidance needs a time-dependent one "
                                "(scoresde evaluate --train-classifier --time-dependent)");
        return -1;
    }
    const scoresde_schedule *s = &c->noise;
    int same = s->kind == p->kind &&
               (s->kind == SCORESDE_PROCESS_VE ? s->sigma_min == p->sigma_min && s->sigma_max == p->sigma_max
                                               : s->beta_min == p->beta_min && s->beta_max == p->beta_max);
    if (!same) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "trained for %s (sigma %g..%g, beta %g..%g), the model's process is %s "
                 "(sigma %g..%g, beta %g..%g)", scoresde_process_kind_name(s->kind), s->sigma_min, s->sigma_max,
                 s->beta_min, s->beta_max, sgm_process_kind_name(p->kind), p->sigma_min, p->sigma_max,
                 p->beta_min, p->beta_max);
        return -1;
    }
    return 0;
}

int classifier_guidance_init(classifier_guidance *g, classifier *cls, size_t k)
{
    *g = (classifier_guidance){.cls = cls, .k = k};
    g->x = malloc(cls->max_batch * cls->D * sizeof *g->x);
    g->t = malloc(cls->max_batch * sizeof *g->t);
    g->dx = malloc(cls->max_batch * cls->D * sizeof *g->dx);
    if (g->x && g->t && g->dx)
        return 0;
    classifier_guidance_free(g);
    return -1;
}

void classifier_guidance_free(classifier_guidance *g)
{
    free(g->x), free(g->t), free(g->dx);
    memset(g, 0, sizeof *g);
}

int classifier_guidance_fn(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    classifier_guidance *g = params;
    classifier *c = g->cls;
    if (d != c->D)
        return -1;
    for (size_t first = 0; first < n; first += c->max_batch) {
        size_t B = n - first < c->max_batch ? n - first : c->max_batch;
        for (size_t i = 0; i < B * d; i++)
            g->x[i] = (float)x[first * d + i];
        for (size_t b = 0; b < B; b++)
            g->t[b] = (float)t;
        classifier_log_posterior_grad(c, B, g->x, g->t, g->k, g->dx);
        for (size_t i = 0; i < B * d; i++)
            out[first * d + i] = g->dx[i];
    }
    return 0;
}
