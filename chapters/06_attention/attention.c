/*
 * Chapter 6: GemmaAttention. See attention.h for the shapes and the mask
 * contract, and docs/06_attention.md for the math.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   query_states = self.q_proj(hidden_states).view(bsz, q_len, H, Dh).transpose(1, 2)
 *   key_states, value_states likewise with K heads
 *   cos, sin = self.rotary_emb(value_states, position_ids)
 *   query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
 *   key_states, value_states = kv_cache.update(key_states, value_states, self.layer_idx)
 *   key_states, value_states = repeat_kv(key_states, n_rep), repeat_kv(value_states, n_rep)
 *   attn_weights = torch.matmul(query_states, key_states.transpose(2, 3)) / math.sqrt(Dh)
 *   attn_weights = attn_weights + attention_mask
 *   attn_weights = softmax(attn_weights, dim=-1, dtype=torch.float32)
 *   attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).reshape(bsz, q_len, -1)
 *   return self.o_proj(attn_output)
 */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "05_rope/rope.h"
#include "io.h"
#include "linear.h"

int gemma_attention_scratch_create(gemma_attention_scratch *scratch, int max_tokens, int max_cached,
                                   int num_heads, int num_key_value_heads, int head_dim, pg_error *err)
{
    memset(scratch, 0, sizeof *scratch);
    if (max_tokens <= 0 || max_cached <= 0 || num_heads <= 0 || num_key_value_heads <= 0 || head_dim <= 0)
        return pg_error_set(err, "invalid attention scratch size: max_tokens %d, max_cached %d, num_heads %d, "
                            "num_key_value_heads %d, head_dim %d; all must be positive",
                            max_tokens, max_cached, num_heads, num_key_value_heads, head_dim);
    if (num_heads % num_key_value_heads != 0)
        return pg_error_set(err, "invalid attention layout: num_heads %d is not a multiple of "
                            "num_key_value_heads %d, so query heads cannot share key/value heads evenly",
                            num_heads, num_key_value_heads);
    if (head_dim % 2 != 0)
        return pg_error_set(err, "invalid attention layout: head_dim %d is odd; rotary embedding needs an "
                            "even head_dim", head_dim);

    size_t T = (size_t)max_tokens, S = (size_t)max_cached;
    size_t q_width = (size_t)num_heads * head_dim, kv_width = (size_t)num_key_value_heads * head_dim;
    scratch->projection = pg_calloc(T * q_width, sizeof(float), "the attention projection", err);
    scratch->query_states = pg_calloc(T * q_width, sizeof(float), "the attention query states", err);
    scratch->key_states = pg_calloc(T * kv_width, sizeof(float), "the attention key states", err);
    scratch->value_states = pg_calloc(T * kv_width, sizeof(float), "the attention value states", err);
    scratch->cos = pg_calloc(T * head_dim, sizeof(float), "the rotary cos table", err);
    scratch->sin = pg_calloc(T * head_dim, sizeof(float), "the rotary sin table", err);
    scratch->values_transposed = pg_calloc(kv_width * S, sizeof(float), "the transposed values", err);
    scratch->attn_weights = pg_calloc(T * S, sizeof(float), "the attention weights", err);
    scratch->head_output = pg_calloc(T * head_dim, sizeof(float), "the attention head output", err);
    scratch->attn_output = pg_calloc(T * q_width, sizeof(float), "the attention output", err);
    if (scratch->projection == NULL || scratch->query_states == NULL || scratch->key_states == NULL ||
        scratch->value_states == NULL || scratch->cos == NULL || scratch->sin == NULL ||
        scratch->values_transposed == NULL || scratch->attn_weights == NULL || scratch->head_output == NULL ||
        scratch->attn_output == NULL) {
        gemma_attention_scratch_free(scratch);
        return -1;
    }

    scratch->max_tokens = max_tokens;
    scratch->max_cached = max_cached;
    scratch->num_heads = num_heads;
    scratch->num_key_value_heads = num_key_value_heads;
    scratch->head_dim = head_dim;
    return 0;
}

void gemma_attention_scratch_free(gemma_attention_scratch *scratch)
{
    free(scratch->projection);
    free(scratch->query_states);
    free(scratch->key_states);
    free(scratch->value_states);
    free(scratch->cos);
    free(scratch->sin);
    free(scratch->values_transposed);
    free(scratch->attn_weights);
    free(scratch->head_output);
    free(scratch->attn_output);
    memset(scratch, 0, sizeof *scratch);
}

