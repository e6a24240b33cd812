#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int choice_valid(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *p = choices; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int range_set(const cli_option *o)
{
    return !(o->min == 0 && o->max == 0);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "scoresde %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'scoresde %s --help')\n", cmd->name);
    return EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "scoresde %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Parses one value into o->dest; returns 0 or EXIT_USAGE after reporting. */
static int parse_value(const cli_command *cmd, cli_option *o, const char *value)
{
    char *end = NULL;
    char msg[256];
    errno = 0;
    switch (o->kind) {
    case CLI_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case CLI_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno)
            return cli_usage_error(cmd, "--%s: '%s' is not an integer", o->name, value);
        if (range_set(o) && (v < o->min || v > o->max))
            return cli_usage_error(cmd, "--%s: %ld is out of range (expected %g to %g)", o->name, v,
                                   o->min, o->max);
        *(long *)o->dest = v;
        return 0;
    }
    case CLI_SIZE:
    case CLI_U64: {
        if (value[0] == '-')
            return cli_usage_error(cmd, "--%s: '%s' is negative (expected a non-negative integer)",
                                   o->name, value);
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno)
            return cli_usage_error(cmd, "--%s: '%s' is not a non-negative integer", o->name, value);
        if (range_set(o) && ((double)v < o->min || (double)v > o->max))
            return cli_usage_error(cmd, "--%s: %llu is out of range (expected %.0f to %.0f)", o->name,
                                   v, o->min, o->max);
        if (o->kind == CLI_SIZE)
            *(size_t *)o->dest = (size_t)v;
        else
            *(uint64_t *)o->dest = (uint64_t)v;
        return 0;
    }
    case CLI_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end || !isfinite(v))
            return cli_usage_error(cmd, "--%s: '%s' is not a finite number", o->name, value);
        if (range_set(o) && (v < o->min || v > o->max || (o->min_open && v == o->min)))
            return cli_usage_error(cmd, "--%s: %g is out of range (expected %s%g, %g])", o->name, v,
                                   o->min_open ? "(" : "[", o->min, o->max);
        *(double *)o->dest = v;
        return 0;
    }
    case CLI_STRING:
        if (!*value)
            return cli_usage_error(cmd, "--%s: empty value", o->name);
        *(const char **)o->dest = value;
        return 0;
    case CLI_CHOICE:
        if (!choice_valid(o->choices, value))
            return cli_usage_error(cmd, "--%s: unknown value '%s' (expected one of: %s)", o->name,
                                   value, o->choices);
        *(const char **)o->dest = value;
        return 0;
    case CLI_REPEAT:
        msg[0] = '\0';
        if (o->repeat(value, o->dest, msg, sizeof msg) != 0)
            return cli_usage_error(cmd, "--%s: %s", o->name, msg);
        return 0;
    }
    return cli_usage_error(cmd, "--%s: internal error (unknown option kind)", o->name);
}

int cli_parse(const cli_command *cmd, cli_option *opts, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(cmd, opts, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return cli_usage_error(cmd, "unexpected argument '%s' (options start with --)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        cli_option *o = NULL;
        for (cli_option *p = opts; p->name; p++)
            if (strlen(p->name) == name_len && strncmp(p->name, name, name_len) == 0)
                o = p;
        if (!o)
            return cli_usage_error(cmd, "unknown option '--%.*s'", (int)name_len, name);
        if (o->was_set && o->kind != CLI_REPEAT)
            return cli_usage_error(cmd, "--%s given twice", o->name);
        const char *value = NULL;
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "--%s takes no value", o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage_error(cmd, "--%s needs a value", o->name);
        }
        int rc = parse_value(cmd, o, value);
        if (rc)
            return rc;
        o->was_set = 1;
    }
    return 0;
}

int cli_was_set(const cli_option *opts, const char *name)
{
    for (const cli_option *p = opts; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p->was_set;
    return 0;
}

static void format_default(const cli_option *o, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!o->dest)
        return;
    switch (o->kind) {
    case CLI_FLAG: snprintf(buf, size, "%s", *(int *)o->dest ? "on" : "off"); break;
    case CLI_INT: snprintf(buf, size, "%ld", *(long *)o->dest); break;
    case CLI_SIZE: snprintf(buf, size, "%zu", *(size_t *)o->dest); break;
    case CLI_U64: snprintf(buf, size, "%" PRIu64, *(uint64_t *)o->dest); break;
    case CLI_DOUBLE: snprintf(buf, size, "%g", *(double *)o->dest); break;
    case CLI_STRING:
    case CLI_CHOICE: {
        const char *s = *(const char **)o->dest;
        snprintf(buf, size, "%s", s ? s : "none");
        break;
    }
    case CLI_REPEAT: break;
    }
}

