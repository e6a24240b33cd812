/* fuzz_cli.c — the option parser every subcommand uses (apps/cli.c: cli_parse), on a table with
 * one option of every kind and the range rules the subcommands use. The input is argv: arguments
 * separated by NUL bytes. When the parser accepts, every value must honour its declared kind and
 * range, and --help must print. Also fuzzes cli_parse_doubles (the "--x0 1,2,3" lists). */
#include <math.h>

#include "cli.h"
#include "fuzz_common.h"

static int parse_pair(const char *value, void *dest, scoresde_error *err)
{
    int *count = dest;
    if (!strchr(value, '=')) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' is not of the form name=value", value);
        return -1;
    }
    (*count)++;
    return 0;
}

static const cli_command command = {"fuzz", "Fuzzing table.", "[options]", "scoresde fuzz --n 3"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) { /* --help prints to stdout */
        if (!freopen("/dev/null", "w", stdout))
            abort();
        quiet = 1;
    }
    /* argv[0] is the subcommand; the input's NUL-separated pieces follow */
    enum { MAX_ARGS = 64 };
    char *copy = malloc(size + 1), *argv[MAX_ARGS + 1];
    memcpy(copy, data, size);
    copy[size] = 0;
    int argc = 0;
    argv[argc++] = "fuzz";
    for (size_t start = 0; start <= size && argc < MAX_ARGS;) {
        argv[argc++] = copy + start;
        start += strlen(copy + start) + 1;
    }
    argv[argc] = NULL;

    int flag = 0, pairs = 0;
    long level = 3, any = 0;
    size_t n = 10, big = 0;
    uint64_t seed = 0;
    double rtol = 1e-3, t1 = 1.0, free_d = 0.0;
    const char *name = NULL, *method = "em";
    cli_option opts[] = {
        {"flag", CLI_FLAG, &flag, "a flag", NULL, 0, 0, 0, NULL, 0},
        {"level", CLI_INT, &level, "an integer in [-5, 5]", NULL, -5, 5, 0, NULL, 0},
        {"any", CLI_INT, &any, "any integer", NULL, 0, 0, 0, NULL, 0},
        {"n", CLI_SIZE, &n, "a count >= 1", NULL, 1, 1e9, 0, NULL, 0},
        {"big", CLI_SIZE, &big, "any size", NULL, 0, 0, 0, NULL, 0},
        {"seed", CLI_U64, &seed, "a seed", NULL, 0, 0, 0, NULL, 0},
        {"rtol", CLI_DOUBLE, &rtol, "in (0, 1]", NULL, 0, 1, 1, NULL, 0},
        {"t1", CLI_DOUBLE, &t1, "in [-1e300, 1e300]", NULL, -1e300, 1e300, 0, NULL, 0},
        {"x", CLI_DOUBLE, &free_d, "any finite number", NULL, 0, 0, 0, NULL, 0},
        {"name", CLI_STRING, &name, "a string", NULL, 0, 0, 0, NULL, 0},
        {"method", CLI_CHOICE, &method, "a choice", "em,milstein,sra1,a,ab", 0, 0, 0, NULL, 0},
        {"param", CLI_REPEAT, &pairs, "name=value, repeatable", NULL, 0, 0, 0, parse_pair, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0},
    };
    int rc = cli_parse(&command, opts, argc, argv);
    if (rc != 0 && rc != 1 && rc != EXIT_USAGE)
        abort();
    if (rc == 0) {
        if (level < -5 || level > 5 || n < 1 || n > 1000000000u)
            abort();
        if (!(rtol > 0.0 && rtol <= 1.0) || !(fabs(t1) <= 1e300) || !isfinite(free_d))
            abort();
        if (name && !*name)
            abort();
        if (strcmp(method, "em") && strcmp(method, "milstein") && strcmp(method, "sra1") &&
            strcmp(method, "a") && strcmp(method, "ab"))
            abort();
        if (flag != 0 && flag != 1)
            abort();
    }

    /* the comma-separated lists, on the whole input as one string */
    double values[4];
    scoresde_error error;
    memset(&error, 0, sizeof error);
    int count = cli_parse_doubles(copy, values, 4, &error);
    if (count < 0)
        fuzz_check_message(error.message, sizeof error.message);
    else if (count == 0 || count > 4)
        abort();
    else
        for (int i = 0; i < count; i++)
            if (!isfinite(values[i]))
                abort();
    free(copy);
    return 0;
}
