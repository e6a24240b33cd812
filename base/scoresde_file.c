#include "scoresde_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int scoresde_file_open(scoresde_file *f, const char *path, scoresde_error *err)
{
    memset(f, 0, sizeof *f);
    size_t len = strlen(path) + sizeof ".tmp.XXXXXX";
    f->path = strdup(path);
    f->tmp_path = malloc(len);
    if (!f->path || !f->tmp_path) {
        scoresde_file_abort(f);
        return scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp_path);
    if (fd < 0) {
        int saved = errno;
        free(f->tmp_path);
        f->tmp_path = NULL; /* nothing was created: nothing to remove */
        scoresde_file_abort(f);
        return scoresde_error_fail(err, SCORESDE_EIO, "%s: cannot create: %s", path,
                                   strerror(saved));
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; an output file is as any other the user writes */
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int saved = errno;
        close(fd);
        scoresde_file_abort(f);
        return scoresde_error_fail(err, SCORESDE_EIO, "%s: %s", path, strerror(saved));
    }
    return SCORESDE_OK;
}

/* Makes the rename itself durable. */
static void sync_directory_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

int scoresde_file_commit(scoresde_file *f, scoresde_error *err)
{
    int ok = fflush(f->fp) == 0 && !ferror(f->fp) && fsync(fileno(f->fp)) == 0;
    int saved = errno;
    ok = fclose(f->fp) == 0 && ok;
    f->fp = NULL;
    if (ok && rename(f->tmp_path, f->path) == 0) {
        sync_directory_of(f->path);
        free(f->tmp_path);
        f->tmp_path = NULL; /* renamed: abort must not remove it */
        scoresde_file_abort(f);
        return SCORESDE_OK;
    }
    if (!saved)
        saved = errno;
    scoresde_error_fail(err, SCORESDE_EIO, "%s: write failed: %s (nothing was written)", f->path,
                        strerror(saved ? saved : EIO));
    scoresde_file_abort(f);
    return SCORESDE_EIO;
}

void scoresde_file_abort(scoresde_file *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->path);
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
}

int scoresde_file_write(const char *path, const void *bytes, size_t n_bytes, scoresde_error *err)
{
    scoresde_file f;
    int rc = scoresde_file_open(&f, path, err);
    if (rc)
        return rc;
    if (fwrite(bytes, 1, n_bytes, f.fp) != n_bytes) {
        int saved = errno;
        scoresde_file_abort(&f);
        return scoresde_error_fail(err, SCORESDE_EIO, "%s: write failed: %s (nothing was written)", path,
                                   strerror(saved ? saved : EIO));
    }
    return scoresde_file_commit(&f, err);
}
