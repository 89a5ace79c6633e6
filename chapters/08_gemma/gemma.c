/*
 * Chapter 8: GemmaModel and GemmaForCausalLM. See gemma.h for the shapes and
 * docs/08_gemma.md for the conventions.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   inputs_embeds = self.embed_tokens(input_ids)
 *   normalizer = torch.tensor(self.config.hidden_size ** 0.5, dtype=hidden_states.dtype)
 *   hidden_states = inputs_embeds * normalizer
 *   for decoder_layer in self.layers:
 *       hidden_states = decoder_layer(hidden_states, attention_mask, position_ids, kv_cache)
 *   hidden_states = self.norm(hidden_states)
 *   logits = F.linear(hidden_states[:, -num_logits_to_keep:, :], self.model.embed_tokens.weight)
 */
#include "gemma.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "03_rms_norm/rms_norm.h"
#include "io.h"
#include "linear.h"

void gemma_config_paligemma_3b(gemma_config *config)
{
    /* transformers' GemmaConfig() defaults to Gemma-7B; PaliGemmaConfig sets
     * these Gemma-2B sizes for its text model, and the checkpoint's
     * config.json sets the vocabulary to 257216 rows (PaliGemmaConfig's own
     * default is 257152). */
    config->vocab_size = 257216;
    config->hidden_size = 2048;
    config->intermediate_size = 16384;
    config->num_hidden_layers = 18;
    config->num_attention_heads = 8;
    config->num_key_value_heads = 1;
    config->head_dim = 256;
    config->max_position_embeddings = 8192;
    config->rms_norm_eps = 1e-6f;
    config->rope_theta = 10000.0f;
    config->pad_token_id = 0;
    config->bos_token_id = 2;
    config->eos_token_id = 1;
}

int gemma_config_validate(const gemma_config *config, pg_error *err)
{
    const struct {
        const char *name;
        int value;
    } sizes[] = {
        {"vocab_size", config->vocab_size},
        {"hidden_size", config->hidden_size},
        {"intermediate_size", config->intermediate_size},
        {"num_hidden_layers", config->num_hidden_layers},
        {"num_attention_heads", config->num_attention_heads},
        {"num_key_value_heads", config->num_key_value_heads},
        {"head_dim", config->head_dim},
        {"max_position_embeddings", config->max_position_embeddings},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value <= 0)
            return pg_error_set(err, "invalid Gemma config: %s is %d, expected a positive number", sizes[i].name,
                                sizes[i].value);

    if (config->num_attention_heads % config->num_key_value_heads != 0)
        return pg_error_set(err, "invalid Gemma config: num_attention_heads %d is not a multiple of "
                            "num_key_value_heads %d, so query heads cannot share key/value heads evenly",
                            config->num_attention_heads, config->num_key_value_heads);
    if (config->head_dim % 2 != 0)
        return pg_error_set(err, "invalid Gemma config: head_dim %d is odd; rotary embedding pairs channel i "
                            "with i + head_dim / 2 and needs an even head_dim", config->head_dim);
    if (!isfinite(config->rms_norm_eps) || config->rms_norm_eps < 0.0f)
        return pg_error_set(err, "invalid Gemma config: rms_norm_eps is %g, expected a finite number >= 0 "
                            "(1e-6 in Gemma)", (double)config->rms_norm_eps);
    if (!isfinite(config->rope_theta) || config->rope_theta <= 0.0f)
        return pg_error_set(err, "invalid Gemma config: rope_theta is %g, expected a finite positive number "
                            "(10000 in Gemma)", (double)config->rope_theta);

    const struct {
        const char *name;
        int value;
    } ids[] = {
        {"pad_token_id", config->pad_token_id},
        {"bos_token_id", config->bos_token_id},
        {"eos_token_id", config->eos_token_id},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].value < 0 || ids[i].value >= config->vocab_size)
            return pg_error_set(err, "invalid Gemma config: %s is %d, outside the vocabulary 0..%d", ids[i].name,
                                ids[i].value, config->vocab_size - 1);
    return 0;
}

