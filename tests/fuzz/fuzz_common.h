/* fuzz_common.h — what every libFuzzer harness in tests/fuzz needs: the file parsers take paths,
 * so each input is written to a private temporary file first. */
#ifndef SCORESDE_FUZZ_COMMON_H
#define SCORESDE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<dir>/scoresde-fuzz-<pid>-<tag><suffix>", dir = $TMPDIR, else /dev/shm (no disk wear), else
 * /tmp. The name is built once per tag and reused for every input. */
static inline const char *fuzz_path(char *buf, size_t size, const char *tag, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(buf, size, "%s/scoresde-fuzz-%ld-%s%s", dir, (long)getpid(), tag, suffix);
    return buf;
}

/* Writes bytes to path; aborts (a harness bug, not a finding) if it cannot. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A message a parser filled must be a terminated, non-empty string of bounded length. */
static inline void fuzz_check_message(const char *msg, size_t msg_size)
{
    if (!memchr(msg, '\0', msg_size) || msg[0] == '\0') {
        fprintf(stderr, "error message empty or unterminated\n");
        abort();
    }
}

#endif
