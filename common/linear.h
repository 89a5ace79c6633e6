/*
 * linear.h - the one matrix product every layer uses.
 *
 * Mirrors torch.nn.Linear / F.linear: out = x @ weight^T + bias, with the
 * weight in PyTorch's [out_features, in_features] layout, exactly as it is
 * stored in the checkpoints.
 *
 * Shapes:
 *   x       [T, in_features]
 *   weight  [out_features, in_features]
 *   bias    [out_features], or NULL for a Linear without bias
 *   out     [T, out_features]   (must not alias x)
 *
 * A weight is float32 values, or the raw bfloat16 bits of a checkpoint that
 * stay memory-mapped and are widened to float32 inside the product (half the
 * bytes to read per token). Either way the arithmetic is float32.
 *
 * linear() runs the fast routine of linear_fast.c (cache blocking, threads,
 * SIMD). linear_naive() is the plain loop it must agree with up to the order
 * of the additions. Building with `make NAIVE=1` makes linear() use the plain
 * loop everywhere, which is the easiest version to step through.
 */
#ifndef PG_LINEAR_H
#define PG_LINEAR_H

#include <stdint.h>

/* How the values of a weight matrix are stored. */
typedef enum {
    WEIGHT_F32, /* float32 */
    WEIGHT_BF16 /* bfloat16: the top 16 bits of a float32 */
} weight_dtype;

/* A weight matrix [rows, cols], row-major, in either storage. */
typedef struct {
    weight_dtype dtype;
    const void *data;
} weight_matrix;

/* Wraps float32 values as a weight matrix. */
weight_matrix weight_f32(const float *values);

/* Wraps bfloat16 bits as a weight matrix. */
weight_matrix weight_bf16(const uint16_t *bits);

/* out = x @ weight^T + bias, the shapes above. */
void linear(float *out, const float *x, weight_matrix weight, const float *bias,
            int T, int in_features, int out_features);

/* The same product as three plain loops, one output element at a time. */
void linear_naive(float *out, const float *x, weight_matrix weight, const float *bias,
                  int T, int in_features, int out_features);

/* Copies row `row` of a [rows, cols] weight matrix into out [cols] as
 * float32: an embedding lookup. */
void weight_row(float *out, weight_matrix weight, int row, int cols);

/* Returns the float32 value of a bfloat16 (its bits become the top half). */
float bf16_to_f32(uint16_t bits);

#endif
