/*
 * Chapter 5: rotary position embedding (RoPE).
 *
 * Mirrors GemmaRotaryEmbedding, rotate_half and apply_rotary_pos_emb
 * (golden/modeling_gemma.py, after transformers 4.42 to 4.48). A query or
 * key vector of head_dim channels is cut into two halves, and channel i is
 * rotated together with channel i + Dh/2 by the angle
 *   angle[t][i] = position_ids[t] * inv_freq[i],
 *   inv_freq[i] = 1 / rope_theta^(2i / Dh),   i < Dh/2:
 *   x'[i]        = x[i] cos - x[i + Dh/2] sin
 *   x'[i + Dh/2] = x[i + Dh/2] cos + x[i] sin
 * Llama ports that rotate adjacent pairs (2i, 2i + 1) instead compute a
 * different function on the same checkpoint.
 *
 * Positions are whatever the caller passes; PaliGemma's are 1-based (a
 * prefill of N tokens uses 1..N, decode step k uses N + k).
 *
 * Shapes (letters in common/dims.h; head_dim must be even):
 *   position_ids   [T]
 *   inv_freq       [Dh/2]
 *   cos, sin       [T, Dh]    the second half repeats the first
 *   q, q_embed     [H, T, Dh]
 *   k, k_embed     [K, T, Dh]
 */
#ifndef PG_ROPE_H
#define PG_ROPE_H

/* Writes inv_freq[i] = 1 / rope_theta^(2i / head_dim) in float32, rounded
 * as PyTorch rounds 1.0 / (base ** (arange(0, dim, 2).float() / dim)). */
void gemma_rotary_inv_freq(float *inv_freq, int head_dim, float rope_theta);

/* Writes the cos and sin tables of T positions (GemmaRotaryEmbedding.forward). */
void gemma_rotary_embedding(float *cos, float *sin, const int *position_ids, int T, int head_dim,
                            float rope_theta);

/* Writes cat(-x2, x1) for each of `rows` rows of head_dim values, where x1
 * and x2 are the first and second halves of the row. out must not alias x. */
void rotate_half(float *out, const float *x, int rows, int head_dim);

/* Writes q * cos + rotate_half(q) * sin for every query head and the same
 * for every key head. q_embed may alias q, and k_embed may alias k. */
void apply_rotary_pos_emb(float *q_embed, float *k_embed, const float *q, const float *k,
                          const float *cos, const float *sin, int num_heads, int num_key_value_heads,
                          int T, int head_dim);

#endif
