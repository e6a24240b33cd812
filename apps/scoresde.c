/* scoresde — the one command-line tool: `scoresde <command> [options]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dist.h"

#ifndef SCORESDE_VERSION
#define SCORESDE_VERSION "unknown"
#endif

const command_entry scoresde_commands[] = {
    {"solve", cmd_solve, "integrate a built-in SDE (gbm, ou, double-well, lorenz) with any stepper"},
    {"train", cmd_train, "train a score network (denoising, sliced or exact score matching; NCSN, DDPM)"},
    {"sample", cmd_sample, "draw samples with the PC, ODE, reverse-SDE or annealed Langevin sampler"},
    {"likelihood", cmd_likelihood, "exact log-likelihood and bits/dim through the probability-flow ODE"},
    {"encode", cmd_encode, "map data to latents through the probability-flow ODE"},
    {"decode", cmd_decode, "map latents to data through the probability-flow ODE"},
    {"interpolate", cmd_interpolate, "decode a spherical interpolation between two encoded points"},
    {"inpaint", cmd_inpaint, "fill in unknown coordinates or pixels given a mask"},
    {"compare", cmd_compare, "run several samplers on one model: NFE, time, quality, plots"},
    {"evaluate", cmd_evaluate, "Frechet distance of Fashion-MNIST samples in classifier features"},
    {NULL, NULL, NULL},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: scoresde <command> [options]   (scoresde <command> --help for its options)\n\n"
                 "commands:\n");
    for (const command_entry *c = scoresde_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\n  --version    print the version\n");
}

/* The commands that split their work over MPI ranks (dist.h); under mpirun the others run on
 * rank 0 alone. */
static int runs_on_all_ranks(const char *name)
{
    static const char *const names[] = {"sample", "likelihood", "encode", "decode", "compare", "evaluate",
                                        "train"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("scoresde %s\n", SCORESDE_VERSION);
        return 0;
    }
    for (const command_entry *c = scoresde_commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0) {
            cli_install_signal_handlers();
            if (!dist_is_root() && !runs_on_all_ranks(c->name))
                return 0;
            return c->run(argc - 1, argv + 1);
        }
    fprintf(stderr, "scoresde: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (dist_init(&argc, &argv))
        return 1;
    return dist_finalize(run(argc, argv));
}
