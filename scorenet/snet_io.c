/* snet_io.c — the .sgm weights file; layout in docs/weights-format.md. */
#include "snet_io.h"

#include "scoresde_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Version 1 holds the first 20 config fields; version 2 adds discrete_steps. A writer emits
 * version 1 whenever discrete_steps is 0, so continuous-time models stay readable by version-1
 * readers. */
enum {
    CONFIG_FIELDS = 21,
    CONFIG_FIELDS_V1 = 20,
    CONFIG_BYTES = 4 * CONFIG_FIELDS,
    CONFIG_BYTES_V1 = 4 * CONFIG_FIELDS_V1,
    FIXED_HEAD_V1 = 4 + 4 + 4 + 4 + CONFIG_BYTES_V1 + 4, /* magic .. note_bytes */
    TABLE_HEAD = 8 + 8 + 4,                        /* step, n_params, n_tensors */
    TENSOR_BYTES = SNET_NAME_MAX + 4 + 4 * SNET_MAX_DIMS + 8 + 4 + 4, /* 68 */
    MAX_TENSORS = 1 << 20
};

/* ---- little-endian encoding ----------------------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static float get_f32(const unsigned char *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}
static int host_is_little_endian(void)
{
    uint32_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}
static void put_floats(unsigned char *p, const float *a, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(p, a, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++)
        put_f32(p + 4 * i, a[i]);
}
static void get_floats(float *a, const unsigned char *p, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(a, p, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = get_f32(p + 4 * i);
}

/* The config block: every field of snet_config in declaration order, 4 bytes each. */
static void put_config(unsigned char *p, const snet_config *c, int n_fields)
{
    uint32_t u[CONFIG_FIELDS];
    float f;
    int k = 0;
    u[k++] = (uint32_t)c->arch;
    u[k++] = c->channels;
    u[k++] = c->height;
    u[k++] = c->width;
    u[k++] = c->hidden;
    u[k++] = c->n_blocks;
    u[k++] = c->n_fourier;
#define F32(x) (f = (x), memcpy(&u[k], &f, 4), k++)
    F32(c->fourier_scale);
    u[k++] = c->layer_norm;
    u[k++] = c->base_channels;
    u[k++] = c->n_levels;
    u[k++] = c->n_groups;
    u[k++] = (uint32_t)c->sde;
    F32(c->sigma_min);
    F32(c->sigma_max);
    F32(c->beta_min);
    F32(c->beta_max);
    F32(c->data_scale);
    F32(c->data_shift);
#undef F32
    u[k++] = c->quantized;
    u[k++] = c->discrete_steps;
    for (int i = 0; i < n_fields; i++)
        put_u32(p + 4 * i, u[i]);
}

static void get_config(snet_config *c, const unsigned char *p, int n_fields)
{
    memset(c, 0, sizeof *c);
    int k = 0;
#define U32() get_u32(p + 4 * k++)
#define F32() get_f32(p + 4 * k++)
    c->arch = (snet_arch_kind)U32();
    c->channels = U32();
    c->height = U32();
    c->width = U32();
    c->hidden = U32();
    c->n_blocks = U32();
    c->n_fourier = U32();
    c->fourier_scale = F32();
    c->layer_norm = U32();
    c->base_channels = U32();
    c->n_levels = U32();
    c->n_groups = U32();
    c->sde = (snet_sde_kind)U32();
    c->sigma_min = F32();
    c->sigma_max = F32();
    c->beta_min = F32();
    c->beta_max = F32();
    c->data_scale = F32();
    c->data_shift = F32();
    c->quantized = U32();
    c->discrete_steps = n_fields > CONFIG_FIELDS_V1 ? U32() : 0;
#undef U32
#undef F32
}

/* ---- atomic writes ------------------------------------------------------------------------------- */

int snet_write_atomic(const char *path, const void *bytes, size_t n_bytes, scoresde_error *err)
{
    return scoresde_file_write(path, bytes, n_bytes, err);
}

/* ---- writing ----------------------------------------------------------------------------------------- */

