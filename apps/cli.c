#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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
    scoresde_error error;
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
        scoresde_error_clear(&error);
        if (o->repeat(value, o->dest, &error) != 0)
            return cli_usage_error(cmd, "--%s: %s", o->name, error.message);
        return 0;
    }
    return cli_usage_error(cmd, "--%s: internal error (unknown option kind)", o->name);
}

int cli_parse(const cli_command *cmd, cli_option *opts, int argc, char **argv)
{
    int print_options = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(cmd, opts, stdout);
            return 1;
        }
        if (strcmp(arg, "--print-options") == 0) { /* after the others: they are shown parsed */
            print_options = 1;
            continue;
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
    if (print_options) {
        cli_print_options(opts, stdout);
        return 1;
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

cli_option *cli_find(cli_option *opts, const char *name)
{
    for (cli_option *p = opts; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int cli_describe(cli_option *opts, const char *name, const char *help)
{
    cli_option *o = cli_find(opts, name);
    if (!o)
        return -1;
    o->help = help;
    return 0;
}

/* The help text without its default mark (length), and the words after the mark: NULL when there
 * is none, "" for CLI_REQUIRED. */
static const char *help_default(const char *help, size_t *help_len)
{
    const char *mark = strstr(help, CLI_DEFAULT_MARK);
    *help_len = mark ? (size_t)(mark - help) : strlen(help);
    if (!mark)
        return NULL;
    return strcmp(mark, CLI_REQUIRED) == 0 ? "" : mark + 1;
}

/* The shortest %g form that reads back as the same double (0.1, not 0.10000000000000001). */
static void format_double(double v, char *buf, size_t size)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* The value of an option as --help and --print-options show it: the parsed value when given,
 * else the described default when there is one ("(required)" for a required option), else the
 * value in dest. Empty for repeatable options. */
static void format_value(const cli_option *o, char *buf, size_t size)
{
    size_t help_len;
    const char *words = help_default(o->help, &help_len);
    buf[0] = '\0';
    if (words && !o->was_set) {
        snprintf(buf, size, *words ? "%s" : "(required)", words);
        return;
    }
    if (!o->dest)
        return;
    switch (o->kind) {
    case CLI_FLAG: snprintf(buf, size, "%s", *(int *)o->dest ? "on" : "off"); break;
    case CLI_INT: snprintf(buf, size, "%ld", *(long *)o->dest); break;
    case CLI_SIZE: snprintf(buf, size, "%zu", *(size_t *)o->dest); break;
    case CLI_U64: snprintf(buf, size, "%" PRIu64, *(uint64_t *)o->dest); break;
    case CLI_DOUBLE: format_double(*(double *)o->dest, buf, size); break;
    case CLI_STRING:
    case CLI_CHOICE: {
        const char *s = *(const char **)o->dest;
        snprintf(buf, size, "%s", s ? s : "none");
        break;
    }
    case CLI_REPEAT: break;
    }
}

/* Display width of the first n bytes of text (at most up to its end): UTF-8 continuation bytes
 * (10xxxxxx) add no column. */
static size_t display_width_n(const char *text, size_t n)
{
    size_t width = 0;
    for (size_t i = 0; i < n && text[i]; i++)
        width += ((unsigned char)text[i] & 0xC0) != 0x80;
    return width;
}

size_t cli_display_width(const char *text)
{
    return display_width_n(text, SIZE_MAX);
}

/* --help columns: options indented by 2, help text from column HELP_COLUMN, lines at most
 * HELP_WIDTH wide. */
enum { HELP_INDENT = 2, HELP_COLUMN = 28, HELP_WIDTH = 100 };

/* Writes text word by word from column `col` (the cursor's, at the start of the help column),
 * wrapping at HELP_WIDTH to lines indented to HELP_COLUMN; widths are display widths. A word too
 * long for any line (a comma-separated list) is broken after a comma. */
static void print_wrapped(FILE *out, const char *text, size_t col)
{
    const char *p = text;
    int line_empty = 1, glued = 0; /* glued: p continues a word broken after a comma */
    while (*p) {
        if (!glued) {
            while (*p == ' ')
                p++;
            if (!*p)
                break;
        }
        size_t len = strcspn(p, " "), sep = line_empty || glued ? 0 : 1;
        size_t w = display_width_n(p, len);
        if (w > HELP_WIDTH - HELP_COLUMN) {
            size_t cut = 0;
            for (size_t i = 0; i < len; i++)
                if (p[i] == ',' && col + sep + display_width_n(p, i + 1) <= HELP_WIDTH)
                    cut = i + 1;
            if (!cut && !line_empty) {
                fprintf(out, "\n%*s", HELP_COLUMN, "");
                col = HELP_COLUMN, line_empty = 1;
                continue;
            }
            if (cut)
                len = cut, w = display_width_n(p, len);
        } else if (!line_empty && col + sep + w > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
            col = HELP_COLUMN, line_empty = 1;
            continue;
        }
        if (sep)
            fputc(' ', out), col++;
        fwrite(p, 1, len, out);
        col += w, line_empty = 0;
        p += len;
        glued = *p && *p != ' ';
    }
    fputc('\n', out);
}

/* "--name" and what follows it: the choices themselves (a|b|c), N for integers, X for reals. */
static void option_left(const cli_option *o, char *buf, size_t size)
{
    int n = snprintf(buf, size, "--%s", o->name);
    if (n < 0 || (size_t)n >= size)
        return;
    switch (o->kind) {
    case CLI_FLAG: break;
    case CLI_INT:
    case CLI_SIZE:
    case CLI_U64: snprintf(buf + n, size - (size_t)n, " N"); break;
    case CLI_DOUBLE: snprintf(buf + n, size - (size_t)n, " X"); break;
    case CLI_CHOICE: {
        size_t used = (size_t)n;
        if (used + 1 < size)
            buf[used++] = ' ';
        for (const char *c = o->choices; *c && used + 1 < size; c++)
            buf[used++] = *c == ',' ? '|' : *c;
        buf[used] = '\0';
        break;
    }
    case CLI_STRING:
    case CLI_REPEAT: snprintf(buf + n, size - (size_t)n, " VALUE"); break;
    }
}

/* One option: the left part, then its help and default from HELP_COLUMN (on the next line when
 * the left part is wider than its column). */
static void print_option(FILE *out, const char *left, const char *help)
{
    size_t w = HELP_INDENT + cli_display_width(left);
    fprintf(out, "%*s%s", HELP_INDENT, "", left);
    if (w + 2 > HELP_COLUMN) {
        fprintf(out, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(out, "%*s", (int)(HELP_COLUMN - w), "");
    }
    print_wrapped(out, help, HELP_COLUMN);
}

void cli_print_help(const cli_command *cmd, const cli_option *opts, FILE *out)
{
    fprintf(out, "usage: scoresde %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage, cmd->summary);
    for (const cli_option *o = opts; o->name; o++) {
        char value[512], left[512], text[2048];
        size_t help_len;
        const char *words = help_default(o->help, &help_len);
        format_value(o, value, sizeof value);
        option_left(o, left, sizeof left);
        if (words && !*words)
            snprintf(text, sizeof text, "%.*s (required)", (int)help_len, o->help);
        else if (o->kind == CLI_FLAG || o->kind == CLI_REPEAT || !value[0])
            snprintf(text, sizeof text, "%.*s", (int)help_len, o->help);
        else
            snprintf(text, sizeof text, "%.*s (default %s)", (int)help_len, o->help, value);
        print_option(out, left, text);
    }
    print_option(out, "--print-options", "print the value of every option, as parsed, and exit");
    print_option(out, "--help", "show this text");
    fprintf(out, "\nexample:\n  %s\n", cmd->example);
}

void cli_print_options(const cli_option *opts, FILE *out)
{
    for (const cli_option *o = opts; o->name; o++) {
        char value[512];
        if (o->kind == CLI_REPEAT)
            continue;
        format_value(o, value, sizeof value);
        fprintf(out, "%s=%s\n", o->name, value);
    }
}

int cli_parse_doubles(const char *text, double *out, int max, scoresde_error *err)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || (*end && *end != ',')) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' is not a comma-separated list of finite numbers", text);
            return -1;
        }
        if (count == max) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' has more than %d values", text, max);
            return -1;
        }
        out[count++] = v;
        p = *end ? end + 1 : end;
    }
    if (count == 0)
        scoresde_error_fail(err, SCORESDE_EINVAL, "empty list");
    return count ? count : -1;
}

int atomic_open(atomic_file *af, const char *path, scoresde_error *err)
{
    return scoresde_file_open(af, path, err) == SCORESDE_OK ? 0 : -1;
}

int atomic_commit(atomic_file *af, scoresde_error *err)
{
    return scoresde_file_commit(af, err) == SCORESDE_OK ? 0 : -1;
}

void atomic_abort(atomic_file *af)
{
    scoresde_file_abort(af);
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
    progress_update_partial(p, (double)done);
}

void progress_update_partial(progress *p, double done)
{
    if (done < p->done_partial)
        return;
    p->done_partial = done;
    if (p->quiet)
        return;
    double now = wall_seconds(), elapsed = now - p->t_start;
    int percent = (int)(100.0 * done / (double)p->total);
    double rate = elapsed > 0 ? done / elapsed : 0.0;
    double eta = rate > 0 ? ((double)p->total - done) / rate : 0.0;
    int whole = done == floor(done);
    if (p->tty) {
        if (now - p->t_last < 0.1 && done < (double)p->total)
            return;
        int filled = percent * 30 / 100;
        fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.*f/%zu %.1f/s ETA %.0fs ", p->label, filled,
                "##############################", 30 - filled, "", percent, whole ? 0 : 1, done,
                p->total, rate, eta);
        fflush(stderr);
    } else if (percent / 10 != p->last_percent / 10) {
        /* a log file gets a line per tenth, not the hundred a terminal's bar redraws */
        fprintf(stderr, "%s: %d%% (%.*f/%zu, %.1f/s, ETA %.0fs)\n", p->label, percent, whole ? 0 : 1,
                done, p->total, rate, eta);
    }
    p->t_last = now;
    p->last_percent = percent;
}

void progress_finish(progress *p)
{
    if (!p->quiet && p->tty)
        fputc('\n', stderr);
}
