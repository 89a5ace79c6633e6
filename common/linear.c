#include "linear.h"

#include <stddef.h>
#include <string.h>

#include "linear_fast.h"

weight_matrix weight_f32(const float *values)
{
    weight_matrix weight = {WEIGHT_F32, values};
    return weight;
}

weight_matrix weight_bf16(const uint16_t *bits)
{
    weight_matrix weight = {WEIGHT_BF16, bits};
    return weight;
}

float bf16_to_f32(uint16_t bits)
{
    uint32_t widened = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &widened, sizeof value);
    return value;
}

/* Returns weight[o][i] as float32. */
static float weight_at(weight_matrix weight, int o, int i, int in_features)
{
    size_t index = (size_t)o * in_features + i;
    if (weight.dtype == WEIGHT_BF16)
        return bf16_to_f32(((const uint16_t *)weight.data)[index]);
    return ((const float *)weight.data)[index];
}

void linear_naive(float *out, const float *x, weight_matrix weight, const float *bias,
                  int T, int in_features, int out_features)
{
    for (int t = 0; t < T; t++) {
        const float *x_row = x + (size_t)t * in_features;
        for (int o = 0; o < out_features; o++) {
            /* out[t][o] = sum_i x[t][i] * weight[o][i], accumulated in float32
             * like a BLAS sgemm; only the order of the additions differs. */
            float sum = 0.0f;
            for (int i = 0; i < in_features; i++)
                sum += x_row[i] * weight_at(weight, o, i, in_features);
            out[(size_t)t * out_features + o] = bias != NULL ? sum + bias[o] : sum;
        }
    }
}

void linear(float *out, const float *x, weight_matrix weight, const float *bias,
            int T, int in_features, int out_features)
{
#ifdef PG_NAIVE_LINEAR
    linear_naive(out, x, weight, bias, T, in_features, out_features);
#else
    if (weight.dtype == WEIGHT_BF16)
        linear_fast_bf16(out, x, weight.data, bias, T, in_features, out_features);
    else
        linear_fast(out, x, weight.data, bias, T, in_features, out_features);
#endif
}

void weight_row(float *out, weight_matrix weight, int row, int cols)
{
    for (int c = 0; c < cols; c++)
        out[c] = weight_at(weight, row, c, cols);
}
