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
    v.b1 = v.w1 + c->H1 * c->D;
    v.w2 = v.b1 + c->H1;
    v.b2 = v.w2 + c->H2 * c->H1;
    v.w3 = v.b2 + c->H2;
    v.b3 = v.w3 + c->K * c->H2;
    return v;
}

static int alloc_buffers(classifier *c, size_t max_batch)
{
    c->n_params = c->H1 * c->D + c->H1 + c->H2 * c->H1 + c->H2 + c->K * c->H2 + c->K;
    c->max_batch = max_batch;
    c->params = calloc(c->n_params, sizeof *c->params);
    c->a1 = malloc(max_batch * c->H1 * sizeof(float));
    c->h1 = malloc(max_batch * c->H1 * sizeof(float));
    c->a2 = malloc(max_batch * c->H2 * sizeof(float));
    c->h2 = malloc(max_batch * c->H2 * sizeof(float));
    c->logits = malloc(max_batch * c->K * sizeof(float));
    return c->params && c->a1 && c->h1 && c->a2 && c->h2 && c->logits ? 0 : -1;
}

int classifier_alloc(classifier *c, size_t max_batch, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->D = 784, c->H1 = 512, c->H2 = 256, c->K = 10;
    if (alloc_buffers(c, max_batch)) {
        classifier_free(c);
        return -1;
    }
    /* PyTorch's default Linear initialisation: U(±1/√fan_in) for weights and biases. */
    classifier_view v = view_of(c, c->params);
    snet_fill_uniform(v.w1, c->H1 * c->D, (float)(1 / sqrt((double)c->D)), (unsigned long)seed);
    snet_fill_uniform(v.b1, c->H1, (float)(1 / sqrt((double)c->D)), (unsigned long)seed + 1);
    snet_fill_uniform(v.w2, c->H2 * c->H1, (float)(1 / sqrt((double)c->H1)), (unsigned long)seed + 2);
    snet_fill_uniform(v.b2, c->H2, (float)(1 / sqrt((double)c->H1)), (unsigned long)seed + 3);
    snet_fill_uniform(v.w3, c->K * c->H2, (float)(1 / sqrt((double)c->H2)), (unsigned long)seed + 4);
    snet_fill_uniform(v.b3, c->K, (float)(1 / sqrt((double)c->H2)), (unsigned long)seed + 5);
    return 0;
}

void classifier_free(classifier *c)
{
    free(c->params);
    free(c->a1);
    free(c->h1);
    free(c->a2);
    free(c->h2);
    free(c->logits);
    memset(c, 0, sizeof *c);
}

