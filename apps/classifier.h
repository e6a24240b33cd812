/* classifier.h — the Fashion-MNIST classifier whose penultimate features define the Fréchet
 * distance of `scoresde evaluate` (there is no Inception network here; this is what the MNIST
 * literature does). Built from scorenet's own layers:
 *
 *   x (B, 784) → Linear 512 → SiLU → Linear 256 → SiLU = features (B, 256) → Linear 10 = logits
 *
 * trained with softmax cross-entropy and Adam on the training set (inputs in [−1, 1], uniformly
 * dequantised).
 *
 * The time-dependent classifier of class-conditional sampling (paper §5) is the same network with
 * F time features appended to the input, [sin 2πω_j t, cos 2πω_j t], ω_j = 2^(6j/(F/2−1)) (1 .. 64),
 * trained on x_t = m(t) x₀ + s(t) z of one process, t ~ U(10⁻³, 1); its input gradient of
 * log p_t(k | x) guides the sampler (classifier_log_posterior_grad).
 *
 * File: "SGC1", u32 version (1: clean; 2: time-dependent), u32 input/hidden1/hidden2/classes,
 * u64 n_params; version 2 adds u32 F, u32 process kind and f64 σ_min, σ_max, β_min, β_max; then
 * float32 params (little-endian), u32 CRC-32 of everything before it; written atomically. */
#ifndef SCORESDE_CLASSIFIER_H
#define SCORESDE_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "scoresde_schedule.h"
#include "scoresde_status.h"
#include "sgm_process.h"

typedef struct classifier {
    size_t D, H1, H2, K;
    size_t F;                 /* time features (0: the clean classifier) */
    scoresde_schedule noise;  /* F > 0: the process it was trained on */
    size_t n_params;
    float *params;           /* w1 (H1,D+F) b1 (H1) w2 (H2,H1) b2 (H2) w3 (K,H2) b3 (K) */
    size_t max_batch;
    float *input;            /* (max_batch, D+F) the input rows with their time features */
    float *a1, *h1, *a2, *h2, *logits; /* activations (max_batch, ·) */
    float *d_input, *dh1, *da1, *dh2, *da2, *dlogits; /* gradients (max_batch, ·) */
} classifier;

int classifier_alloc(classifier *c, size_t max_batch, uint64_t seed);
/* A time-dependent classifier with F time features (even, 2..256) for the process `noise`. */
int classifier_alloc_timed(classifier *c, size_t max_batch, uint64_t seed, size_t F, const scoresde_schedule *noise);
void classifier_free(classifier *c);

/* features (B, H2) and logits (B, K) (either may be NULL) of x (B, D) in [−1, 1]; B ≤ max_batch.
 * t (B) are the times of a time-dependent classifier (NULL for the clean one). */
void classifier_forward(classifier *c, size_t B, const float *x, float *features, float *logits);
void classifier_forward_t(classifier *c, size_t B, const float *x, const float *t, float *features,
                          float *logits);
/* dx (B, D) = ∇ₓ log p_t(k | x) of a time-dependent classifier: one forward and one backward pass. */
void classifier_log_posterior_grad(classifier *c, size_t B, const float *x, const float *t, size_t k,
                                   float *dx);

/* Trains on images (n, D) with labels (n) for `epochs`, batch B, Adam(lr); deterministic in seed.
 * A time-dependent classifier sees each batch perturbed by its process at t ~ U(10⁻³, 1).
 * progress (may be NULL) is called after each epoch with the mean loss. */
int classifier_train(classifier *c, const float *images, const uint8_t *labels, size_t n, size_t epochs,
                     size_t B, double lr, uint64_t seed,
                     void (*progress)(size_t epoch, double loss, void *ctx), void *ctx);

/* Fraction of correctly classified images. */
double classifier_accuracy(classifier *c, const float *images, const uint8_t *labels, size_t n);

int classifier_save(const classifier *c, const char *path, scoresde_error *err);
/* Loads and checks (magic, version, sizes, checksum); messages name the file and the fault. */
int classifier_load(classifier *c, const char *path, size_t max_batch, scoresde_error *err);

/* A Fashion-MNIST split (train 1: the 60 000 training images, 0: the 10 000 test images) as floats
 * in [−1, 1) with dequantisation noise from seed; labels (may be NULL) copied. 0, or −1 with err filled. */
int classifier_load_split(int train, uint64_t seed, float **images, uint8_t **labels, size_t *n, scoresde_error *err);
/* The penultimate-layer features (n, H2) of n images, the Fréchet distance's; predicted (K, may be
 * NULL) counts each image under its most likely class. */
void classifier_features(classifier *c, const float *images, size_t n, double *features, size_t *predicted);

/* The classifier's process against a sampler's: 0, or −1 with err naming the difference (a clean
 * classifier has none). */
int classifier_check_process(const classifier *c, const sgm_process *p, scoresde_error *err);

/* Classifier guidance for sgm_guided_score_alloc: out = ∇ₓ log p_t(k | x) of a time-dependent
 * classifier, in chunks of its max_batch (an sgm_score_fn; params: a classifier_guidance). */
typedef struct classifier_guidance {
    classifier *cls; /* borrowed */
    size_t k;
    float *x, *t, *dx; /* (max_batch, D), (max_batch), (max_batch, D) */
} classifier_guidance;
int classifier_guidance_init(classifier_guidance *g, classifier *cls, size_t k); /* 0, or −1: no memory */
void classifier_guidance_free(classifier_guidance *g);
int classifier_guidance_fn(double t, size_t n, size_t d, const double *x, double *out, void *params);

#endif