int snet_io_write(const char *path, const snet_model *m, const float *ema, const char *note,
                  uint64_t step, const void *extra, size_t extra_bytes, scoresde_error *err)
{
    if (!extra)
        extra_bytes = 0;
    size_t note_bytes = note ? strlen(note) : 0;
    if (note_bytes > SNET_FILE_NOTE_MAX)
        note_bytes = SNET_FILE_NOTE_MAX;
    size_t n = m->n_params;
    uint32_t flags = (ema ? SNET_FILE_FLAG_EMA : 0) | (extra ? SNET_FILE_FLAG_EXTRA : 0);
    uint32_t version = m->cfg.discrete_steps ? SNET_FILE_VERSION : 1u;
    int n_fields = version == 1u ? CONFIG_FIELDS_V1 : CONFIG_FIELDS;
    size_t total = FIXED_HEAD_V1 + 4 * (size_t)(n_fields - CONFIG_FIELDS_V1) + note_bytes + TABLE_HEAD + TENSOR_BYTES * m->n_tensors + 4 * n +
                   (ema ? 4 * n : 0) + (extra ? 8 + extra_bytes : 0) + 4;
    unsigned char *buf = calloc(total, 1), *p = buf;
    if (!buf)
        return scoresde_error_fail(err, SNET_ENOMEM, "%s: out of memory for %zu bytes", path, total);
    memcpy(p, SNET_FILE_MAGIC, 4), p += 4;
    put_u32(p, version), p += 4;
    put_u32(p, flags), p += 4;
    put_u32(p, 4u * (uint32_t)n_fields), p += 4;
    put_config(p, &m->cfg, n_fields), p += 4 * n_fields;
    put_u32(p, (uint32_t)note_bytes), p += 4;
    memcpy(p, note ? note : "", note_bytes), p += note_bytes;
    put_u64(p, step), p += 8;
    put_u64(p, n), p += 8;
    put_u32(p, (uint32_t)m->n_tensors), p += 4;
    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        memcpy(p, e->name, strnlen(e->name, SNET_NAME_MAX)); // NUL-padded (buf is zeroed)
        p += SNET_NAME_MAX;
        put_u32(p, e->ndim), p += 4;
        for (int d = 0; d < SNET_MAX_DIMS; d++)
            put_u32(p, e->shape[d]), p += 4;
        put_u64(p, e->offset), p += 8;
        put_u32(p, (uint32_t)e->size), p += 4; // sizes of one tensor stay below 2^32 floats
        put_u32(p, e->trainable), p += 4;
    }
    put_floats(p, m->params, n), p += 4 * n;
    if (ema)
        put_floats(p, ema, n), p += 4 * n;
    if (extra) {
        put_u64(p, extra_bytes), p += 8;
        memcpy(p, extra, extra_bytes), p += extra_bytes;
    }
    put_u32(p, (uint32_t)crc32_z(0L, buf, (z_size_t)(p - buf))), p += 4;
    int rc = snet_write_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

int snet_model_save(const snet_model *m, const float *ema, const char *note, uint64_t step,
                    const char *path, scoresde_error *err)
{
    return snet_io_write(path, m, ema, note, step, NULL, 0, err);
}

/* ---- reading ----------------------------------------------------------------------------------------- */

static void shape_text(char *out, size_t size, uint32_t ndim, const uint32_t *shape)
{
    size_t used = 0;
    out[0] = 0;
    for (uint32_t d = 0; d < ndim && d < SNET_MAX_DIMS; d++)
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%u", d ? "×" : "", shape[d]);
}

