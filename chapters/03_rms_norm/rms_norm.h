/*
 * Chapter 3: GemmaRMSNorm.
 *
 * Mirrors the PyTorch class GemmaRMSNorm (golden/modeling_gemma.py):
 *   y = x * rsqrt(mean(x^2) + eps) * (1 + weight)
 * over the last dimension, in float32. Gemma stores the scale as an offset
 * from 1: a weight of zero keeps the normalized input unchanged. (Llama's
 * RMSNorm multiplies by the weight itself.)
 *
 * Shapes (letters in common/dims.h):
 *   x, out   [T, D]    one row per token
 *   weight   [D]
 * out may alias x.
 */
#ifndef PG_RMS_NORM_H
#define PG_RMS_NORM_H

void gemma_rms_norm(float *out, const float *x, const float *weight, int T, int D, float eps);

#endif
