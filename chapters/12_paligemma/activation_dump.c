/*
 * Activation dumps. See activation_dump.h for the folder layout.
 */
#include "activation_dump.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"

/* mkdir -p: creates every missing folder on the path. */
static int make_folders(const char *folder, pg_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", folder) >= (int)sizeof path)
        return pg_error_set(err, "dump folder path is longer than %zu bytes: %s", sizeof path - 1, folder);
    for (char *slash = path + 1;; slash++) {
        int at_end = *slash == '\0';
        if (*slash != '/' && !at_end)
            continue;
        *slash = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return pg_error_set(err, "cannot create dump folder %s: %s", path, strerror(errno));
        if (at_end)
            break;
        *slash = '/';
    }
    struct stat info;
    if (stat(folder, &info) != 0 || !S_ISDIR(info.st_mode))
        return pg_error_set(err, "dump path %s exists but is not a folder; choose another --dump-activations path",
                            folder);
    return 0;
}

/* Returns NumPy's name of a dtype, as str(array.dtype) prints it. */
static const char *dtype_name(npy_dtype dtype)
{
    switch (dtype) {
    case NPY_FLOAT32: return "float32";
    case NPY_FLOAT64: return "float64";
    case NPY_INT32: return "int32";
    case NPY_INT64: return "int64";
    case NPY_UINT8: return "uint8";
    case NPY_BOOL: return "bool";
    }
    return "unknown";
}

int activation_dump_open(activation_dump *dump, const char *folder, pg_error *err)
{
    memset(dump, 0, sizeof *dump);
    if (make_folders(folder, err) != 0)
        return -1;
    snprintf(dump->folder, sizeof dump->folder, "%s", folder);

    char path[4200];
    snprintf(path, sizeof path, "%s/" ACTIVATION_DUMP_INDEX, folder);
    dump->index = fopen(path, "w");
    if (dump->index == NULL)
        return pg_error_set(err, "cannot write %s: %s", path, strerror(errno));
    fprintf(dump->index, "# paligemma activation dump: name dtype shape, in the order computed\n");
    return 0;
}

int activation_dump_save(activation_dump *dump, const char *name, npy_dtype dtype, int ndim, const size_t *shape,
                         const void *data)
{
    if (dump->failed)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.npy", dump->folder, name);
    if (npy_save(path, dtype, ndim, shape, data, &dump->error) != 0) {
        dump->failed = 1;
        return -1;
    }

    /* The index line: "name dtype d0,d1,...", dtype as NumPy names it. */
    fprintf(dump->index, "%s %s ", name, dtype_name(dtype));
    for (int i = 0; i < ndim; i++)
        fprintf(dump->index, i ? ",%zu" : "%zu", shape[i]);
    fprintf(dump->index, "\n");
    dump->num_tensors++;
    return 0;
}

int activation_dump_ids(activation_dump *dump, const char *name, const int *ids, int count)
{
    int64_t *wide = pg_xcalloc(count > 0 ? (size_t)count : 1, sizeof(int64_t), "the dumped ids");
    for (int i = 0; i < count; i++)
        wide[i] = ids[i];
    size_t shape[1] = {(size_t)count};
    int status = activation_dump_save(dump, name, NPY_INT64, 1, shape, wide);
    free(wide);
    return status;
}

void activation_dump_hook(void *user_data, const char *name, const float *data, int rows, int cols)
{
    size_t shape[2] = {(size_t)rows, (size_t)cols};
    activation_dump_save(user_data, name, NPY_FLOAT32, 2, shape, data);
}

int activation_dump_close(activation_dump *dump, pg_error *err)
{
    int status = 0;
    if (dump->index != NULL && fclose(dump->index) != 0 && !dump->failed) {
        pg_error_set(&dump->error, "cannot write %s/" ACTIVATION_DUMP_INDEX ": %s", dump->folder, strerror(errno));
        dump->failed = 1;
    }
    dump->index = NULL;
    if (dump->failed) {
        pg_error_set(err, "activation dump: %s", dump->error.message);
        status = -1;
    }
    return status;
}
