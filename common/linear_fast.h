/*
 * linear_fast.h - the fast twin of linear(), for real-size models.
 *
 * Same contract as linear() in linear.h, out = x @ weight^T + bias with the
 * weight in PyTorch's [out_features, in_features] layout, and the same
 * result up to the order of the float32 additions. The naive linear() stays
 * the reference: tests/test_linear_fast.c compares the two on every shape
 * class (single rows, tiles, remainders). Two weight types:
 *
 *   linear_fast       float32 weights
 *   linear_fast_bf16  bfloat16 weights (the raw 16 bits, as stored in a
 *                     checkpoint), widened to float32 inside the product, so
 *                     a model can keep its weights in bfloat16 in memory and
 *                     read half the bytes per token.
 *
 * Both use all OpenMP threads (OMP_NUM_THREADS to change). Each output
 * element is computed by one thread in a fixed order, so results do not
 * depend on the number of threads.
 */
#ifndef PG_LINEAR_FAST_H
#define PG_LINEAR_FAST_H

#include <stdint.h>

void linear_fast(float *out, const float *x, const float *weight, const float *bias,
                 int T, int in_features, int out_features);

void linear_fast_bf16(float *out, const float *x, const uint16_t *weight, const float *bias,
                      int T, int in_features, int out_features);

#endif
