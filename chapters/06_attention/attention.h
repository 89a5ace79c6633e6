/*
 * Chapter 6: GemmaAttention, self-attention with shared key/value heads.
 *
 * Mirrors the PyTorch class GemmaAttention (golden/modeling_gemma.py, the
 * eager path of transformers 4.42 to 4.48):
 *   q, k, v = q_proj(x), k_proj(x), v_proj(x)            (no biases)
 *   q, k = apply_rotary_pos_emb(q, k, cos, sin)          (chapter 5)
 *   k, v = kv_cache.update(k, v, layer_idx)              (chapter 1; keys after RoPE)
 *   scores = q @ repeat_kv(k)^T / sqrt(head_dim) + attention_mask
 *   out = o_proj(concat_heads(softmax(scores) @ repeat_kv(v)))
 * Query head h reads key/value head h / n_rep with n_rep = H / K (chapter 2).
 * Gemma-2B has H = 8 and K = 1 (multi-query attention) and head_dim 256,
 * which is not hidden_size / H in general: read it from the config.
 *
 * The attention mask is additive, [T, S] row-major: T new tokens (rows) by
 * S = past + T cached tokens after the update (columns). 0.0f means attend,
 * -INFINITY means masked. NULL means no mask: every row attends to all S
 * positions, which is PaliGemma's prefill (the prefix attends both ways) and
 * its one-token decode step. Every row must attend to at least one position.
 *
 * Shapes (letters in common/dims.h):
 *   hidden_states, out   [T, D]
 *   q_proj               [H * Dh, D]    PyTorch Linear layout [out, in]
 *   k_proj, v_proj       [K * Dh, D]
 *   o_proj               [D, H * Dh]
 *   attention_mask       [T, S] or NULL
 *   position_ids         [T]            1-based in PaliGemma
 */
#ifndef PG_ATTENTION_H
#define PG_ATTENTION_H

#include "01_kv_cache/kv_cache.h"
#include "linear.h"
#include "pg_error.h"

/* The projections of one GemmaAttention, named as in the checkpoint
 * (language_model.model.layers.N.self_attn.{q,k,v,o}_proj.weight). */
typedef struct {
    weight_matrix q_proj; /* [H * Dh, D] */
    weight_matrix k_proj; /* [K * Dh, D] */
    weight_matrix v_proj; /* [K * Dh, D] */
    weight_matrix o_proj; /* [D, H * Dh] */
} gemma_attention_weights;

/* Caller-owned working memory for gemma_attention, sized once for at most
 * max_tokens new tokens and max_cached cached tokens. */
typedef struct {
    int max_tokens;          /* T at most */
    int max_cached;          /* S at most; the KV cache capacity */
    int num_heads;           /* H */
    int num_key_value_heads; /* K */
    int head_dim;            /* Dh */
    float *projection;       /* [T, H * Dh]: a q, k or v Linear output before the head split */
    float *query_states;     /* [H, T, Dh] */
    float *key_states;       /* [K, T, Dh] */
    float *value_states;     /* [K, T, Dh] */
    float *cos, *sin;        /* [T, Dh] */
    float *values_transposed; /* [K, Dh, S]: v^T, the weight layout linear() takes */
    float *attn_weights;     /* [T, S]: scores, then probabilities, of one head */
    float *head_output;      /* [T, Dh] */
    float *attn_output;      /* [T, H * Dh]: heads concatenated in head order */
} gemma_attention_scratch;

/* Allocates the scratch. Returns -1 with a message if a size is not
 * positive, num_heads is not a multiple of num_key_value_heads, or head_dim
 * is odd (RoPE pairs channel i with i + head_dim / 2). */
int gemma_attention_scratch_create(gemma_attention_scratch *scratch, int max_tokens, int max_cached,
                                   int num_heads, int num_key_value_heads, int head_dim, pg_error *err);

/* Frees the buffers and zeroes the struct. */
void gemma_attention_scratch_free(gemma_attention_scratch *scratch);

/* Writes the attention of T new tokens into out [T, D]. With a cache, the
 * new keys (after RoPE) and values are appended to layer layer_idx and the
 * tokens attend to all S cached ones; with cache NULL they attend to each
 * other only (S = T). Returns -1 with a message, before writing out, if the
 * sizes disagree with the scratch or the cache, or the cache is full. */
int gemma_attention(float *out, const float *hidden_states, const gemma_attention_weights *weights,
                    const float *attention_mask, const int *position_ids, kv_cache *cache, int layer_idx,
                    gemma_attention_scratch *scratch, int T, int hidden_size, int num_heads,
                    int num_key_value_heads, int head_dim, float rope_theta, pg_error *err);

#endif
