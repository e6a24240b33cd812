/* fuzz_matrix.c — the batch reader of the command line (apps/io.c: matrix_read), which picks CSV or
 * NumPy .npy by the file extension. Each input is read as both, with any width and with a required
 * width of 2. An accepted batch must be non-empty, of the required width and finite. */
#include <math.h>

#include "fuzz_common.h"
#include "io.h"

static void check(const char *path, size_t expected_d)
{
    matrix m;
    scoresde_error error;
    memset(&error, 0, sizeof error);
    if (matrix_read(path, expected_d, &m, &error) != 0) {
        fuzz_check_message(error.message, sizeof error.message);
        if (m.x)
            abort();
        return;
    }
    if (!m.x || m.n == 0 || m.d == 0 || (expected_d && m.d != expected_d))
        abort();
    for (size_t i = 0; i < m.n * m.d; i++)
        if (!isfinite(m.x[i]))
            abort();
    matrix_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char csv[256], npy[256];
    if (!csv[0]) {
        fuzz_path(csv, sizeof csv, "matrix", ".csv");
        fuzz_path(npy, sizeof npy, "matrix", ".npy");
    }
    fuzz_write_file(csv, data, size);
    check(csv, 0);
    check(csv, 2);
    fuzz_write_file(npy, data, size);
    check(npy, 0);
    check(npy, 2);
    unlink(csv);
    unlink(npy);
    return 0;
}
