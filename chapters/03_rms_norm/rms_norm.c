/*
 * Chapter 3: GemmaRMSNorm. See rms_norm.h for the shapes and
 * docs/03_rms_norm.md for the math.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
 *   return normed * (1.0 + self.weight.float())
 */
#include "rms_norm.h"

#include <math.h>
#include <stddef.h>

#include "broken_variant.h"

void gemma_rms_norm(float *out, const float *x, const float *weight, int T, int D, float eps)
{
    /* BEGIN SOLUTION: gemma_rms_norm, docs/03_rms_norm.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * D; i++)
     *         out[i] = 0.0f;
     *     (void)x; (void)weight; (void)eps;
     */
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * D;
        float *out_row = out + (size_t)t * D;

        /* mean(x^2) over the row. The sum runs in double so that the result
         * is the correctly rounded float32 mean; PyTorch's float32 reduction
         * lands within an ulp or two of it. */
        double sum_of_squares = 0.0;
        for (int d = 0; d < D; d++)
            sum_of_squares += (double)row[d] * (double)row[d];
        float mean_square = (float)(sum_of_squares / D);

        /* rsqrt(mean + eps), rounded to float32 as torch.rsqrt does. */
        float inv_rms = 1.0f / sqrtf(mean_square + eps);

        /* Scale by (1 + weight), in PyTorch's order: (x * inv_rms) * (1 + w). */
        for (int d = 0; d < D; d++) {
            float normed = row[d] * inv_rms;
            out_row[d] = normed * (1.0f + weight[d]);
#ifdef PG_BROKEN_VARIANTS
            /* Test-only bug: Llama's scale w instead of Gemma's 1 + w. */
            if (pg_broken_variant() == PG_BROKEN_RMS_NORM_WEIGHT)
                out_row[d] = normed * weight[d];
#endif
        }
    }
    /* END SOLUTION */
}
