/* scoresde evaluate — sample quality of a Fashion-MNIST model: the Fréchet distance between the
 * classifier features of generated images and of the test set, the classifier's own test accuracy
 * (so the features can be trusted) and the class histogram of the samples. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "metrics.h"
#include "sampling.h"

static const cli_command evaluate_command = {
    "evaluate",
    "Draws --num samples from --model (or takes --images: a file, fashion-mnist:train|test, or\n"
    "noise) and prints the Fréchet distance between the 256-d penultimate features of the shipped\n"
    "Fashion-MNIST classifier on them and on the 10 000 test images, the classifier's test accuracy\n"
    "and the class histogram. --train-classifier trains that classifier and writes --classifier.",
    "[--model M] [--num N] [options]",
    "scoresde evaluate --model models/fashion_mnist.sgm --num 1000 --sampler ode"};

/* From cmd_sample.c: the summaries' pieces and the help of the shared options. */
void describe_model(const common_options *c, const app_model *m, char *buf, size_t size);

static void print_epoch(size_t epoch, double loss, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "classifier: epoch %zu, loss %.4f\n", epoch, loss);
}

/* Sampling over the ranks (dist.h): every rank samples chunks of --batch, rank 0 collects them. */
typedef struct evaluate_job {
    const sampler_spec *spec;
    app_model *m;
    uint64_t seed;
    double *x; /* rank 0: (n, 784) */
} evaluate_job;

static int evaluate_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    evaluate_job *job = ctx;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    int rc = sampler_run(job->spec, job->m, n, job->seed, first, rows, &stats, &err);
    (void)info;
    return rc == SLV_OK ? 0 : report_solver_failure("evaluate", rc, &err);
}

static int evaluate_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    evaluate_job *job = ctx;
    (void)info;
    memcpy(job->x + first * 784, rows, n * 784 * sizeof *rows);
    return 0;
}

/* The time-dependent classifier for --model's process: trained on perturbed training images,
 * checked on perturbed test images at t = 0.1, 0.5 and 0.9, written to path. */
static int train_time_dependent(common_options *c, const char *path, size_t epochs)
{
    app_model m;
    if (load_model_or_fail("evaluate", c, &m))
        return 1;
    int status = 1;
    classifier cls = {0};
    float *train = NULL, *test = NULL, *x = NULL, *t = NULL;
    uint8_t *train_labels = NULL, *test_labels = NULL;
    size_t n_train = 0, n_test = 0;
    scoresde_error error;
    const sgm_process *p = &m.process;
    const scoresde_schedule noise = {.kind = p->kind, .sigma_min = p->sigma_min, .sigma_max = p->sigma_max,
                                     .beta_min = p->beta_min, .beta_max = p->beta_max};
    if (m.dim != 784 || fabs(m.data_lo + 1.0) > 0.01 || fabs(m.data_width - 2.0) > 0.02) {
        cli_fail("evaluate", "--model %s: the time-dependent classifier needs a Fashion-MNIST model on the "
                 "range -1..1 (dimension %zu, range %g..%g)", m.name, m.dim, m.data_lo, m.data_lo + m.data_width);
        goto done;
    }
    if (classifier_load_split(1, c->seed, &train, &train_labels, &n_train, &error) ||
        classifier_load_split(0, c->seed, &test, &test_labels, &n_test, &error)) {
        cli_fail("evaluate", "%s", error.message);
        goto done;
    }
    if (classifier_alloc_timed(&cls, 256, c->seed, 32, &noise)) {
        cli_fail("evaluate", "out of memory for the classifier");
        goto done;
    }
    if (classifier_train(&cls, train, train_labels, n_train, epochs, 128, 1e-3, c->seed,
                         c->quiet ? NULL : print_epoch, NULL)) {
        cli_fail("evaluate", "classifier training failed");
        goto done;
    }
    x = malloc(256 * 784 * sizeof *x);
    t = malloc(256 * sizeof *t);
    if (!x || !t) {
        cli_fail("evaluate", "out of memory");
        goto done;
    }
    printf("time-dependent classifier for %s (%s), %zu epochs\n", m.name, scoresde_process_kind_name(noise.kind),
           epochs);
    const double times[] = {0.1, 0.5, 0.9};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        double mean = scoresde_schedule_mean_coef(&noise, times[i]), std = scoresde_schedule_std(&noise, times[i]);
        size_t correct = 0;
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, (unsigned long)c->seed + 7);
        for (size_t first = 0; rng && first < n_test; first += 256) {
            size_t B = n_test - first < 256 ? n_test - first : 256;
            for (size_t j = 0; j < B * 784; j++)
                x[j] = (float)(mean * test[first * 784 + j] + std * gsl_ran_gaussian_ziggurat(rng, 1.0));
            for (size_t b = 0; b < B; b++)
                t[b] = (float)times[i];
            float logits[256 * 10];
            classifier_forward_t(&cls, B, x, t, NULL, logits);
            for (size_t b = 0; b < B; b++) {
                size_t best = 0;
                for (size_t k = 1; k < 10; k++)
                    if (logits[b * 10 + k] > logits[b * 10 + best])
                        best = k;
                correct += best == test_labels[first + b];
            }
        }
        gsl_rng_free(rng);
        printf("test accuracy at t = %.1f   %.4f\n", times[i], (double)correct / (double)n_test);
    }
    if (classifier_save(&cls, path, &error)) {
        cli_fail("evaluate", "--classifier %s", error.message);
        goto done;
    }
    printf("classifier written to %s\n", path);
    status = 0;
