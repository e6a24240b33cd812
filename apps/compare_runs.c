/* compare_runs.c — PREFIX.runs.csv (compare.h): the runs of `scoresde compare` measured so far, so
 * that a long comparison interrupted part-way can skip the samplers it has done (--resume). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"

#define IDENTITY_MARK "# scoresde compare runs: "

/* The doubles of compare_run, in file order: the header names them. */
#define RUN_FIELD(f) {#f, offsetof(compare_run, f)}
#define RUN_METRIC(f)                                                                                  \
    {#f, offsetof(compare_run, f.value)}, {#f "_se", offsetof(compare_run, f.se)},                     \
        {#f "_lo", offsetof(compare_run, f.lo)}, {#f "_hi", offsetof(compare_run, f.hi)}
static const struct {
    const char *name;
    size_t offset;
} run_fields[] = {RUN_FIELD(nfe),      RUN_FIELD(seconds), RUN_FIELD(energy), RUN_FIELD(mode_error),
                  RUN_FIELD(flow_max), RUN_METRIC(sw2),    RUN_METRIC(xent),  RUN_METRIC(flow_rms),
                  RUN_METRIC(frechet)};
#undef RUN_FIELD
#undef RUN_METRIC
enum { N_RUN_FIELDS = sizeof run_fields / sizeof run_fields[0] };

static double *run_field(compare_run *run, size_t k) { return (double *)((char *)run + run_fields[k].offset); }

/* "sampler,repeat,nfe,seconds,...,frechet_hi" */
static void header_text(char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "sampler,repeat");
    for (size_t k = 0; k < N_RUN_FIELDS && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, ",%s", run_fields[k].name);
}

int compare_runs_write(const char *path, const char *identity, const compare_row *rows, size_t n_rows,
                       size_t repeats, scoresde_error *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err))
        return -1;
    char header[512];
    header_text(header, sizeof header);
    fprintf(af.fp, IDENTITY_MARK "%s\n%s\n", identity, header);
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; rows[i].done && k < repeats; k++) {
            compare_run run = rows[i].runs[k];
            fprintf(af.fp, "%s,%zu", rows[i].spec.label, k);
            for (size_t f = 0; f < N_RUN_FIELDS; f++)
                fprintf(af.fp, ",%.17g", *run_field(&run, f));
            fprintf(af.fp, "\n");
        }
    return atomic_commit(&af, err) ? -1 : 0;
}

/* The next space-separated field of *text ("" at the end), advancing *text past it. */
static size_t next_field(const char **text, const char **field)
{
    while (**text == ' ')
        ++*text;
    *field = *text;
    size_t len = strcspn(*text, " ");
    *text += len;
    return len;
}

/* Line 1 against this comparison's identity, field by field: another comparison's runs must not be
 * mixed into this one's table. Returns 0, or −1 with err naming the first field that differs. */
static int check_identity(const char *path, const char *line, const char *identity, scoresde_error *err)
{
    const size_t mark = strlen(IDENTITY_MARK);
    if (strncmp(line, IDENTITY_MARK, mark) != 0) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s line 1: expected \"%s...\", found \"%.60s\"", path,
                            IDENTITY_MARK, line);
        return -1;
    }
    const char *have = line + mark, *want = identity, *h, *w;
    size_t h_len, w_len;
    do {
        h_len = next_field(&have, &h);
        w_len = next_field(&want, &w);
        if (h_len != w_len || memcmp(h, w, h_len) != 0) {
            char had[200], expected[200];
            snprintf(had, sizeof had, "%.*s", (int)h_len, h_len ? h : "");
            snprintf(expected, sizeof expected, "%.*s", (int)w_len, w_len ? w : "");
            scoresde_error_fail(err, SCORESDE_EINVAL,
                                "%s holds the runs of another comparison: it has %s where this command "
                                "expects %s (without --resume it is started again)",
                                path, h_len ? had : "no more fields", w_len ? expected : "no more fields");
            return -1;
        }
    } while (w_len);
    return 0;
}

