/*
 * Chapter 5: rotary position embedding. See rope.h for the shapes and
 * docs/05_rope.md for the math.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
 *   freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
 *   emb = torch.cat((freqs, freqs), dim=-1)
 *   cos, sin = emb.cos(), emb.sin()
 *   q_embed = (q * cos) + (rotate_half(q) * sin)
 * Every step runs in float32 in that order. The order matters at large
 * positions: the float32 angle 4000 * inv_freq is already off from the exact
 * one by up to 1.2e-4 rad, and computing it in double instead would move cos
 * and sin that far away from PyTorch's.
 */
#include "rope.h"

#include <math.h>
#include <stddef.h>

#include "broken_variant.h"

/* inv_freq[i]: the exponent 2i / Dh is rounded to float32 first, then the
 * power, then the reciprocal, three float32 roundings as in PyTorch. */
static float inv_freq_at(int i, int head_dim, float rope_theta)
{
    /* BEGIN SOLUTION: inv_freq_at, docs/05_rope.md "The math"
     * Student placeholder:
     *     (void)i; (void)head_dim; (void)rope_theta;
     *     return 0.0f;
     */
    float exponent = (float)(2 * i) / (float)head_dim;
    return 1.0f / powf(rope_theta, exponent);
    /* END SOLUTION */
}

void gemma_rotary_inv_freq(float *inv_freq, int head_dim, float rope_theta)
{
    for (int i = 0; i < head_dim / 2; i++)
        inv_freq[i] = inv_freq_at(i, head_dim, rope_theta);
}

void gemma_rotary_embedding(float *cos, float *sin, const int *position_ids, int T, int head_dim,
                            float rope_theta)
{
    /* BEGIN SOLUTION: gemma_rotary_embedding, docs/05_rope.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * head_dim; i++)
     *         cos[i] = sin[i] = 0.0f;
     *     (void)position_ids; (void)rope_theta;
     */
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = inv_freq_at(i, head_dim, rope_theta);
        for (int t = 0; t < T; t++) {
            /* The angle is one float32 product, (float)position * inv_freq;
             * positions are exact in float32 up to 2^24. */
            float angle = (float)position_ids[t] * inv_freq;
            float c = cosf(angle), s = sinf(angle);

            /* emb = cat(freqs, freqs): channels i and i + Dh/2 share an angle. */
            float *cos_row = cos + (size_t)t * head_dim, *sin_row = sin + (size_t)t * head_dim;
            cos_row[i] = c;
            cos_row[half + i] = c;
            sin_row[i] = s;
            sin_row[half + i] = s;
        }
    }
    /* END SOLUTION */
}

void rotate_half(float *out, const float *x, int rows, int head_dim)
{
    /* BEGIN SOLUTION: rotate_half, docs/05_rope.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)rows * head_dim; i++)
     *         out[i] = 0.0f;
     *     (void)x;
     */
    int half = head_dim / 2;
    for (int r = 0; r < rows; r++) {
        const float *x_row = x + (size_t)r * head_dim;
        float *out_row = out + (size_t)r * head_dim;

        /* First half of the output: -x2. Second half: x1. */
        for (int i = 0; i < half; i++) {
            out_row[i] = -x_row[half + i];
            out_row[half + i] = x_row[i];
        }
    }
    /* END SOLUTION */
}

/* Rotates `heads` blocks of [T, Dh]; out may alias x because each pair
 * (i, i + Dh/2) is read before either is written. */
static void rotate_heads(float *out, const float *x, const float *cos, const float *sin, int heads, int T,
                         int head_dim)
{
    /* BEGIN SOLUTION: rotate_heads (apply_rotary_pos_emb), docs/05_rope.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)heads * T * head_dim; i++)
     *         out[i] = 0.0f;
     *     (void)x; (void)cos; (void)sin;
     */
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++) {
        for (int t = 0; t < T; t++) {
            size_t row = ((size_t)h * T + t) * head_dim;
            const float *cos_row = cos + (size_t)t * head_dim, *sin_row = sin + (size_t)t * head_dim;
#ifdef PG_BROKEN_VARIANTS
            /* Test-only bug: Llama's pairs (2i, 2i + 1) with angle i. */
            if (pg_broken_variant() == PG_BROKEN_ROPE_ADJACENT) {
                for (int i = 0; i < half; i++) {
                    float x1 = x[row + 2 * i], x2 = x[row + 2 * i + 1];
                    out[row + 2 * i] = x1 * cos_row[i] - x2 * sin_row[i];
                    out[row + 2 * i + 1] = x2 * cos_row[i] + x1 * sin_row[i];
                }
                continue;
            }
#endif
            for (int i = 0; i < half; i++) {
                float x1 = x[row + i], x2 = x[row + half + i];

                /* x * cos + rotate_half(x) * sin, with rotate_half(x) = (-x2, x1):
                 * two products and one sum, each rounded as PyTorch rounds them. */
                out[row + i] = x1 * cos_row[i] + (-x2) * sin_row[i];
                out[row + half + i] = x2 * cos_row[half + i] + x1 * sin_row[half + i];
            }
        }
    }
    /* END SOLUTION */
}

void apply_rotary_pos_emb(float *q_embed, float *k_embed, const float *q, const float *k,
                          const float *cos, const float *sin, int num_heads, int num_key_value_heads,
                          int T, int head_dim)
{
    /* The same cos and sin rows serve every head: positions depend on the
     * token, not on the head. */
    rotate_heads(q_embed, q, cos, sin, num_heads, T, head_dim);
    rotate_heads(k_embed, k, cos, sin, num_key_value_heads, T, head_dim);
}