done:
    free(train), free(test), free(train_labels), free(test_labels), free(x), free(t);
    classifier_free(&cls);
    app_model_free(&m);
    return status;
}

/* What the command line asks for, checked. */
typedef struct evaluate_request {
    common_options c;
    const char *images_spec, *classifier_path;
    int train_classifier, time_dependent;
    long reference_class;
    size_t epochs;
    cli_option opts[64];          /* kept: the sampler is read from them once the model is loaded */
    char shipped_classifier[4096];
} evaluate_request;

enum { EVALUATE_GO_ON = -1 }; /* the command runs on; any other value is its exit status */

/* Fills r in place (its options point into it). */
static int parse_request(int argc, char **argv, evaluate_request *r)
{
    *r = (evaluate_request){.reference_class = -1, .epochs = 8};
    common_options_init(&r->c);
    r->c.num = 1000;
    cli_option *opts = r->opts;
    size_t count = 0;
    common_options_add(opts, &count, &r->c, OPTS_MODEL | OPTS_SAMPLER | OPTS_NUM);
    opts[count++] = (cli_option){"images", CLI_STRING, &r->images_spec,
                                 "evaluate these images instead of sampling (file, fashion-mnist:train|test, noise)"
                                 CLI_DEFAULT_IS("none: samples of --model"), NULL, 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"classifier", CLI_STRING, &r->classifier_path, "classifier file"
                                 CLI_DEFAULT_IS("the shipped fmnist_classifier.sgc"), NULL, 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"train-classifier", CLI_FLAG, &r->train_classifier,
                                 "train the classifier on the training set and write --classifier", NULL, 0, 0,
                                 0, NULL, 0};
    opts[count++] = (cli_option){"epochs", CLI_SIZE, &r->epochs, "classifier training epochs", NULL, 1, 1000, 0,
                                 NULL, 0};
    opts[count++] = (cli_option){"class", CLI_INT, &r->reference_class,
                                 "compare with the test images of this class only (0..9; -1: all): the "
                                 "per-class Fréchet distance of class-conditional samples", NULL, -1, 9, 0, NULL,
                                 0};
    opts[count++] = (cli_option){"time-dependent", CLI_FLAG, &r->time_dependent,
                                 "with --train-classifier: train the time-dependent classifier of class-"
                                 "conditional sampling (sample --class) on images perturbed by --model's "
                                 "process, and stop", NULL, 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    int rc = cli_parse(&evaluate_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&r->c, opts);
    if (!r->classifier_path) {
        scoresde_error error;
        /* the shipped classifier is read, never overwritten (it may sit in an installed tree) */
        if (r->train_classifier)
            return cli_usage_error(&evaluate_command, "--train-classifier needs --classifier FILE to write");
        if (shipped_model_path("fmnist_classifier.sgc", r->shipped_classifier, sizeof r->shipped_classifier, &error))
            return cli_fail("evaluate", "no --classifier given, and %s", error.message);
        r->classifier_path = r->shipped_classifier;
    }
    return EVALUATE_GO_ON;
}

/* The images judged and what they are judged against (rank 0). */
typedef struct evaluate_data {
    classifier cls;
    float *test;           /* (n_test, 784): the test images, of --class only when given */
    uint8_t *test_labels;
    size_t n_test;
    double accuracy;       /* the classifier's, on the whole test set */
    float *samples;        /* (n_samples, 784) on [-1, 1] */
    size_t n_samples;
    char source[1400];     /* words: where the images come from */
} evaluate_data;

/* The classifier (trained and written with --train-classifier, else read), its test accuracy and
 * the test images it compares with. Returns 0 or 1 after a message. */
static int prepare_classifier(const evaluate_request *r, evaluate_data *e)
{
    const common_options *c = &r->c;
    scoresde_error error;
    if (r->train_classifier) {
        float *train = NULL;
        uint8_t *train_labels = NULL;
        size_t n_train = 0;
        int status = 1;
        if (classifier_load_split(1, c->seed, &train, &train_labels, &n_train, &error) ||
            classifier_alloc(&e->cls, 256, c->seed))
            cli_fail("evaluate", "%s", error.message);
        else if (classifier_train(&e->cls, train, train_labels, n_train, r->epochs, 128, 1e-3, c->seed,
                                  c->quiet ? NULL : print_epoch, NULL))
            cli_fail("evaluate", "classifier training failed");
        else if (classifier_save(&e->cls, r->classifier_path, &error))
            cli_fail("evaluate", "--classifier %s", error.message);
        else
            status = 0;
        free(train), free(train_labels);
        if (status)
            return status;
        printf("classifier written to %s\n", r->classifier_path);
    } else if (classifier_load(&e->cls, r->classifier_path, 256, &error)) {
        return cli_fail("evaluate", "--classifier %s", error.message);
    }
    if (classifier_load_split(0, c->seed, &e->test, &e->test_labels, &e->n_test, &error))
        return cli_fail("evaluate", "%s", error.message);
    e->accuracy = classifier_accuracy(&e->cls, e->test, e->test_labels, e->n_test);
    if (r->reference_class >= 0) { /* keep the test images of that class, in order */
        size_t kept = 0;
        for (size_t i = 0; i < e->n_test; i++)
            if (e->test_labels[i] == r->reference_class)
                memmove(e->test + kept++ * 784, e->test + i * 784, 784 * sizeof *e->test);
        e->n_test = kept;
    }
    return 0;
}

/* --images noise: uniform on [-1, 1]. */
static int noise_images(const evaluate_request *r, evaluate_data *e)
{
    e->n_samples = r->c.num;
    e->samples = malloc(e->n_samples * 784 * sizeof *e->samples);
    if (!e->samples)
        return cli_fail("evaluate", "out of memory");
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)r->c.seed);
    for (size_t i = 0; i < e->n_samples * 784; i++)
        e->samples[i] = (float)(2 * gsl_rng_uniform(rng) - 1);
    gsl_rng_free(rng);
    return EVALUATE_GO_ON;
}

