/* fuzz_solve.c — `scoresde solve` (apps/cmd_solve.c) with fuzzed options: the whole path from argv
 * through cli_parse, the parameter and --x0 checks, to a solve. The input is NUL-separated
 * arguments appended to "--paths 2 --steps 8 --threads 1", which bound the work (giving them again
 * is a usage error); inputs that name --out are skipped, so nothing is written. The exit status must
 * be 0, 1 (a reported failure) or 2 (a usage error). */
#include "cli.h"
#include "commands.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) { /* the summary and --help go to stdout */
        if (!freopen("/dev/null", "w", stdout))
            abort();
        quiet = 1;
    }
    enum { MAX_ARGS = 48 };
    char *copy = malloc(size + 1), *argv[MAX_ARGS + 8];
    memcpy(copy, data, size);
    copy[size] = 0;
    int argc = 0;
    const char *fixed[] = {"solve", "--paths", "2", "--steps", "8", "--threads", "1"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[argc++] = (char *)fixed[i];
    for (size_t start = 0; start < size && argc < MAX_ARGS;) {
        if (strncmp(copy + start, "--out", 5) == 0) {
            free(copy);
            return -1; /* not added to the corpus */
        }
        argv[argc++] = copy + start;
        start += strlen(copy + start) + 1;
    }
    argv[argc] = NULL;
    cli_interrupted = 0;
    int rc = cmd_solve(argc, argv);
    if (rc != 0 && rc != 1 && rc != EXIT_USAGE)
        abort();
    free(copy);
    return 0;
}
