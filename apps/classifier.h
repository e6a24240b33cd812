/* classifier.h — the Fashion-MNIST classifier whose penultimate features define the Fréchet
 * distance of `scoresde evaluate` (there is no Inception network here; this is what the MNIST
 * literature does). Built from scorenet's own layers:
 *
 *   x (B, 784) → Linear 512 → SiLU → Linear 256 → SiLU = features (B, 256) → Linear 10 = logits
 *
 * trained with softmax cross-entropy and Adam on the training set (inputs in [−1, 1], uniformly
 * dequantised). File: "SGC1", u32 version 1, u32 input/hidden1/hidden2/classes, u64 n_params,
 * float32 params (little-endian), u32 CRC-32 of everything before it; written atomically. */
#ifndef SCORESDE_CLASSIFIER_H
#define SCORESDE_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

typedef struct classifier {
    size_t D, H1, H2, K;
    size_t n_params;
    float *params;           /* w1 (H1,D) b1 (H1) w2 (H2,H1) b2 (H2) w3 (K,H2) b3 (K) */
    size_t max_batch;
    float *a1, *h1, *a2, *h2, *logits; /* activations (max_batch, ·) */
} classifier;

int classifier_alloc(classifier *c, size_t max_batch, uint64_t seed);
void classifier_free(classifier *c);

/* features (B, H2) and logits (B, K) (either may be NULL) of x (B, D) in [−1, 1]; B ≤ max_batch. */
void classifier_forward(classifier *c, size_t B, const float *x, float *features, float *logits);

/* Trains on images (n, D) with labels (n) for `epochs`, batch B, Adam(lr); deterministic in seed.
 * progress (may be NULL) is called after each epoch with the mean loss. */
int classifier_train(classifier *c, const float *images, const uint8_t *labels, size_t n, size_t epochs,
                     size_t B, double lr, uint64_t seed,
                     void (*progress)(size_t epoch, double loss, void *ctx), void *ctx);

/* Fraction of correctly classified images. */
double classifier_accuracy(classifier *c, const float *images, const uint8_t *labels, size_t n);

int classifier_save(const classifier *c, const char *path, char *msg, size_t msg_size);
/* Loads and checks (magic, version, sizes, checksum); messages name the file and the fault. */
int classifier_load(classifier *c, const char *path, size_t max_batch, char *msg, size_t msg_size);

/* A Fashion-MNIST split (train 1: the 60 000 training images, 0: the 10 000 test images) as floats
 * in [−1, 1) with dequantisation noise from seed; labels (may be NULL) copied. 0, or −1 with msg. */
int classifier_load_split(int train, uint64_t seed, float **images, uint8_t **labels, size_t *n, char *msg,
                          size_t msg_size);
/* The penultimate-layer features (n, H2) of n images, the Fréchet distance's; predicted (K, may be
 * NULL) counts each image under its most likely class. */
void classifier_features(classifier *c, const float *images, size_t n, double *features, size_t *predicted);

#endif