int gemma_state_create(gemma_state *state, const gemma_config *config, int max_tokens, int max_cached,
                       pg_error *err)
{
    memset(state, 0, sizeof *state);
    if (gemma_config_validate(config, err) != 0)
        return -1;
    if (gemma_decoder_layer_scratch_create(&state->layer, max_tokens, max_cached, config->hidden_size,
                                           config->intermediate_size, config->num_attention_heads,
                                           config->num_key_value_heads, config->head_dim, err) != 0)
        return -1;

    size_t n = (size_t)max_tokens * config->hidden_size;
    state->layer_input = pg_calloc(n, sizeof(float), "the decoder layer input", err);
    state->layer_output = pg_calloc(n, sizeof(float), "the decoder layer output", err);
    state->last_hidden_state = pg_calloc(n, sizeof(float), "the last hidden state", err);
    if (state->layer_input == NULL || state->layer_output == NULL || state->last_hidden_state == NULL) {
        gemma_state_free(state);
        return -1;
    }
    state->max_tokens = max_tokens;
    state->max_cached = max_cached;
    return 0;
}

void gemma_state_free(gemma_state *state)
{
    gemma_decoder_layer_scratch_free(&state->layer);
    free(state->layer_input);
    free(state->layer_output);
    free(state->last_hidden_state);
    memset(state, 0, sizeof *state);
}

/* Checks the inputs and the cache before anything is written, so that a
 * failed forward pass leaves the cache as it was. */
static int check_forward(const int *input_ids, const float *inputs_embeds, int T, const gemma_config *config,
                         const kv_cache *cache, const gemma_state *state, pg_error *err)
{
    if ((input_ids == NULL) == (inputs_embeds == NULL))
        return pg_error_set(err, "Gemma forward: pass exactly one of input_ids and inputs_embeds (got %s)",
                            input_ids == NULL ? "neither" : "both");
    if (T <= 0 || T > state->max_tokens)
        return pg_error_set(err, "Gemma forward: %d new tokens, but the state holds 1..%d; create it with a "
                            "larger max_tokens", T, state->max_tokens);
    if (input_ids != NULL)
        for (int t = 0; t < T; t++)
            if (input_ids[t] < 0 || input_ids[t] >= config->vocab_size)
                return pg_error_set(err, "Gemma forward: input_ids[%d] is %d, outside the vocabulary 0..%d",
                                    t, input_ids[t], config->vocab_size - 1);
    if (cache == NULL)
        return 0;

    if (cache->num_layers != config->num_hidden_layers || cache->num_key_value_heads != config->num_key_value_heads ||
        cache->head_dim != config->head_dim)
        return pg_error_set(err, "Gemma forward: the KV cache has %d layers of %d key/value heads of %d, the "
                            "config %d layers of %d of %d; create the cache from the config",
                            cache->num_layers, cache->num_key_value_heads, cache->head_dim,
                            config->num_hidden_layers, config->num_key_value_heads, config->head_dim);
    /* Every layer appends once per pass, so all layers hold the same length
     * between passes; a mismatch means an earlier pass stopped halfway. */
    int past = cache->num_items[0];
    for (int layer = 1; layer < cache->num_layers; layer++)
        if (cache->num_items[layer] != past)
            return pg_error_set(err, "Gemma forward: KV cache layer %d holds %d tokens but layer 0 holds %d; "
                                "start from a fresh cache", layer, cache->num_items[layer], past);
    if (past + T > cache->capacity)
        return pg_error_set(err, "Gemma forward: the KV cache holds %d tokens, adding %d would exceed its "
                            "capacity of %d; create the cache with a larger capacity", past, T, cache->capacity);
    return 0;
}