static int check_header(const char *path, const char *line, scoresde_error *err)
{
    char header[512];
    header_text(header, sizeof header);
    if (strcmp(line, header) == 0)
        return 0;
    scoresde_error_fail(err, SCORESDE_EINVAL, "%s line 2: expected the header \"%s\"", path, header);
    return -1;
}

/* One data line, "label,repeat,v1,...": its label (in the line, cut at the first comma), repeat and
 * run. Returns 0, or −1 with err naming the file, the line and what was expected. */
static int parse_run(const char *path, size_t line_no, char *line, size_t repeats, const char **label,
                     size_t *repeat, compare_run *run, scoresde_error *err)
{
    char *comma = strchr(line, ','), *end;
    if (!comma || comma == line)
        goto bad;
    *comma = '\0';
    *label = line;
    errno = 0;
    unsigned long long k = strtoull(comma + 1, &end, 10);
    if (end == comma + 1 || errno || k >= repeats) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s line %zu: repeat '%.20s', expected 0 .. %zu", path, line_no,
                            comma + 1, repeats - 1);
        return -1;
    }
    *repeat = (size_t)k;
    for (size_t f = 0; f < N_RUN_FIELDS; f++) {
        const char *at = end;
        if (*at != ',')
            goto bad;
        *run_field(run, f) = strtod(at + 1, &end);
        if (end == at + 1)
            goto bad;
    }
    if (*end == '\0')
        return 0;
bad:
    scoresde_error_fail(err, SCORESDE_EINVAL,
                        "%s line %zu: expected a sampler, its repeat and %d numbers (or nan), comma-separated",
                        path, line_no, (int)N_RUN_FIELDS);
    return -1;
}

/* Marks done the rows whose runs were all found. Returns how many. */
static int mark_done(compare_row *rows, size_t n_rows, size_t repeats, const unsigned char *found)
{
    int n_done = 0;
    for (size_t i = 0; i < n_rows; i++) {
        size_t k = 0;
        while (k < repeats && found[i * repeats + k])
            k++;
        rows[i].done = k == repeats;
        n_done += rows[i].done;
    }
    return n_done;
}

int compare_runs_read(const char *path, const char *identity, compare_row *rows, size_t n_rows, size_t repeats,
                      scoresde_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp && errno == ENOENT) /* no file: nothing done yet */
        return 0;
    if (!fp) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *found = calloc(n_rows * repeats, 1);
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    int status = -1;
    ssize_t len;
    if (!found) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    while ((len = getline(&line, &cap, fp)) >= 0) {
        ++line_no;
        if (len == 0 || line[len - 1] != '\n') { /* the writer ends every line: this one was cut */
            scoresde_error_fail(err, SCORESDE_EINVAL, "%s line %zu: cut short (no end of line)", path, line_no);
            goto done;
        }
        line[len - 1] = '\0';
        const char *label;
        size_t repeat;
        compare_run run;
        if (line_no == 1 ? check_identity(path, line, identity, err)
            : line_no == 2 ? check_header(path, line, err)
                           : parse_run(path, line_no, line, repeats, &label, &repeat, &run, err))
            goto done;
        for (size_t i = 0; line_no > 2 && i < n_rows; i++)
            if (strcmp(rows[i].spec.label, label) == 0) {
                rows[i].runs[repeat] = run;
                found[i * repeats + repeat] = 1;
            }
    }
    if (ferror(fp))
        scoresde_error_fail(err, SCORESDE_EIO, "%s: %s", path, strerror(errno));
    else if (line_no < 2)
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s: %zu lines, expected the identity line and the header",
                            path, line_no);
    else
        status = mark_done(rows, n_rows, repeats, found);
done:
    free(line);
    free(found);
    fclose(fp);
    return status;
}