/* Checks the call against the scratch and the cache before anything is
 * written, so that a failed call changes nothing. */
static int check_sizes(const gemma_attention_scratch *scratch, const kv_cache *cache, int layer_idx, int T,
                       int num_heads, int num_key_value_heads, int head_dim, pg_error *err)
{
    if (num_heads != scratch->num_heads || num_key_value_heads != scratch->num_key_value_heads ||
        head_dim != scratch->head_dim)
        return pg_error_set(err, "attention: heads %d, key/value heads %d, head_dim %d, but the scratch was "
                            "created for %d, %d, %d; create it with the model's sizes",
                            num_heads, num_key_value_heads, head_dim, scratch->num_heads,
                            scratch->num_key_value_heads, scratch->head_dim);
    if (T <= 0 || T > scratch->max_tokens)
        return pg_error_set(err, "attention: %d new tokens, but the scratch holds 1..%d; create it with a "
                            "larger max_tokens", T, scratch->max_tokens);
    int S = T;
    if (cache != NULL) {
        if (cache->num_key_value_heads != num_key_value_heads || cache->head_dim != head_dim)
            return pg_error_set(err, "attention: the KV cache has %d key/value heads of %d channels, the layer "
                                "%d of %d; create the cache with the model's sizes",
                                cache->num_key_value_heads, cache->head_dim, num_key_value_heads, head_dim);
        if (layer_idx < 0 || layer_idx >= cache->num_layers)
            return pg_error_set(err, "attention: layer_idx %d out of range 0..%d of the KV cache", layer_idx,
                                cache->num_layers - 1);
        S = cache->num_items[layer_idx] + T;
        if (S > cache->capacity)
            return pg_error_set(err, "attention: layer %d holds %d tokens, adding %d would exceed the KV "
                                "cache capacity of %d; create the cache with a larger capacity",
                                layer_idx, cache->num_items[layer_idx], T, cache->capacity);
    }
    if (S > scratch->max_cached)
        return pg_error_set(err, "attention: %d cached tokens after the update, but the scratch holds at "
                            "most %d; create it with max_cached at least the cache capacity",
                            S, scratch->max_cached);
    return 0;
}

/* Writes the [T, heads * Dh] Linear output as [heads, T, Dh], the
 * .view(bsz, q_len, heads, Dh).transpose(1, 2) of PyTorch. */
static void split_heads(float *states, const float *projection, int T, int heads, int head_dim)
{
    /* BEGIN SOLUTION: split_heads, docs/06_attention.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * heads * head_dim; i++)
     *         states[i] = 0.0f;
     *     (void)projection;
     */
    for (int h = 0; h < heads; h++)
        for (int t = 0; t < T; t++)
            memcpy(states + ((size_t)h * T + t) * head_dim,
                   projection + ((size_t)t * heads + h) * head_dim, sizeof(float) * head_dim);
    /* END SOLUTION */
}

/* Turns one row of scores into probabilities, in float32 as PyTorch's CPU
 * softmax does: subtract the max, exponentiate, then multiply by 1 / sum.
 * Masked entries are -inf and become exactly 0. */
static void softmax_row(float *row, int S)
{
    /* BEGIN SOLUTION: softmax_row, docs/06_attention.md "The math"
     * Student placeholder:
     *     for (int s = 0; s < S; s++)
     *         row[s] = 0.0f;
     */
    float max = row[0];
    for (int s = 1; s < S; s++)
        if (row[s] > max)
            max = row[s];
    float sum = 0.0f;
    for (int s = 0; s < S; s++) {
        row[s] = expf(row[s] - max);
        sum += row[s];
    }
    float inv_sum = 1.0f / sum;
    for (int s = 0; s < S; s++)
        row[s] *= inv_sum;
    /* END SOLUTION */
}

