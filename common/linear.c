#include "linear.h"

#include <stddef.h>

void linear(float *out, const float *x, const float *weight, const float *bias,
            int T, int in_features, int out_features)
{
    for (int t = 0; t < T; t++) {
        const float *x_row = x + (size_t)t * in_features;
        for (int o = 0; o < out_features; o++) {
            /* out[t][o] = sum_i x[t][i] * weight[o][i], accumulated in float32
             * like a BLAS sgemm; only the order of the additions differs. */
            const float *w_row = weight + (size_t)o * in_features;
            float sum = 0.0f;
            for (int i = 0; i < in_features; i++)
                sum += x_row[i] * w_row[i];
            out[(size_t)t * out_features + o] = bias != NULL ? sum + bias[o] : sum;
        }
    }
}
