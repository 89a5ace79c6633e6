/*
 * Chapter 7: GemmaDecoderLayer. See decoder_layer.h for the shapes and
 * docs/07_decoder_layer.md for the structure.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   residual = hidden_states
 *   hidden_states = self.input_layernorm(hidden_states)
 *   hidden_states = self.self_attn(hidden_states, attention_mask, position_ids, kv_cache)
 *   hidden_states = residual + hidden_states
 *   residual = hidden_states
 *   hidden_states = self.post_attention_layernorm(hidden_states)
 *   hidden_states = self.mlp(hidden_states)
 *   return residual + hidden_states
 */
#include "decoder_layer.h"

#include <stdlib.h>
#include <string.h>

#include "03_rms_norm/rms_norm.h"
#include "io.h"

int gemma_decoder_layer_scratch_create(gemma_decoder_layer_scratch *scratch, int max_tokens, int max_cached,
                                       int hidden_size, int intermediate_size, int num_heads,
                                       int num_key_value_heads, int head_dim, pg_error *err)
{
    memset(scratch, 0, sizeof *scratch);
    if (hidden_size <= 0 || intermediate_size <= 0)
        return pg_error_set(err, "invalid decoder layer size: hidden_size %d, intermediate_size %d; both must be "
                            "positive", hidden_size, intermediate_size);
    if (gemma_attention_scratch_create(&scratch->attention, max_tokens, max_cached, num_heads,
                                       num_key_value_heads, head_dim, err) != 0)
        return -1;

    size_t T = (size_t)max_tokens;
    scratch->normed = pg_calloc(T * hidden_size, sizeof(float), "the decoder layer norm output", err);
    scratch->sublayer_output = pg_calloc(T * hidden_size, sizeof(float), "the decoder sublayer output", err);
    scratch->gate = pg_calloc(T * intermediate_size, sizeof(float), "the MLP gate", err);
    scratch->up = pg_calloc(T * intermediate_size, sizeof(float), "the MLP up projection", err);
    if (scratch->normed == NULL || scratch->sublayer_output == NULL || scratch->gate == NULL ||
        scratch->up == NULL) {
        gemma_decoder_layer_scratch_free(scratch);
        return -1;
    }
    scratch->max_tokens = max_tokens;
    scratch->hidden_size = hidden_size;
    scratch->intermediate_size = intermediate_size;
    return 0;
}

void gemma_decoder_layer_scratch_free(gemma_decoder_layer_scratch *scratch)
{
    gemma_attention_scratch_free(&scratch->attention);
    free(scratch->normed);
    free(scratch->sublayer_output);
    free(scratch->gate);
    free(scratch->up);
    memset(scratch, 0, sizeof *scratch);
}

int gemma_decoder_layer(float *out, const float *hidden_states, const gemma_decoder_layer_weights *weights,
                        const float *attention_mask, const int *position_ids, kv_cache *cache, int layer_idx,
                        gemma_decoder_layer_scratch *scratch, int T, int hidden_size, int intermediate_size,
                        int num_heads, int num_key_value_heads, int head_dim, float rms_norm_eps,
                        float rope_theta, pg_error *err)
{
    if (hidden_size != scratch->hidden_size || intermediate_size != scratch->intermediate_size)
        return pg_error_set(err, "decoder layer %d: hidden_size %d, intermediate_size %d, but the scratch was "
                            "created for %d, %d; create it with the model's sizes",
                            layer_idx, hidden_size, intermediate_size, scratch->hidden_size,
                            scratch->intermediate_size);
    /* BEGIN SOLUTION: gemma_decoder_layer, docs/07_decoder_layer.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * hidden_size; i++)
     *         out[i] = 0.0f;
     *     (void)hidden_states; (void)weights; (void)attention_mask; (void)position_ids; (void)cache;
     *     (void)num_heads; (void)num_key_value_heads; (void)head_dim; (void)rms_norm_eps; (void)rope_theta;
     *     return 0;
     */
    size_t n = (size_t)T * hidden_size;

    /* Attention block: normed = input_layernorm(h), then attention. The
     * attention checks T against the scratch and the cache before it writes. */
    gemma_rms_norm(scratch->normed, hidden_states, weights->input_layernorm, T, hidden_size, rms_norm_eps);
    if (gemma_attention(scratch->sublayer_output, scratch->normed, &weights->self_attn, attention_mask,
                        position_ids, cache, layer_idx, &scratch->attention, T, hidden_size, num_heads,
                        num_key_value_heads, head_dim, rope_theta, err) != 0)
        return -1;
    if (scratch->attention_callback != NULL)
        scratch->attention_callback(scratch->attention_user_data, layer_idx, hidden_states,
                                    scratch->sublayer_output, T, hidden_size);

    /* Residual: out = h + attention. Element i reads only element i, so out
     * may be hidden_states itself. */
    for (size_t i = 0; i < n; i++)
        out[i] = hidden_states[i] + scratch->sublayer_output[i];

    /* MLP block: normed = post_attention_layernorm(out), then the MLP. */
    gemma_rms_norm(scratch->normed, out, weights->post_attention_layernorm, T, hidden_size, rms_norm_eps);
    gemma_mlp(scratch->sublayer_output, scratch->normed, &weights->mlp, scratch->gate, scratch->up, T,
              hidden_size, intermediate_size);

    /* Residual: out = out + mlp. */
    for (size_t i = 0; i < n; i++)
        out[i] += scratch->sublayer_output[i];
    return 0;
    /* END SOLUTION */
}
