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
 * Every chapter calls this routine, so a faster version can replace the
 * inner loop in one place later; this naive loop stays as the reference.
 */
#ifndef PG_LINEAR_H
#define PG_LINEAR_H

void linear(float *out, const float *x, const float *weight, const float *bias,
            int T, int in_features, int out_features);

#endif
