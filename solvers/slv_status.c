#include "slv_status.h"

#include <math.h>

long slv_find_nonfinite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return (long)i;
    return -1;
}