void cli_print_help(const cli_command *cmd, const cli_option *opts, FILE *out)
{
    fprintf(out, "usage: scoresde %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage, cmd->summary);
    for (const cli_option *o = opts; o->name; o++) {
        char def[128], left[64];
        format_default(o, def, sizeof def);
        const char *meta = o->kind == CLI_FLAG ? "" : o->kind == CLI_CHOICE ? " {…}" : " VALUE";
        snprintf(left, sizeof left, "--%s%s", o->name, meta);
        fprintf(out, "  %-24s %s", left, o->help);
        if (o->kind == CLI_CHOICE)
            fprintf(out, "; one of %s", o->choices);
        if (def[0] && o->kind != CLI_FLAG)
            fprintf(out, " (default %s)", def);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n\nexample:\n  %s\n", "--help", "show this text", cmd->example);
}

int cli_parse_doubles(const char *text, double *out, int max, char *msg, size_t msg_size)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || (*end && *end != ',')) {
            snprintf(msg, msg_size, "'%s' is not a comma-separated list of finite numbers", text);
            return -1;
        }
        if (count == max) {
            snprintf(msg, msg_size, "'%s' has more than %d values", text, max);
            return -1;
        }
        out[count++] = v;
        p = *end ? end + 1 : end;
    }
    if (count == 0)
        snprintf(msg, msg_size, "empty list");
    return count ? count : -1;
}

int atomic_open(atomic_file *af, const char *path, char *msg, size_t msg_size)
{
    memset(af, 0, sizeof *af);
    size_t len = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(len);
    if (!af->path || !af->tmp_path) {
        snprintf(msg, msg_size, "%s: out of memory", path);
        atomic_abort(af);
        return -1;
    }
    snprintf(af->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        snprintf(msg, msg_size, "%s: cannot create: %s", path, strerror(errno));
        free(af->tmp_path);
        af->tmp_path = NULL;
        atomic_abort(af);
        return -1;
    }
    return 0;
}

int atomic_commit(atomic_file *af, char *msg, size_t msg_size)
{
    int ok = fflush(af->fp) == 0 && !ferror(af->fp) && fsync(fileno(af->fp)) == 0;
    int saved = errno;
    ok = (fclose(af->fp) == 0) && ok;
    af->fp = NULL;
    if (ok && rename(af->tmp_path, af->path) == 0) {
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return 0;
    }
    snprintf(msg, msg_size, "%s: write failed: %s (nothing was written)", af->path,
             strerror(saved ? saved : errno));
    atomic_abort(af);
    return -1;
}

void atomic_abort(atomic_file *af)
{
    if (af->fp)
        fclose(af->fp);
    if (af->tmp_path)
        unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

volatile int cli_interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* past a file-size limit (ulimit -f) a write then fails with EFBIG and is reported like a
     * full disk, instead of SIGXFSZ killing the process mid-write */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &sa, NULL);
}

double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, const char *label, size_t total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total ? total : 1;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t_start = p->t_last = wall_seconds();
    p->last_percent = -1;
}

void progress_update(progress *p, size_t done)
{
    p->done = done;
    if (p->quiet)
        return;
    double now = wall_seconds(), elapsed = now - p->t_start;
    int percent = (int)(100.0 * (double)done / (double)p->total);
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
    if (p->tty) {
        if (now - p->t_last < 0.1 && done < p->total)
            return;
        int filled = percent * 30 / 100;
        fprintf(stderr, "\r%s [%.*s%*s] %3d%% %zu/%zu %.1f/s ETA %.0fs ", p->label, filled,
                "##############################", 30 - filled, "", percent, done, p->total, rate, eta);
        fflush(stderr);
    } else if (percent != p->last_percent) {
        fprintf(stderr, "%s: %d%% (%zu/%zu, %.1f/s, ETA %.0fs)\n", p->label, percent, done, p->total,
                rate, eta);
    }
    p->t_last = now;
    p->last_percent = percent;
}

void progress_finish(progress *p)
{
    if (!p->quiet && p->tty)
        fputc('\n', stderr);
}
