/* cli.h — the option tables every scoresde subcommand is built from, and the small pieces of
 * plumbing they share (atomic output files, progress, interrupt flag).
 *
 * A subcommand declares its options once, in a table: the same table parses argv, checks ranges,
 * and prints --help with every option, its default and its units. A bad value is reported by name
 * and the program exits with status 2.
 *
 * The default --help prints is read from the option's destination (the value the parser leaves
 * there when the option is not given), so the two cannot disagree; only a default the command
 * derives later (OUT.ckpt, the shipped model) is described in words (CLI_DEFAULT_IS below).
 * --print-options prints every option's value after parsing (the defaults for those not given),
 * one name=value a line, in the same form --help prints the defaults.
 */
#ifndef SCORESDE_CLI_H
#define SCORESDE_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scoresde_file.h"
#include "scoresde_status.h"

enum { EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

typedef enum cli_kind {
    CLI_FLAG,    /* int: set to 1 when present */
    CLI_INT,     /* long */
    CLI_SIZE,    /* size_t, >= min */
    CLI_U64,     /* uint64_t (seeds) */
    CLI_DOUBLE,  /* double, finite, in [min, max] (or (min, max] when min_open) */
    CLI_STRING,  /* const char * */
    CLI_CHOICE,  /* const char *, one of `choices` (comma-separated) */
    CLI_REPEAT   /* calls `repeat(value, dest)` for each occurrence */
} cli_kind;

typedef struct cli_option {
    const char *name;   /* without the leading "--" */
    cli_kind kind;
    void *dest;
    const char *help;   /* one line; say the unit */
    const char *choices;
    double min, max;    /* numeric range (ignored when min == max == 0) */
    int min_open;       /* 1: the minimum itself is not allowed */
    int (*repeat)(const char *value, void *dest, scoresde_error *err);
    int was_set;        /* filled by the parser */
} cli_option;

/* The default --help prints is the value in dest, except when the help text ends with one of
 * these (a string literal joined at compile time: "checkpoint file" CLI_DEFAULT_IS("OUT.ckpt")):
 * a default the command derives after parsing, described in words, or "(required)" for an
 * option without which the command refuses to run. Help texts never state a default otherwise. */
#define CLI_DEFAULT_MARK "\x1f"
#define CLI_DEFAULT_IS(words) CLI_DEFAULT_MARK words
#define CLI_REQUIRED CLI_DEFAULT_MARK CLI_DEFAULT_MARK

typedef struct cli_command {
    const char *name;
    const char *summary;
    const char *usage;   /* text after "scoresde <name> " */
    const char *example; /* full example command line */
} cli_command;

/* Parses argv[1..argc) (argv[0] is the subcommand name) against opts (terminated by a
 * zero entry). Returns 0 on success, 1 if --help or --print-options was printed (caller exits 0),
 * EXIT_USAGE after printing "scoresde <cmd>: <what is wrong>" to stderr. Defaults are the values
 * already in *dest. */
int cli_parse(const cli_command *cmd, cli_option *opts, int argc, char **argv);
/* Prints the --help text: usage, each option with its choices, help and default (the words of
 * CLI_DEFAULT_IS, else read from dest), aligned and wrapped by display width (UTF-8 aware), then
 * the example. */
void cli_print_help(const cli_command *cmd, const cli_option *opts, FILE *out);
/* Prints "name=value" for every option but the repeatable ones: the parsed value, or for an
 * option not given its default as --help prints it. */
void cli_print_options(const cli_option *opts, FILE *out);
/* Looks up an option by name to ask whether the user set it. */
int cli_was_set(const cli_option *opts, const char *name);
/* Looks up an option by name (NULL if the table has none). */
cli_option *cli_find(cli_option *opts, const char *name);
/* Replaces an option's help text (which may end with CLI_DEFAULT_IS or CLI_REQUIRED). Returns 0,
 * or -1 when the table has no such option. */
int cli_describe(cli_option *opts, const char *name, const char *help);
/* Display width of UTF-8 text on a terminal: one column per character, whatever its bytes. */
size_t cli_display_width(const char *text);

/* Reports a usage error for `cmd` and returns EXIT_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a runtime failure for `cmd` (message on stderr) and returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "1,2.5,-3" into at most max doubles; returns the count or -1 (err filled). */
int cli_parse_doubles(const char *text, double *out, int max, scoresde_error *err);

/* ---- Atomic output (scoresde_file.h): a temporary beside the target, fsync, rename. ---- */
typedef scoresde_file atomic_file;
/* Returns 0 or -1 with err naming the path and the errno text. */
int atomic_open(atomic_file *af, const char *path, scoresde_error *err);
int atomic_commit(atomic_file *af, scoresde_error *err); /* closes; the file appears whole */
void atomic_abort(atomic_file *af);                             /* closes and removes the temporary */

/* ---- Interrupts: SIGINT/SIGTERM raise this flag; solvers poll it and stop cleanly. SIGXFSZ is
 * ignored, so writes past a file-size limit fail (EFBIG) and are reported. ---- */
extern volatile int cli_interrupted;
void cli_install_signal_handlers(void);

/* ---- Progress on stderr: a bar with rate and ETA on a terminal, a line per 10% otherwise. */
typedef struct progress {
    const char *label;
    size_t total, done;
    double done_partial; /* ≥ done: items, counting a batch part-way through */
    double t_start, t_last;
    int last_percent, tty, quiet;
} progress;
void progress_start(progress *p, const char *label, size_t total, int quiet);
void progress_update(progress *p, size_t done);
/* The same with a fractional count of items (a batch part-way through: "3.4/64"). Never moves the
 * bar back. */
void progress_update_partial(progress *p, double done);
void progress_finish(progress *p);

double wall_seconds(void);

#endif
