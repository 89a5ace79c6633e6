#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int pg_mul_overflows(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *product = a * b;
    return 0;
}

void *pg_calloc(size_t count, size_t size, const char *what, pg_error *err)
{
    size_t bytes;
    if (pg_mul_overflows(count, size, &bytes) != 0) {
        pg_error_set(err, "cannot allocate %s: %zu elements of %zu bytes overflow size_t",
                     what, count, size);
        return NULL;
    }
    void *p = calloc(bytes ? bytes : 1, 1);
    if (p == NULL)
        pg_error_set(err, "cannot allocate %s: out of memory for %zu bytes", what, bytes);
    return p;
}

void *pg_xcalloc(size_t count, size_t size, const char *what)
{
    pg_error err;
    void *p = pg_calloc(count, size, what, &err);
    if (p == NULL)
        pg_die("paligemma", &err, 1);
    return p;
}

uint8_t *pg_read_file(const char *path, size_t *size, pg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pg_error_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* A directory opens, but its size from fseek is meaningless (2^63 - 1 on ext4). */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        int is_directory = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode);
        pg_error_set(err, "cannot read %s: %s", path,
                     is_directory ? "it is a directory, expected a file" : "not a regular file");
        fclose(f);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        pg_error_set(err, "cannot seek in %s: %s (is it a regular file?)", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    long length = ftell(f);
    if (length < 0 || fseek(f, 0, SEEK_SET) != 0) {
        pg_error_set(err, "cannot find the size of %s: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    uint8_t *data = pg_calloc((size_t)length, 1, path, err);
    if (data == NULL) {
        fclose(f);
        return NULL;
    }
    if (fread(data, 1, (size_t)length, f) != (size_t)length) {
        pg_error_set(err, "cannot read %s: short read of %ld bytes", path, length);
        free(data);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = (size_t)length;
    return data;
}
