/*
 * npy.h - a strict reader and writer for NumPy's .npy format.
 *
 * The format (numpy/lib/format.py, NEP 1): the magic "\x93NUMPY", a major and
 * a minor version byte, the header length (2 bytes little-endian in version
 * 1.0, 4 bytes in 2.0 and 3.0), then the header: a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and ended by '\n', then the raw array bytes in C order.
 *
 * The reader checks every field and rejects what it cannot represent exactly:
 * big-endian data, Fortran order, dtypes other than the six below, shapes whose
 * element count overflows, and files shorter or longer than the shape says.
 * Every error message names the file, the field and the value found.
 */
#ifndef PG_NPY_H
#define PG_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "pg_error.h"

/* The most dimensions a .npy file may declare (NumPy's own limit was 32). */
#define NPY_MAX_DIMS 32

typedef enum {
    NPY_FLOAT32, /* '<f4' */
    NPY_FLOAT64, /* '<f8' */
    NPY_INT32,   /* '<i4' */
    NPY_INT64,   /* '<i8' */
    NPY_UINT8,   /* '|u1' */
    NPY_BOOL     /* '|b1', one byte per element, 0 or 1 */
} npy_dtype;

typedef struct {
    npy_dtype dtype;
    int ndim;                   /* 0 for a scalar, shape () */
    size_t shape[NPY_MAX_DIMS];
    size_t count;               /* product of shape; 1 for a scalar */
    size_t item_size;           /* bytes per element */
    void *data;                 /* count * item_size bytes, owned by the array */
} npy_array;

/* Returns the descr string of a dtype, e.g. "<f4". */
const char *npy_dtype_descr(npy_dtype dtype);

/* Parses a whole .npy file held in memory. `name` is the file name used in
 * error messages. On success the array owns a copy of the data. */
int npy_parse(const uint8_t *bytes, size_t size, const char *name,
              npy_array *array, pg_error *err);

/* Reads and parses the file at path. */
int npy_load(const char *path, npy_array *array, pg_error *err);

/* Writes a version 1.0 file that numpy.load reads back, with the header
 * padded as numpy.save pads it. shape has ndim entries; ndim 0 is a scalar. */
int npy_save(const char *path, npy_dtype dtype, int ndim, const size_t *shape,
             const void *data, pg_error *err);

/* Frees the array's data and zeroes the struct. Safe on a zeroed array. */
void npy_free(npy_array *array);

#endif
