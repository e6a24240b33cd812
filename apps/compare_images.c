/* compare_images.c — the Fréchet distance of `scoresde compare` on Fashion-MNIST models: the
 * shipped classifier's 256-d features (classifier.h, as `scoresde evaluate`) of the samples against
 * those of the test set, with a bootstrap standard error, and the floor of as many real training
 * images (what a perfect sampler would score with that many samples). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "compare.h"
#include "snet_data.h"

struct compare_images {
    classifier cls;
    size_t k;
    double *mu_test, *S_test; /* (k), (k, k) */
    float *pixels;            /* (n, 784) scratch */
    double *features;         /* (n, k) scratch */
};

int compare_images_alloc(compare_images **out, size_t n, uint64_t seed, metric_value *floor, scoresde_error *err)
{
    char path[4096];
    scoresde_error why;
    compare_images *ci = calloc(1, sizeof *ci);
    float *test = NULL, *train = NULL;
    double *ftest = NULL;
    size_t n_test = 0, n_train = 0;
    *out = NULL;
    if (!ci)
        goto nomem;
    if (shipped_model_path("fmnist_classifier.sgc", path, sizeof path, &why)) {
        scoresde_error_fail(err, why.status, "the Fréchet distance needs the shipped classifier, and %s",
                            why.message);
        goto fail;
    }
    if (classifier_load(&ci->cls, path, 256, err))
        goto fail;
    ci->k = ci->cls.H2;
    if (classifier_load_split(0, seed, &test, NULL, &n_test, err) ||
        classifier_load_split(1, seed + 1, &train, NULL, &n_train, err))
        goto fail;
    const size_t k = ci->k, n_floor = n < n_train ? n : n_train;
    ci->mu_test = malloc(k * sizeof *ci->mu_test);
    ci->S_test = malloc(k * k * sizeof *ci->S_test);
    ci->pixels = malloc(n * 784 * sizeof *ci->pixels);
    ci->features = malloc((n > n_floor ? n : n_floor) * k * sizeof *ci->features);
    ftest = malloc(n_test * k * sizeof *ftest);
    if (!ci->mu_test || !ci->S_test || !ci->pixels || !ci->features || !ftest)
        goto nomem;
    classifier_features(&ci->cls, test, n_test, ftest, NULL);
    feature_statistics(k, ftest, n_test, ci->mu_test, ci->S_test);
    /* the floor: the first n of the (shuffled by nothing: file order) training images */
    classifier_features(&ci->cls, train, n_floor, ci->features, NULL);
    if (frechet_distance_bootstrap(k, ci->features, n_floor, ci->mu_test, ci->S_test, 30, seed ^ 0xf1, floor)) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "the Fréchet distance of the training images failed");
        goto fail;
    }
    free(test), free(train), free(ftest);
    *out = ci;
    return 0;
nomem:
    scoresde_error_fail(err, SCORESDE_ENOMEM, "out of memory for the Fréchet distance");
fail:
    free(test), free(train), free(ftest);
    compare_images_free(ci);
    return -1;
}

int compare_images_frechet(compare_images *ci, const app_model *m, const double *x, size_t n, uint64_t seed,
                           metric_value *out)
{
    /* The classifier sees [−1, 1]: the model's range mapped onto it and clipped, as evaluate does. */
    for (size_t i = 0; i < n * 784; i++) {
        double v = 2 * (x[i] - m->data_lo) / m->data_width - 1;
        ci->pixels[i] = (float)(v < -1 ? -1 : v > 1 ? 1 : v);
    }
    classifier_features(&ci->cls, ci->pixels, n, ci->features, NULL);
    return frechet_distance_bootstrap(ci->k, ci->features, n, ci->mu_test, ci->S_test, 30, seed, out);
}

void compare_images_free(compare_images *ci)
{
    if (!ci)
        return;
    classifier_free(&ci->cls);
    free(ci->mu_test), free(ci->S_test), free(ci->pixels), free(ci->features);
    free(ci);
}
