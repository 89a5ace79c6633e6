#include "testing.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>

int tensor_compare(const char *name, const float *got, const float *want, size_t n,
                   double atol, double rtol, tensor_diff *diff, char *report, size_t report_size)
{
    tensor_diff d = {0};
    d.count = n;
    double worst_ratio = -1.0;

    /* Pass 1: scan every element; never stop at the first miss. */
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double abs_error = fabs(g - w);
        double allowed = atol + rtol * fabs(w);
        int finite = isfinite(got[i]);
        if (!finite) {
            d.non_finite++;
            abs_error = INFINITY;
        }
        if (!finite || abs_error > allowed)
            d.over_tolerance++;
        if (abs_error > d.max_abs_error)
            d.max_abs_error = abs_error;
        if (w != 0.0 && abs_error / fabs(w) > d.max_rel_error)
            d.max_rel_error = abs_error / fabs(w);
        double ratio = allowed > 0.0 ? abs_error / allowed : (abs_error > 0.0 ? INFINITY : 0.0);
        if (ratio > worst_ratio || (isinf(ratio) && !isinf(worst_ratio))) {
            worst_ratio = ratio;
            d.worst_index = i;
        }
    }
    if (n > 0) {
        d.worst_got = got[d.worst_index];
        d.worst_want = want[d.worst_index];
    }

    /* Pass 2: one line with everything a reader needs to judge the miss. */
    snprintf(report, report_size,
             "%s: %zu elements, max abs err %.3g, max rel err %.3g, worst at [%zu] got %.9g want %.9g, "
             "%zu over tolerance (atol %.3g + rtol %.3g * |want|), %zu non-finite",
             name, n, d.max_abs_error, d.max_rel_error, d.worst_index, (double)d.worst_got,
             (double)d.worst_want, d.over_tolerance, atol, rtol, d.non_finite);
    if (diff != NULL)
        *diff = d;
    return d.over_tolerance == 0 && d.non_finite == 0;
}

const char *golden_path(const char *chapter, const char *name)
{
    static char path[1024];
    const char *dir = getenv("PG_GOLDEN_DIR");
    snprintf(path, sizeof path, "%s/%s/%s.npy", dir != NULL ? dir : "golden", chapter, name);
    return path;
}

int *golden_load_ids(const char *chapter, const char *name, int count)
{
    npy_array ids64;
    golden_load_i64(&ids64, chapter, name, 1, count);
    int *ids = calloc((size_t)count, sizeof(int));
    ck_assert_ptr_nonnull(ids);
    for (int i = 0; i < count; i++)
        ids[i] = (int)((int64_t *)ids64.data)[i];
    npy_free(&ids64);
    return ids;
}

int run_command(const char *command, char *output, size_t output_size)
{
    FILE *pipe = popen(command, "r");
    ck_assert_msg(pipe != NULL, "cannot run %s", command);
    size_t used = fread(output, 1, output_size - 1, pipe);
    output[used] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *program_path(const char *name)
{
    static char paths[4][1024];
    static int next;
    char *path = paths[next];
    next = (next + 1) % 4;
    const char *dir = getenv("PG_BUILD_DIR");
    snprintf(path, sizeof paths[0], "%s/%s", dir != NULL ? dir : "build", name);
    return path;
}

/* Loads one file and checks dtype and shape; shared by the two typed loaders. */
static void golden_load(npy_array *array, npy_dtype dtype, const char *chapter, const char *name,
                        int ndim, va_list dims)
{
    const char *path = golden_path(chapter, name);
    pg_error err;
    if (npy_load(path, array, &err) != 0)
        ck_abort_msg("%s (golden files are made by `make golden`)", err.message);
    if (array->dtype != dtype)
        ck_abort_msg("%s: dtype '%s', expected '%s'; run `make golden` to regenerate it", path,
                     npy_dtype_descr(array->dtype), npy_dtype_descr(dtype));
    int shape_ok = array->ndim == ndim;
    size_t expected[NPY_MAX_DIMS];
    for (int d = 0; d < ndim && d < NPY_MAX_DIMS; d++) {
        int size = va_arg(dims, int);
        expected[d] = size < 0 ? SIZE_MAX : (size_t)size;
        if (d < array->ndim && array->shape[d] != expected[d])
            shape_ok = 0;
    }
    if (!shape_ok) {
        char found[256] = "", want[256] = "";
        for (int d = 0; d < array->ndim; d++)
            snprintf(found + strlen(found), sizeof found - strlen(found), d ? ", %zu" : "%zu", array->shape[d]);
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), d ? ", %zu" : "%zu", expected[d]);
        ck_abort_msg("%s: shape (%s), expected (%s); run `make golden` to regenerate it", path, found, want);
    }
}

void golden_load_f32(npy_array *array, const char *chapter, const char *name, int ndim, ...)
{
    va_list dims;
    va_start(dims, ndim);
    golden_load(array, NPY_FLOAT32, chapter, name, ndim, dims);
    va_end(dims);
}

void golden_load_i64(npy_array *array, const char *chapter, const char *name, int ndim, ...)
{
    va_list dims;
    va_start(dims, ndim);
    golden_load(array, NPY_INT64, chapter, name, ndim, dims);
    va_end(dims);
}
