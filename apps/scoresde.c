/* scoresde — the one command-line tool: `scoresde <command> [options]`. */
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "snet_gemm.h"

extern char **environ;

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

/* ---- OpenMP's wait policy --------------------------------------------------------------------
 * libgomp reads OMP_WAIT_POLICY once, in its load-time constructor, before main. Unset, an idle
 * OpenMP thread spins for about 3 ms after each parallel region (GOMP_SPINCOUNT 300 000), and on a
 * busy machine that spinning takes the core from the thread that has the work: every region then
 * costs a scheduler slice (2–8 ms measured on 2 cores beside two busy processes). Passive waiting
 * (a futex) costs 20–100 µs per region on an idle machine instead of 3 µs, which the network's
 * tiles (scorenet/snet_gemm.h) and the solvers' grains (solvers/slv_sde_impl.h) keep small.
 *
 * So when the user has set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, the program sets
 * OMP_WAIT_POLICY=passive and executes itself again, before anything else (MPI_Init included):
 * once, since the variable is then set. A user's setting is never changed; if the exec fails the
 * program runs on as it is. The exec loads the program and its libraries a second time (~14 ms),
 * so it is skipped where no OpenMP team waits: help, --version, and `solve`, whose solver sizes
 * its teams by the wait policy itself (a spinning team only for ~10 ms of work per thread).
 * Under valgrind (its preload library in LD_PRELOAD) there is no exec either: valgrind would run
 * the new image unchecked unless asked to trace children. */
static void exec_with_passive_omp_wait(int argc, char **argv)
{
    static const char *const no_team[] = {"--help", "-h", "help", "--version", "--blas-kernel",
                                          "solve"};
    if (argc < 2 || getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL)
        return;
    for (size_t i = 0; i < sizeof no_team / sizeof *no_team; i++)
        if (strcmp(argv[1], no_team[i]) == 0)
            return;
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL)
        return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY"); /* the exec failed: run on as we were started */
}

/* ---- The BLAS in --version ------------------------------------------------------------------- */

/* Hidden argument: `scoresde --blas-kernel` prints the kernel OpenBLAS chose in this process. */
#define BLAS_KERNEL_ARG "--blas-kernel"

/* The kernel OpenBLAS picks on this CPU by itself: this binary run with --blas-kernel and
 * OPENBLAS_CORETYPE removed from its environment. Fills out with the name, or "unknown" when the
 * child cannot be run, fails, prints nothing sensible or takes more than 10 s. */
static void detected_blas_kernel(char *out, size_t out_size)
{
    snprintf(out, out_size, "unknown");
    size_t n_env = 0;
    while (environ[n_env] != NULL)
        n_env++;
    char **env = malloc((n_env + 1) * sizeof *env);
    if (env == NULL)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0)
            env[kept++] = environ[i];
    env[kept] = NULL;

    int fd[2];
    posix_spawn_file_actions_t actions;
    if (pipe(fd) != 0) {
        free(env);
        return;
    }
    /* The path /proc/self/exe points at, rather than the link itself: under valgrind the link
     * is valgrind's own binary and only readlink is redirected to this one. */
    char self[4096] = "/proc/self/exe";
    ssize_t self_len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (self_len > 0)
        self[self_len] = 0;
    else
        snprintf(self, sizeof self, "/proc/self/exe");
    char *child_argv[] = {"scoresde", BLAS_KERNEL_ARG, NULL};
    pid_t pid = -1;
    int spawned = 0;
    if (posix_spawn_file_actions_init(&actions) == 0) {
        if (posix_spawn_file_actions_addclose(&actions, fd[0]) == 0 &&
            posix_spawn_file_actions_adddup2(&actions, fd[1], STDOUT_FILENO) == 0 &&
            posix_spawn_file_actions_addclose(&actions, fd[1]) == 0 &&
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0) == 0)
            spawned = posix_spawn(&pid, self, &actions, NULL, child_argv, env) == 0;
        posix_spawn_file_actions_destroy(&actions);
    }
    close(fd[1]);
    free(env);
    if (!spawned) {
        close(fd[0]);
        return;
    }
    char buf[64];
    size_t len = 0;
    int at_end = 0; /* the child closed its output */
    struct pollfd pfd = {fd[0], POLLIN, 0};
    while (len + 1 < sizeof buf && poll(&pfd, 1, 10000) > 0) {
        ssize_t got = read(fd[0], buf + len, sizeof buf - 1 - len);
        if (got <= 0) {
            at_end = 1;
            break;
        }
        len += (size_t)got;
    }
    close(fd[0]);
    int status = 0;
    if (!at_end) /* silent for 10 s, or a reply longer than any kernel name */
        kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) != pid || !at_end || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return;
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)buf[i]) && buf[i] != '_' && buf[i] != '-')
            return;
    if (len > 0)
        snprintf(out, out_size, "%s", buf);
}

/* "scoresde VERSION", then the BLAS: its configuration, the kernel in use and, when
 * OPENBLAS_CORETYPE chose it, the kernel OpenBLAS would pick without it. The program never
 * changes the variable; it only says what it does. */
static void print_version(void)
{
    printf("scoresde %s\n", SCORESDE_VERSION);
    const char *kernel = snet_blas_kernel(), *forced = getenv("OPENBLAS_CORETYPE");
    printf("BLAS: %s; kernel %s", snet_blas_config(), kernel);
    if (forced == NULL || forced[0] == 0) {
        printf("\n");
        return;
    }
    fflush(stdout); /* nothing buffered is duplicated into the child */
    char own[64];
    detected_blas_kernel(own, sizeof own);
    if (strcasecmp(kernel, forced) == 0)
        printf(" (forced by OPENBLAS_CORETYPE");
    else
        printf(" (OPENBLAS_CORETYPE=%s was not applied", forced);
    if (strcmp(own, "unknown") == 0)
        printf("; this CPU's own choice is unknown: this program failed to run without the "
               "variable)\n");
    else if (strcasecmp(own, kernel) == 0)
        printf("; %s is also this CPU's own choice)\n", own);
    else
        printf("; this CPU's own choice would be %s — unset the variable for it, if your OpenBLAS is "
               "safe on this CPU)\n", own);
}

static void print_usage(FILE *out)
{
    fprintf(out, "usage: scoresde <command> [options]   (scoresde <command> --help for its options)\n\n"
                 "commands:\n");
    for (const command_entry *c = scoresde_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\n  --version    print the version and the BLAS library and kernel in use\n");
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
    exec_with_passive_omp_wait(argc, argv);
    /* The version and the BLAS probe need no MPI (and a process that spawns is better without). */
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        print_version();
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], BLAS_KERNEL_ARG) == 0) {
        printf("%s\n", snet_blas_kernel());
        return 0;
    }
    if (dist_init(&argc, &argv))
        return 1;
    return dist_finalize(run(argc, argv));
}
