/*
 * testing.h - helpers for the Check test suites (linked into tests only).
 *
 * Golden files live in golden/<chapter>/<name>.npy and are read from the
 * folder in $PG_GOLDEN_DIR, or ./golden when it is unset (make test runs
 * from the repository root).
 */
#ifndef PG_TESTING_H
#define PG_TESTING_H

#include <check.h>
#include <stddef.h>
#include <stdio.h>

#include "npy.h"

/* Summary of one comparison of got against want. */
typedef struct {
    size_t count;          /* elements compared */
    size_t over_tolerance; /* elements with |got - want| > atol + rtol * |want| */
    size_t non_finite;     /* elements of got that are NaN or infinite */
    double max_abs_error;
    double max_rel_error;  /* over elements with want != 0 */
    size_t worst_index;    /* index of the largest |got - want| / (atol + rtol * |want|) */
    float worst_got, worst_want;
} tensor_diff;

/* Scans all n elements and fills diff; writes a one-line report naming the
 * tensor into report. Returns 1 when every element of got is finite and
 * within atol + rtol * |want|, else 0. */
int tensor_compare(const char *name, const float *got, const float *want, size_t n,
                   double atol, double rtol, tensor_diff *diff, char *report, size_t report_size);

/* Compares the whole tensor, prints the report line, then makes exactly one
 * Check assertion whose message is that line. */
#define ck_assert_tensor(name, got, want, n, atol, rtol)                                  \
    do {                                                                                  \
        char report_[1024];                                                               \
        tensor_diff diff_;                                                                \
        int ok_ = tensor_compare((name), (got), (want), (n), (atol), (rtol), &diff_,     \
                                 report_, sizeof report_);                                \
        printf("  %s\n", report_);                                                        \
        ck_assert_msg(ok_, "%s", report_);                                                \
    } while (0)

/* Loads golden/<chapter>/<name>.npy as float32 and checks its shape against
 * the ndim sizes (int) given after ndim. If the file is missing or has another
 * dtype or shape, aborts the test with a message to run `make golden`. */
void golden_load_f32(npy_array *array, const char *chapter, const char *name, int ndim, ...);

/* Like golden_load_f32 for an int64 file (token ids, positions). */
void golden_load_i64(npy_array *array, const char *chapter, const char *name, int ndim, ...);

/* Loads golden/<chapter>/<name>.npy, int64 of shape [count], as a new int
 * array (caller frees): token ids and position ids. */
int *golden_load_ids(const char *chapter, const char *name, int count);

/* Runs a shell command and returns its exit status (-1 if it did not exit);
 * its stdout, cut to output_size - 1 bytes, goes into output. */
int run_command(const char *command, char *output, size_t output_size);

/* Returns the path golden/<chapter>/<name>.npy in a static buffer. */
const char *golden_path(const char *chapter, const char *name);

/* Returns the path of a program built by make, $PG_BUILD_DIR/<name> (or
 * build/<name> when PG_BUILD_DIR is unset), in one of 4 static buffers so
 * that a format string can take two of them. */
const char *program_path(const char *name);

#endif