/* --images fashion-mnist:train|test: the first --num of the split. */
static int dataset_images(const evaluate_request *r, evaluate_data *e)
{
    const char *split = r->images_spec + 14;
    int is_train = strcmp(split, "train") == 0;
    if (!is_train && strcmp(split, "test") != 0)
        return cli_usage_error(&evaluate_command, "--images: expected fashion-mnist:train or :test");
    size_t n_all;
    uint8_t *labels;
    scoresde_error error;
    if (classifier_load_split(is_train, r->c.seed + 1, &e->samples, &labels, &n_all, &error))
        return cli_fail("evaluate", "%s", error.message);
    free(labels);
    e->n_samples = n_all < r->c.num ? n_all : r->c.num;
    return EVALUATE_GO_ON;
}

/* --num samples of m over the ranks into *x (rank 0: (n, 784)); source: the words for the summary.
 * Non-root ranks end here with status 0. */
static int sample_model(const evaluate_request *r, app_model *m, double **x, size_t *n, char *source, size_t size)
{
    const common_options *c = &r->c;
    sampler_spec spec;
    int rc = sampler_from_options(&evaluate_command, c, r->opts, &m->process, &spec);
    if (rc)
        return rc;
    *n = c->num;
    *x = malloc((dist_is_root() ? *n : 1) * 784 * sizeof **x);
    if (!*x)
        return cli_fail("evaluate", "out of memory");
    char model_note[256], sampler_note[256];
    describe_model(c, m, model_note, sizeof model_note);
    describe_sampler(&spec, m, sampler_note, sizeof sampler_note);
    snprintf(source, size, "samples of %s (%s) by %s", m->name, model_note, sampler_note);
    evaluate_job job = {&spec, m, c->seed, *x};
    dist_chunks chunks = {*n, c->batch, 784, 0, evaluate_chunk, evaluate_deliver, &job, "evaluate: sampling",
                          c->quiet, 0, NULL};
    if ((rc = dist_run_chunks(&chunks)) || !dist_is_root()) /* rank 0 judges the images */
        return rc;
    return EVALUATE_GO_ON;
}

