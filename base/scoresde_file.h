/* scoresde_file.h — files that appear whole or not at all.
 *
 * A file is written to a temporary beside its target ("<path>.tmp.XXXXXX", same directory, so the
 * rename cannot cross file systems), flushed and fsync'ed, renamed over the target, and the
 * directory is fsync'ed so that the rename survives a crash. A failure, an abort or a kill before
 * the rename leaves the target as it was; a kill can leave the temporary behind, never a torn
 * target.
 */
#ifndef SCORESDE_FILE_H
#define SCORESDE_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "scoresde_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scoresde_file {
    FILE *fp;       /* write through this between open and commit */
    char *path;     /* the target (owned) */
    char *tmp_path; /* the temporary (owned) */
} scoresde_file;

/* Creates the temporary for `path`. SCORESDE_OK, or SCORESDE_ENOMEM / SCORESDE_EIO with the path
 * and the errno text in err; on failure *f holds nothing to release. */
int scoresde_file_open(scoresde_file *f, const char *path, scoresde_error *err);
/* Flushes, syncs and closes the temporary and renames it over the target. SCORESDE_OK, or
 * SCORESDE_EIO (the temporary is removed, the target untouched). Releases *f either way. */
int scoresde_file_commit(scoresde_file *f, scoresde_error *err);
/* Closes and removes the temporary; the target is untouched. A zeroed *f is fine. */
void scoresde_file_abort(scoresde_file *f);

/* Writes n_bytes from bytes to path through the steps above. */
int scoresde_file_write(const char *path, const void *bytes, size_t n_bytes, scoresde_error *err);

#ifdef __cplusplus
}
#endif
#endif