int gemma_model_forward(float *last_hidden_state, const int *input_ids, const float *inputs_embeds,
                        const float *attention_mask, const int *position_ids, int T, const gemma_weights *weights,
                        const gemma_config *config, kv_cache *cache, gemma_state *state, pg_error *err)
{
    if (check_forward(input_ids, inputs_embeds, T, config, cache, state, err) != 0)
        return -1;
    /* BEGIN SOLUTION: gemma_model_forward, docs/08_gemma.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * config->hidden_size; i++)
     *         last_hidden_state[i] = 0.0f;
     *     (void)input_ids; (void)inputs_embeds; (void)attention_mask; (void)position_ids; (void)weights;
     *     return 0;
     */
    int D = config->hidden_size;

    /* The normalizer sqrt(hidden_size) is rounded to float32 before the
     * multiplication, as transformers does with torch.tensor(hidden_size**0.5,
     * dtype=float32): 45.2548332 for D = 2048. Text rows need it; image rows
     * arrive divided by it (the merge) and come back unchanged. */
    float normalizer = (float)sqrt((double)D);

    /* h = embed_tokens[input_ids] * normalizer, or inputs_embeds * normalizer. */
    for (int t = 0; t < T; t++) {
        float *h = state->layer_input + (size_t)t * D;
        if (input_ids != NULL)
            weight_row(h, weights->embed_tokens, input_ids[t], D);
        else
            memcpy(h, inputs_embeds + (size_t)t * D, sizeof(float) * (size_t)D);
        for (int d = 0; d < D; d++)
            h[d] = h[d] * normalizer;
    }

    /* The layers, each with the same mask and positions: in a decode step
     * every layer rotates its new key at the same position N + k. */
    for (int layer = 0; layer < config->num_hidden_layers; layer++) {
        if (gemma_decoder_layer(state->layer_output, state->layer_input, &weights->layers[layer], attention_mask,
                                position_ids, cache, layer, &state->layer, T, D, config->intermediate_size,
                                config->num_attention_heads, config->num_key_value_heads, config->head_dim,
                                config->rms_norm_eps, config->rope_theta, err) != 0)
            return -1;
        if (state->layer_callback != NULL)
            state->layer_callback(state->callback_user_data, layer, state->layer_input, state->layer_output, T, D);

        /* This layer's output is the next one's input. */
        float *swap = state->layer_input;
        state->layer_input = state->layer_output;
        state->layer_output = swap;
    }

    /* The final norm, also with (1 + w). */
    gemma_rms_norm(last_hidden_state, state->layer_input, weights->norm, T, D, config->rms_norm_eps);
    return 0;
    /* END SOLUTION */
}

int gemma_for_causal_lm_forward(float *logits, int num_logits_to_keep, const int *input_ids,
                                const float *inputs_embeds, const float *attention_mask, const int *position_ids,
                                int T, const gemma_weights *weights, const gemma_config *config, kv_cache *cache,
                                gemma_state *state, pg_error *err)
{
    if (num_logits_to_keep < 0 || num_logits_to_keep > T)
        return pg_error_set(err, "Gemma forward: num_logits_to_keep is %d, expected 0 (all rows) to T = %d",
                            num_logits_to_keep, T);
    if (gemma_model_forward(state->last_hidden_state, input_ids, inputs_embeds, attention_mask, position_ids, T,
                            weights, config, cache, state, err) != 0)
        return -1;

    /* BEGIN SOLUTION: the tied LM head of gemma_for_causal_lm_forward, docs/08_gemma.md "The math"
     * Student placeholder:
     *     size_t rows = (size_t)(num_logits_to_keep == 0 ? T : num_logits_to_keep);
     *     for (size_t i = 0; i < rows * config->vocab_size; i++)
     *         logits[i] = 0.0f;
     *     return 0;
     */
    /* logits = h[T - R .. T - 1] @ embed_tokens^T: the [V, D] embedding is
     * already in linear()'s [out, in] layout, so the tied head needs no copy. */
    int rows = num_logits_to_keep == 0 ? T : num_logits_to_keep;
    const float *last_rows = state->last_hidden_state + (size_t)(T - rows) * config->hidden_size;
    linear(logits, last_rows, weights->embed_tokens, NULL, rows, config->hidden_size, config->vocab_size);
    return 0;
    /* END SOLUTION */
}