int gemma_attention(float *out, const float *hidden_states, const gemma_attention_weights *weights,
                    const float *attention_mask, const int *position_ids, kv_cache *cache, int layer_idx,
                    gemma_attention_scratch *scratch, int T, int hidden_size, int num_heads,
                    int num_key_value_heads, int head_dim, float rope_theta, pg_error *err)
{
    if (check_sizes(scratch, cache, layer_idx, T, num_heads, num_key_value_heads, head_dim, err) != 0)
        return -1;
    /* BEGIN SOLUTION: gemma_attention, docs/06_attention.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * hidden_size; i++)
     *         out[i] = 0.0f;
     *     (void)hidden_states; (void)weights; (void)attention_mask; (void)position_ids; (void)cache;
     *     (void)rope_theta; (void)split_heads; (void)softmax_row;
     *     return 0;
     */
    int H = num_heads, K = num_key_value_heads, Dh = head_dim;
    int n_rep = H / K;

    /* q = q_proj(x) as [H, T, Dh]; k = k_proj(x), v = v_proj(x) as [K, T, Dh]. */
    linear(scratch->projection, hidden_states, weights->q_proj, NULL, T, hidden_size, H * Dh);
    split_heads(scratch->query_states, scratch->projection, T, H, Dh);
    linear(scratch->projection, hidden_states, weights->k_proj, NULL, T, hidden_size, K * Dh);
    split_heads(scratch->key_states, scratch->projection, T, K, Dh);
    linear(scratch->projection, hidden_states, weights->v_proj, NULL, T, hidden_size, K * Dh);
    split_heads(scratch->value_states, scratch->projection, T, K, Dh);

    /* RoPE on q and k, in place, at the caller's positions (1-based in
     * PaliGemma). Values are not rotated. */
    gemma_rotary_embedding(scratch->cos, scratch->sin, position_ids, T, Dh, rope_theta);
    apply_rotary_pos_emb(scratch->query_states, scratch->key_states, scratch->query_states,
                         scratch->key_states, scratch->cos, scratch->sin, H, K, T, Dh);

    /* Append the rotated keys and the values to the cache; attend to all S
     * cached rows. Without a cache the T new rows are all there is. Slots at
     * S and beyond are never read, whatever they hold. */
    int S = T;
    if (cache != NULL) {
        if (kv_cache_update(cache, layer_idx, scratch->key_states, scratch->value_states, T, err) != 0)
            return -1;
        S = cache->num_items[layer_idx];
    }

    /* v^T of each key/value head, [Dh, S], so that probabilities @ v is a
     * linear() with v^T as the [out, in] weight. */
    for (int k = 0; k < K; k++) {
        const float *values = cache != NULL ? kv_cache_values(cache, layer_idx, k)
                                            : scratch->value_states + (size_t)k * T * Dh;
        float *values_t = scratch->values_transposed + (size_t)k * Dh * S;
        for (int s = 0; s < S; s++)
            for (int d = 0; d < Dh; d++)
                values_t[(size_t)d * S + s] = values[(size_t)s * Dh + d];
    }

    /* The divisor sqrt(head_dim) in float32: 16 for Gemma-2B, not
     * sqrt(hidden_size / num_heads). */
    float scale_divisor = (float)sqrt((double)Dh);
    for (int h = 0; h < H; h++) {
        /* repeat_kv: query head h shares key/value head h / n_rep, read in
         * place from the cache instead of copied n_rep times. */
        int kv_head = h / n_rep;
        const float *keys = cache != NULL ? kv_cache_keys(cache, layer_idx, kv_head)
                                          : scratch->key_states + (size_t)kv_head * T * Dh;
        const float *query = scratch->query_states + (size_t)h * T * Dh;
        float *attn_weights = scratch->attn_weights;

        /* scores [T, S] = q_h @ k^T: the cached keys [S, Dh] are already in
         * linear()'s [out, in] weight layout. */
        linear(attn_weights, query, weight_f32(keys), NULL, T, Dh, S);

        /* Divide by sqrt(Dh), add the mask, softmax each row in float32. */
        for (int t = 0; t < T; t++) {
            float *row = attn_weights + (size_t)t * S;
            for (int s = 0; s < S; s++) {
                row[s] = row[s] / scale_divisor;
                if (attention_mask != NULL)
                    row[s] += attention_mask[(size_t)t * S + s];
            }
            softmax_row(row, S);
        }

        /* head_output [T, Dh] = probabilities [T, S] @ v [S, Dh]. */
        linear(scratch->head_output, attn_weights, weight_f32(scratch->values_transposed + (size_t)kv_head * Dh * S),
               NULL, T, S, Dh);

        /* Concatenate heads in head order: columns h * Dh .. h * Dh + Dh - 1. */
        for (int t = 0; t < T; t++)
            memcpy(scratch->attn_output + ((size_t)t * H + h) * Dh, scratch->head_output + (size_t)t * Dh,
                   sizeof(float) * Dh);
    }

    /* out = o_proj(attn_output): [T, H * Dh] -> [T, D]. */
    linear(out, scratch->attn_output, weights->o_proj, NULL, T, H * Dh, hidden_size);
    return 0;
    /* END SOLUTION */
}