void classifier_forward(classifier *c, size_t B, const float *x, float *features, float *logits)
{
    classifier_view v = view_of(c, c->params);
    snet_linear_forward(c->a1, x, v.w1, v.b1, B, c->D, c->H1);   // (B, H1)
    snet_silu_forward(c->h1, c->a1, B * c->H1);
    snet_linear_forward(c->a2, c->h1, v.w2, v.b2, B, c->H1, c->H2); // (B, H2)
    snet_silu_forward(c->h2, c->a2, B * c->H2);
    snet_linear_forward(c->logits, c->h2, v.w3, v.b3, B, c->H2, c->K); // (B, K)
    if (features)
        memcpy(features, c->h2, B * c->H2 * sizeof *features);
    if (logits)
        memcpy(logits, c->logits, B * c->K * sizeof *logits);
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

int classifier_train(classifier *c, const float *images, const uint8_t *labels, size_t n, size_t epochs,
                     size_t B, double lr, uint64_t seed,
                     void (*progress)(size_t epoch, double loss, void *ctx), void *ctx)
{
    if (B > c->max_batch || B == 0 || n < B)
        return -1;
    size_t P = c->n_params;
    float *grad = calloc(P, sizeof *grad), *m = calloc(P, sizeof *m), *v2 = calloc(P, sizeof *v2);
    float *x = malloc(B * c->D * sizeof *x), *dlogits = malloc(B * c->K * sizeof *dlogits);
    float *dh2 = malloc(B * c->H2 * sizeof *dh2), *da2 = malloc(B * c->H2 * sizeof *da2);
    float *dh1 = malloc(B * c->H1 * sizeof *dh1), *da1 = malloc(B * c->H1 * sizeof *da1);
    size_t *order = malloc(n * sizeof *order);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = -1;
    if (!grad || !m || !v2 || !x || !dlogits || !dh2 || !da2 || !dh1 || !da1 || !order || !rng)
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
            classifier_forward(c, B, x, NULL, NULL);
            loss_sum += cross_entropy(c->logits, labels, index, B, c->K, dlogits);
            classifier_view w = view_of(c, c->params), g = view_of(c, grad);
            snet_zero(grad, P);
            snet_zero(dh2, B * c->H2);
            snet_zero(da2, B * c->H2);
            snet_zero(dh1, B * c->H1);
            snet_zero(da1, B * c->H1);
            snet_linear_backward(dh2, g.w3, g.b3, dlogits, c->h2, w.w3, B, c->H2, c->K);
            snet_silu_backward(da2, dh2, c->a2, B * c->H2);
            snet_linear_backward(dh1, g.w2, g.b2, da2, c->h1, w.w2, B, c->H1, c->H2);
            snet_silu_backward(da1, dh1, c->a1, B * c->H1);
            snet_linear_backward(NULL, g.w1, g.b1, da1, x, w.w1, B, c->D, c->H1);
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
    free(grad), free(m), free(v2), free(x), free(dlogits);
    free(dh2), free(da2), free(dh1), free(da1), free(order);
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

enum { HEADER_BYTES = 4 + 4 + 16 + 8 };

int classifier_save(const classifier *c, const char *path, char *msg, size_t msg_size)
{
    size_t bytes = HEADER_BYTES + 4 * c->n_params + 4;
    unsigned char *buf = malloc(bytes), *p = buf;
    if (!buf) {
        snprintf(msg, msg_size, "%s: out of memory", path);
        return -1;
    }
    memcpy(p, "SGC1", 4);
    put_u32(p + 4, 1);
    put_u32(p + 8, (uint32_t)c->D);
    put_u32(p + 12, (uint32_t)c->H1);
    put_u32(p + 16, (uint32_t)c->H2);
    put_u32(p + 20, (uint32_t)c->K);
    put_u32(p + 24, (uint32_t)c->n_params);
    put_u32(p + 28, (uint32_t)((uint64_t)c->n_params >> 32));
    for (size_t i = 0; i < c->n_params; i++) {
        uint32_t u;
        memcpy(&u, &c->params[i], 4);
        put_u32(p + HEADER_BYTES + 4 * i, u);
    }
    put_u32(p + bytes - 4, (uint32_t)crc32(0L, buf, (uInt)(bytes - 4)));
    int rc = snet_write_atomic(path, buf, bytes, msg, msg_size) == SNET_OK ? 0 : -1;
    free(buf);
    return rc;
}

int classifier_load(classifier *c, const char *path, size_t max_batch, char *msg, size_t msg_size)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(path, "rb");
    unsigned char header[HEADER_BYTES], *buf = NULL;
    int rc = -1;
    if (!fp) {
        snprintf(msg, msg_size, "%s: cannot open", path);
        return -1;
    }
    if (fread(header, 1, HEADER_BYTES, fp) != HEADER_BYTES) {
        snprintf(msg, msg_size, "%s: truncated header (expected %d bytes)", path, HEADER_BYTES);
        goto done;
    }
    if (memcmp(header, "SGC1", 4) != 0) {
        snprintf(msg, msg_size, "%s: bad magic (expected 'SGC1': not a classifier file)", path);
        goto done;
    }
    if (get_u32(header + 4) != 1) {
        snprintf(msg, msg_size, "%s: version %u not supported (expected 1)", path, get_u32(header + 4));
        goto done;
    }
    c->D = get_u32(header + 8), c->H1 = get_u32(header + 12), c->H2 = get_u32(header + 16);
    c->K = get_u32(header + 20);
    uint64_t n = get_u32(header + 24) | (uint64_t)get_u32(header + 28) << 32;
    if (c->D != 784 || c->K != 10 || c->H1 == 0 || c->H2 == 0 || c->H1 > 65536 || c->H2 > 65536) {
        snprintf(msg, msg_size, "%s: shape %zu-%zu-%zu-%zu (expected 784 inputs and 10 classes)", path,
                 c->D, c->H1, c->H2, c->K);
        goto done;
    }
    if (alloc_buffers(c, max_batch) || n != c->n_params) {
        snprintf(msg, msg_size, "%s: header says %llu parameters, the shape needs %zu", path,
                 (unsigned long long)n, c->n_params);
        goto done;
    }
    size_t bytes = 4 * c->n_params + 4;
    buf = malloc(HEADER_BYTES + bytes);
    if (!buf || fread(buf + HEADER_BYTES, 1, bytes, fp) != bytes || fgetc(fp) != EOF) {
        snprintf(msg, msg_size, "%s: size does not match the header (%zu parameters)", path, c->n_params);
        goto done;
    }
    memcpy(buf, header, HEADER_BYTES);
    if ((uint32_t)crc32(0L, buf, (uInt)(HEADER_BYTES + bytes - 4)) != get_u32(buf + HEADER_BYTES + bytes - 4)) {
        snprintf(msg, msg_size, "%s: checksum mismatch (the file is corrupt)", path);
        goto done;
    }
    for (size_t i = 0; i < c->n_params; i++) {
        uint32_t u = get_u32(buf + HEADER_BYTES + 4 * i);
        memcpy(&c->params[i], &u, 4);
        if (!isfinite(c->params[i])) {
            snprintf(msg, msg_size, "%s: parameter %zu is not finite", path, i);
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

int classifier_load_split(int train, uint64_t seed, float **images, uint8_t **labels, size_t *n, char *msg,
                          size_t msg_size)
{
    snet_dataset *ds;
    const char *dir = getenv("SCORESDE_FASHION_MNIST_DIR");
    *images = NULL;
    if (labels)
        *labels = NULL;
    if (snet_dataset_fashion_mnist(&ds, dir, train, SNET_RANGE_MINUS1_1, msg, msg_size) != SNET_OK)
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
        snprintf(msg, msg_size, "out of memory for Fashion-MNIST");
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