static int read_whole_file(const char *path, unsigned char **data, size_t *size, scoresde_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return scoresde_error_fail(err, SNET_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        scoresde_error_fail(err, SNET_EIO, "%s: not a regular file", path);
        fclose(f);
        return SNET_EIO;
    }
    *size = (size_t)st.st_size;
    *data = malloc(*size ? *size : 1);
    if (!*data) {
        scoresde_error_fail(err, SNET_ENOMEM, "%s: out of memory for %zu bytes", path, *size);
        fclose(f);
        return SNET_ENOMEM;
    }
    if (fread(*data, 1, *size, f) != *size) {
        scoresde_error_fail(err, SNET_EIO,
                            "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "short read");
        fclose(f);
        free(*data);
        *data = NULL;
        return SNET_EIO;
    }
    fclose(f);
    return SNET_OK;
}

void snet_file_contents_free(snet_file_contents *c)
{
    if (!c)
        return;
    snet_model_free(c->model);
    free(c->ema);
    free(c->note);
    free(c->extra);
    memset(c, 0, sizeof *c);
}

/* A reading failure: "path: what is wrong". */
__attribute__((format(printf, 4, 5)))
static int read_fail(scoresde_error *err, int code, const char *path, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return scoresde_error_fail(err, code, "%s: %s", path, why);
}

#define FAIL(code, ...)                                   \
    do {                                                  \
        rc = read_fail(err, (code), path, __VA_ARGS__);   \
        goto fail;                                        \
    } while (0)

int snet_io_read(const char *path, snet_file_contents *out, scoresde_error *err)
{
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t size = 0;
    int rc = read_whole_file(path, &data, &size, err);
    if (rc)
        return rc;
    scoresde_error sub;
    snet_model *m = NULL;

    if (size < 4)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, too few for the magic '%s'", size,
             SNET_FILE_MAGIC);
    if (memcmp(data, SNET_FILE_MAGIC, 4) != 0) {
        char shown[20];
        size_t k = 0;
        for (int i = 0; i < 4; i++) {
            if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\'')
                shown[k++] = (char)data[i];
            else
                k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", data[i]);
        }
        shown[k] = 0;
        FAIL(SNET_EFORMAT, "bad magic '%s' (expected '%s'): not a scoresde weights file", shown,
             SNET_FILE_MAGIC);
    }
    if (size < 8)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, the header needs at least %d", size, FIXED_HEAD_V1);
    uint32_t version = get_u32(data + 4);
    if (version < 1u || version > SNET_FILE_VERSION)
        FAIL(SNET_EFORMAT, "version %u not supported (expected 1..%u)", version, SNET_FILE_VERSION);
    int n_fields = version == 1u ? CONFIG_FIELDS_V1 : CONFIG_FIELDS;
    size_t config_size = 4 * (size_t)n_fields, fixed_head = FIXED_HEAD_V1 + config_size - CONFIG_BYTES_V1;
    if (size < fixed_head)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, the header needs at least %zu", size, fixed_head);
    uint32_t flags = get_u32(data + 8);
    if (flags & ~(uint32_t)(SNET_FILE_FLAG_EMA | SNET_FILE_FLAG_EXTRA))
        FAIL(SNET_EFORMAT, "unknown flags 0x%x (this reader knows 0x%x)", flags,
             SNET_FILE_FLAG_EMA | SNET_FILE_FLAG_EXTRA);
    uint32_t config_bytes = get_u32(data + 12);
    if (config_bytes != config_size)
        FAIL(SNET_EFORMAT, "config block of %u bytes (expected %zu for version %u)", config_bytes,
             config_size, version);
    snet_config cfg;
    get_config(&cfg, data + 16, n_fields);
    uint32_t note_bytes = get_u32(data + 16 + config_size);
    if (note_bytes > SNET_FILE_NOTE_MAX)
        FAIL(SNET_EFORMAT, "note of %u bytes (at most %u allowed)", note_bytes, SNET_FILE_NOTE_MAX);
    size_t pos = fixed_head;
    size_t need = pos + note_bytes + TABLE_HEAD;
    if (size < need)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, the header needs %zu", size, need);
    const unsigned char *note = data + pos;
    pos += note_bytes;
    uint64_t step = get_u64(data + pos);
    uint64_t n_params = get_u64(data + pos + 8);
    uint32_t n_tensors = get_u32(data + pos + 16);
    pos += TABLE_HEAD;
    if (n_tensors > MAX_TENSORS)
        FAIL(SNET_EFORMAT, "header says %u tensors (at most %d allowed)", n_tensors, MAX_TENSORS);
    need = pos + (size_t)n_tensors * TENSOR_BYTES;
    if (size < need)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, the header with its %u-tensor table needs %zu",
             size, n_tensors, need);
    size_t table_pos = pos;
    pos = need;
    /* tensor data: n_params floats, twice with the EMA copy */
    size_t copies = (flags & SNET_FILE_FLAG_EMA) ? 2 : 1;
    if (n_params > (size - pos) / 4 / copies)
        FAIL(SNET_EFORMAT, "truncated: header says %llu floats%s, file holds %zu bytes after the header "
             "(expected at least %llu)", (unsigned long long)n_params,
             copies == 2 ? " (twice: parameters and EMA)" : "", size - pos,
             (unsigned long long)(n_params * 4 * copies + 4));
    size_t data_pos = pos;
    pos += (size_t)n_params * 4 * copies;
    uint64_t extra_bytes = 0;
    size_t extra_pos = 0;
    if (flags & SNET_FILE_FLAG_EXTRA) {
        if (size < pos + 8)
            FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, ends before the extra block's length at %zu",
                 size, pos);
        extra_bytes = get_u64(data + pos);
        pos += 8;
        if (extra_bytes > size - pos)
            FAIL(SNET_EFORMAT, "truncated: header says %llu bytes of training state, file holds %zu after the header",
                 (unsigned long long)extra_bytes, size - pos);
        extra_pos = pos;
        pos += (size_t)extra_bytes;
    }
    if (size < pos + 4)
        FAIL(SNET_EFORMAT, "truncated: file holds %zu bytes, ends before the checksum at %zu", size, pos);
    if (size > pos + 4)
        FAIL(SNET_EFORMAT, "%zu bytes of trailing data after the checksum (file holds %zu bytes, expected %zu)",
             size - pos - 4, size, pos + 4);
    uint32_t stored = get_u32(data + pos), computed = (uint32_t)crc32_z(0L, data, (z_size_t)pos);
    if (stored != computed)
        FAIL(SNET_EFORMAT, "checksum mismatch (stored 0x%08x, computed 0x%08x): the file is corrupt",
             stored, computed);

    /* the config, then the table against the one the config implies */
    if (snet_config_validate(&cfg, &sub) != SNET_OK)
        FAIL(SNET_EFORMAT, "config: %s", sub.message);
    {
        /* compare counts before allocating: a corrupt config may imply an absurd model, while
         * n_params is already bounded by the file's size */
        const snet_arch_ops *ops = snet_arch_get(cfg.arch);
        size_t implied = ops->n_params(&cfg);
        if (n_params != implied)
            FAIL(SNET_EFORMAT, "header says %llu parameters, the config (%s, %u×%u×%u, hidden %u, %u blocks) "
                 "gives %zu", (unsigned long long)n_params, ops->name, cfg.channels, cfg.height,
                 cfg.width, cfg.hidden, cfg.n_blocks, implied);
    }
    if (snet_model_alloc(&m, &cfg, &sub) != SNET_OK)
        FAIL(SNET_EFORMAT, "config: %s", sub.message);
    if (n_tensors != m->n_tensors)
        FAIL(SNET_EFORMAT, "header lists %u tensors, the config gives %zu", n_tensors, m->n_tensors);
    for (size_t k = 0; k < n_tensors; k++) {
        const unsigned char *e = data + table_pos + k * TENSOR_BYTES;
        const snet_tensor *want = &m->tensors[k];
        char name[SNET_NAME_MAX + 1];
        memcpy(name, e, SNET_NAME_MAX);
        name[SNET_NAME_MAX] = 0;
        for (char *c = name; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        uint32_t ndim = get_u32(e + SNET_NAME_MAX), shape[SNET_MAX_DIMS];
        for (int d = 0; d < SNET_MAX_DIMS; d++)
            shape[d] = get_u32(e + SNET_NAME_MAX + 4 + 4 * d);
        uint64_t offset = get_u64(e + SNET_NAME_MAX + 4 + 4 * SNET_MAX_DIMS);
        uint32_t tsize = get_u32(e + SNET_NAME_MAX + 12 + 4 * SNET_MAX_DIMS);
        uint32_t trainable = get_u32(e + SNET_NAME_MAX + 16 + 4 * SNET_MAX_DIMS);
        if (strcmp(name, want->name) != 0)
            FAIL(SNET_EFORMAT, "tensor %zu is '%s' in the file, the config gives '%s'", k, name, want->name);
        if (ndim != want->ndim || memcmp(shape, want->shape, sizeof shape) != 0 || tsize != want->size) {
            char a[96], b[96];
            shape_text(a, sizeof a, ndim, shape);
            shape_text(b, sizeof b, want->ndim, want->shape);
            FAIL(SNET_EFORMAT, "tensor '%s' is %s (%u floats) in the file, the config gives %s (%llu floats)",
                 name, a, tsize, b, (unsigned long long)want->size);
        }
        if (offset != want->offset)
            FAIL(SNET_EFORMAT, "tensor '%s' at offset %llu in the file, the config gives %llu", name,
                 (unsigned long long)offset, (unsigned long long)want->offset);
        if (trainable != want->trainable)
            FAIL(SNET_EFORMAT, "tensor '%s' marked trainable = %u in the file, the config gives %u", name,
                 trainable, want->trainable);
    }
    get_floats(m->params, data + data_pos, m->n_params);
    if (copies == 2) {
        out->ema = malloc(m->n_params * sizeof(float) + 1);
        if (!out->ema)
            FAIL(SNET_ENOMEM, "out of memory for the EMA copy");
        get_floats(out->ema, data + data_pos + 4 * m->n_params, m->n_params);
    }
    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        for (int copy = 0; copy < (int)copies; copy++) {
            const float *a = (copy ? out->ema : m->params) + e->offset;
            for (size_t i = 0; i < e->size; i++)
                if (!isfinite(a[i]))
                    FAIL(SNET_EFORMAT, "tensor '%s'%s holds a non-finite value (%g) at index %zu",
                         e->name, copy ? " (EMA copy)" : "", (double)a[i], i);
        }
    }
    out->note = malloc(note_bytes + 1);
    if (!out->note)
        FAIL(SNET_ENOMEM, "out of memory");
    memcpy(out->note, note, note_bytes);
    out->note[note_bytes] = 0;
    if (flags & SNET_FILE_FLAG_EXTRA) {
        out->extra = malloc(extra_bytes ? (size_t)extra_bytes : 1);
        if (!out->extra)
            FAIL(SNET_ENOMEM, "out of memory for %llu bytes of training state", (unsigned long long)extra_bytes);
        memcpy(out->extra, data + extra_pos, (size_t)extra_bytes);
        out->extra_bytes = (size_t)extra_bytes;
    }
    out->model = m;
    out->step = step;
    out->version = version;
    out->flags = flags;
    free(data);
    return SNET_OK;
fail:
    snet_model_free(m);
    out->model = NULL;
    snet_file_contents_free(out);
    free(data);
    return rc;
}

int snet_model_load(const char *path, snet_load_which which, snet_model **out,
                    snet_file_contents *info, scoresde_error *err)
{
    *out = NULL;
    snet_file_contents c;
    int rc = snet_io_read(path, &c, err);
    if (rc)
        return rc;
    if (which == SNET_LOAD_EMA && c.ema)
        memcpy(c.model->params, c.ema, c.model->n_params * sizeof(float));
    *out = c.model;
    c.model = NULL;
    if (info) {
        memset(info, 0, sizeof *info);
        info->note = c.note;
        c.note = NULL;
        info->step = c.step;
        info->version = c.version;
        info->flags = c.flags;
    }
    snet_file_contents_free(&c);
    return SNET_OK;
}