/* Images of --model: samples, or --images FILE in the model's range; mapped onto the classifier's. */
static int model_images(evaluate_request *r, app_model *m, evaluate_data *e)
{
    if (load_model_or_fail("evaluate", &r->c, m))
        return 1;
    if (m->dim != 784)
        return cli_fail("evaluate", "--model %s has dimension %zu; evaluate needs a Fashion-MNIST model (784)",
                        m->name, m->dim);
    double *x = NULL;
    if (r->images_spec) {
        matrix given = {0};
        scoresde_error error;
        if (load_points(r->images_spec, m, r->c.num, r->c.seed, &given, &error))
            return cli_fail("evaluate", "--images %s", error.message);
        x = given.x;
        e->n_samples = given.n;
    } else {
        int rc = sample_model(r, m, &x, &e->n_samples, e->source, sizeof e->source);
        if (rc != EVALUATE_GO_ON) {
            free(x);
            return rc;
        }
    }
    e->samples = malloc(e->n_samples * 784 * sizeof *e->samples);
    if (!e->samples) {
        free(x);
        return cli_fail("evaluate", "out of memory");
    }
    /* The classifier sees [−1, 1]: map the model's range onto it and clip, as pixels are
     * clipped to 0..255 when images are saved (FID pipelines do the same). */
    for (size_t i = 0; i < e->n_samples * 784; i++) {
        double v = 2 * (x[i] - m->data_lo) / m->data_width - 1;
        e->samples[i] = (float)(v < -1 ? -1 : v > 1 ? 1 : v);
    }
    free(x);
    return EVALUATE_GO_ON;
}

/* The Fréchet distance of the images' features to the test images', and the summary. Returns 0 or
 * 1 after a message. */
static int report_evaluation(const evaluate_request *r, evaluate_data *e)
{
    const size_t k = e->cls.H2, n_test = e->n_test, n_samples = e->n_samples;
    size_t hist[10] = {0};
    double *ftest = malloc(n_test * k * sizeof *ftest), *fsamples = malloc(n_samples * k * sizeof *fsamples);
    double *mu1 = malloc(k * sizeof *mu1), *mu2 = malloc(k * sizeof *mu2);
    double *S1 = malloc(k * k * sizeof *S1), *S2 = malloc(k * k * sizeof *S2);
    int status = 1;
    if (!ftest || !fsamples || !mu1 || !mu2 || !S1 || !S2) {
        cli_fail("evaluate", "out of memory");
        goto done;
    }
    classifier_features(&e->cls, e->test, n_test, ftest, NULL);
    classifier_features(&e->cls, e->samples, n_samples, fsamples, hist);
    feature_statistics(k, ftest, n_test, mu1, S1);
    feature_statistics(k, fsamples, n_samples, mu2, S2);
    double fd = frechet_distance(k, mu1, S1, mu2, S2);
    printf("images              %zu %s\n", n_samples, e->source);
    char reference[64] = "";
    if (r->reference_class >= 0)
        snprintf(reference, sizeof reference, " of class %ld", r->reference_class);
    printf("Frechet distance    %.4f (classifier features, against the %zu test images%s)\n", fd, n_test,
           reference);
    printf("classifier          %s, test accuracy %.4f\n", r->classifier_path, e->accuracy);
    printf("class histogram    ");
    static const char *names[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};
    for (int j = 0; j < 10; j++)
        printf(" %s %.3f", names[j], (double)hist[j] / (double)n_samples);
    printf("\n");
    status = 0;
done:
    free(ftest), free(fsamples), free(mu1), free(mu2), free(S1), free(S2);
    return status;
}

int cmd_evaluate(int argc, char **argv)
{
    evaluate_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != EVALUATE_GO_ON)
        return rc;
    /* Under mpirun only the sampling is shared: rank 0 alone judges the images. */
    if (!dist_is_root() && (r.train_classifier || r.images_spec))
        return 0;
    if (r.time_dependent && !r.train_classifier)
        return cli_usage_error(&evaluate_command, "--time-dependent applies to --train-classifier");
    if (r.time_dependent)
        return train_time_dependent(&r.c, r.classifier_path, r.epochs);

    evaluate_data e = {0};
    app_model m = {0};
    int status = 1;
    if (r.images_spec)
        snprintf(e.source, sizeof e.source, "from %s", r.images_spec);
    if (dist_is_root() && prepare_classifier(&r, &e))
        goto done;
    /* The images to judge: generated, given, or uniform noise. */
    if (r.images_spec && strcmp(r.images_spec, "noise") == 0)
        rc = noise_images(&r, &e);
    else if (r.images_spec && strncmp(r.images_spec, "fashion-mnist:", 14) == 0)
        rc = dataset_images(&r, &e);
    else
        rc = model_images(&r, &m, &e);
    if (rc != EVALUATE_GO_ON) {
        status = rc;
        goto done;
    }
    if (e.n_samples < 2) {
        cli_fail("evaluate", "need at least 2 images, have %zu", e.n_samples);
        goto done;
    }
    status = report_evaluation(&r, &e);
done:
    classifier_free(&e.cls);
    free(e.test), free(e.samples), free(e.test_labels);
    if (m.dim)
        app_model_free(&m);
    return status;
}
