/*
 * Chapter 9: the SigLIP vision tower. See siglip.h for the shapes and
 * docs/09_siglip.md for the walk from pixels to image features.
 *
 * PyTorch (golden/modeling_siglip.py):
 *   patch_embeds = self.patch_embedding(pixel_values)        # Conv2d, stride p
 *   embeddings = patch_embeds.flatten(2).transpose(1, 2) + self.position_embedding(self.position_ids)
 *   for layer in self.layers:
 *       hidden_states = hidden_states + self.self_attn(self.layer_norm1(hidden_states))
 *       hidden_states = hidden_states + self.mlp(self.layer_norm2(hidden_states))
 *   last_hidden_state = self.post_layernorm(hidden_states)
 */
#include "siglip.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "activations.h"
#include "io.h"
#include "linear.h"

siglip_vision_config siglip_vision_config_default(void)
{
    siglip_vision_config config = {
        .hidden_size = 1152,
        .intermediate_size = 4304,
        .num_hidden_layers = 27,
        .num_attention_heads = 16,
        .num_channels = 3,
        .image_size = 224,
        .patch_size = 14,
        .layer_norm_eps = 1e-6f,
    };
    return config;
}

int siglip_vision_config_validate(const siglip_vision_config *config, pg_error *err)
{
    /* Each size with its value in paligemma-3b-pt-224, quoted in the message. */
    const struct {
        const char *name;
        int value;
        int paligemma_value;
    } sizes[] = {
        {"hidden_size", config->hidden_size, 1152},
        {"intermediate_size", config->intermediate_size, 4304},
        {"num_hidden_layers", config->num_hidden_layers, 27},
        {"num_attention_heads", config->num_attention_heads, 16},
        {"num_channels", config->num_channels, 3},
        {"image_size", config->image_size, 224},
        {"patch_size", config->patch_size, 14},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value <= 0)
            return pg_error_set(err, "invalid vision_config.%s: %d, expected a positive value "
                                "(paligemma-3b-pt-224 has %d); check vision_config in config.json",
                                sizes[i].name, sizes[i].value, sizes[i].paligemma_value);

    if (config->hidden_size % config->num_attention_heads != 0)
        return pg_error_set(err, "invalid vision_config: hidden_size %d is not a multiple of "
                            "num_attention_heads %d, so the heads cannot split it evenly; "
                            "check vision_config in config.json",
                            config->hidden_size, config->num_attention_heads);
    if (config->image_size % config->patch_size != 0)
        return pg_error_set(err, "invalid vision_config: image_size %d is not a multiple of patch_size %d, "
                            "so the patches do not tile the image; check vision_config in config.json",
                            config->image_size, config->patch_size);
    if (!(isfinite(config->layer_norm_eps) && config->layer_norm_eps > 0.0f))
        return pg_error_set(err, "invalid vision_config.layer_norm_eps: %g, expected a finite positive "
                            "value (paligemma-3b-pt-224 has 1e-06); check vision_config in config.json",
                            (double)config->layer_norm_eps);
    return 0;
}

int siglip_num_patches(const siglip_vision_config *config)
{
    int grid = config->image_size / config->patch_size;
    return grid * grid;
}

int siglip_head_dim(const siglip_vision_config *config)
{
    return config->hidden_size / config->num_attention_heads;
}

int siglip_vision_state_create(siglip_vision_state *state, const siglip_vision_config *config,
                               int max_tokens, pg_error *err)
{
    memset(state, 0, sizeof *state);
    if (siglip_vision_config_validate(config, err) != 0)
        return -1;
    if (max_tokens <= 0)
        return pg_error_set(err, "invalid SigLIP state size: max_tokens %d, expected a positive count "
                            "(the tower needs %d, one per patch)",
                            max_tokens, siglip_num_patches(config));

    size_t rows = (size_t)max_tokens;
    size_t width = (size_t)config->hidden_size;
    size_t mlp_width = (size_t)config->intermediate_size;
    float **buffers[] = {&state->hidden_states, &state->normed, &state->query_states, &state->key_states,
                         &state->value_states, &state->attn_output, &state->branch_output,
                         &state->head_query, &state->head_key, &state->head_value_t, &state->head_output};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) {
        *buffers[i] = pg_calloc(rows * width, sizeof(float), "a SigLIP [T, E] buffer", err);
        if (*buffers[i] == NULL) {
            siglip_vision_state_free(state);
            return -1;
        }
    }
    state->attn_weights = pg_calloc(rows * rows, sizeof(float), "the SigLIP attention weights", err);
    state->mlp_hidden = pg_calloc(rows * mlp_width, sizeof(float), "the SigLIP MLP buffer", err);
    if (state->attn_weights == NULL || state->mlp_hidden == NULL) {
        siglip_vision_state_free(state);
        return -1;
    }

    state->max_tokens = max_tokens;
    state->hidden_size = config->hidden_size;
    state->intermediate_size = config->intermediate_size;
    return 0;
}

void siglip_vision_state_free(siglip_vision_state *state)
{
    free(state->hidden_states);
    free(state->normed);
    free(state->query_states);
    free(state->key_states);
    free(state->value_states);
    free(state->attn_output);
    free(state->attn_weights);
    free(state->mlp_hidden);
    free(state->branch_output);
    free(state->head_query);
    free(state->head_key);
    free(state->head_value_t);
    free(state->head_output);
    memset(state, 0, sizeof *state);
}

void layer_norm(float *out, const float *x, const float *weight, const float *bias, int T, int E, float eps)
{
    /* BEGIN SOLUTION: layer_norm, docs/09_siglip.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * E; i++)
     *         out[i] = 0.0f;
     *     (void)x; (void)weight; (void)bias; (void)eps;
     */
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * E;
        float *out_row = out + (size_t)t * E;

        /* Mean and biased variance of the row. The sums run in double so both
         * are the correctly rounded float32 values; PyTorch's float32 Welford
         * pass lands within an ulp or two of them. */
        double sum = 0.0;
        for (int e = 0; e < E; e++)
            sum += row[e];
        double mean = sum / E;
        double sum_of_squares = 0.0;
        for (int e = 0; e < E; e++)
            sum_of_squares += (row[e] - mean) * (row[e] - mean);
        float mean_f = (float)mean;
        float variance = (float)(sum_of_squares / E);

        /* 1 / sqrt(var + eps), rounded to float32. */
        float inv_std = 1.0f / sqrtf(variance + eps);

        /* Normalize, then scale by weight and shift by bias: no 1 + w in SigLIP. */
        for (int e = 0; e < E; e++)
            out_row[e] = (row[e] - mean_f) * inv_std * weight[e] + bias[e];
    }
    /* END SOLUTION */
}

void siglip_vision_embeddings(float *embeddings, const float *pixel_values,
                              const float *patch_embedding_weight, const float *patch_embedding_bias,
                              const float *position_embedding_weight, int num_channels, int image_size,
                              int patch_size, int E)
{
    /* BEGIN SOLUTION: siglip_vision_embeddings, docs/09_siglip.md "The math"
     * Student placeholder:
     *     int grid = image_size / patch_size;
     *     for (size_t i = 0; i < (size_t)grid * grid * E; i++)
     *         embeddings[i] = 0.0f;
     *     (void)pixel_values; (void)patch_embedding_weight; (void)patch_embedding_bias;
     *     (void)position_embedding_weight; (void)num_channels;
     */
    int grid = image_size / patch_size;
    size_t kernel_size = (size_t)num_channels * patch_size * patch_size;

    for (int row = 0; row < grid; row++) {
        for (int col = 0; col < grid; col++) {
            /* Row-major patch order, as flatten(2) reads the [E, g, g] conv output. */
            int patch = row * grid + col;
            float *out = embeddings + (size_t)patch * E;

            /* Conv2d with stride = kernel = p and no padding, so output
             * (row, col) reads exactly the pixels of its own patch. */
            for (int e = 0; e < E; e++) {
                const float *kernel = patch_embedding_weight + (size_t)e * kernel_size;
                float sum = 0.0f;
                for (int c = 0; c < num_channels; c++)
                    for (int ky = 0; ky < patch_size; ky++)
                        for (int kx = 0; kx < patch_size; kx++) {
                            int y = row * patch_size + ky;
                            int x = col * patch_size + kx;
                            float pixel = pixel_values[((size_t)c * image_size + y) * image_size + x];
                            sum += kernel[((size_t)c * patch_size + ky) * patch_size + kx] * pixel;
                        }
                out[e] = sum + patch_embedding_bias[e];
            }

            /* Learned position embedding of this patch; there is no class token. */
            for (int e = 0; e < E; e++)
                out[e] += position_embedding_weight[(size_t)patch * E + e];
        }
    }
    /* END SOLUTION */
}

void siglip_attention(float *out, const float *hidden_states, const siglip_encoder_layer_weights *weights,
                      int T, int E, int H, siglip_vision_state *state)
{
    /* BEGIN SOLUTION: siglip_attention, docs/09_siglip.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * E; i++)
     *         out[i] = 0.0f;
     *     (void)hidden_states; (void)weights; (void)H; (void)state;
     */
    int head_dim = E / H;
    /* head_dim ** -0.5 in double, rounded once to float32 (1/sqrt(72) in So400m). */
    float scale = (float)(1.0 / sqrt((double)head_dim));
    float *query_states = state->query_states;
    float *key_states = state->key_states;
    float *value_states = state->value_states;
    float *attn_weights = state->attn_weights;
    float *head_query = state->head_query, *head_key = state->head_key;
    float *head_value_t = state->head_value_t, *head_output = state->head_output;

    /* q, k, v projections, all with bias: [T, E] = [T, H, Dh]. */
    linear(query_states, hidden_states, weights->q_proj_weight, weights->q_proj_bias, T, E, E);
    linear(key_states, hidden_states, weights->k_proj_weight, weights->k_proj_bias, T, E, E);
    linear(value_states, hidden_states, weights->v_proj_weight, weights->v_proj_bias, T, E, E);

    for (int h = 0; h < H; h++) {
        /* Head h of q and k as contiguous [T, Dh] rows, and of v transposed
         * to [Dh, T]: PyTorch's view(T, H, Dh).transpose(0, 1). */
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < head_dim; i++) {
                size_t from = (size_t)t * E + (size_t)h * head_dim + i;
                head_query[(size_t)t * head_dim + i] = query_states[from];
                head_key[(size_t)t * head_dim + i] = key_states[from];
                head_value_t[(size_t)i * T + t] = value_states[from];
            }
        }

        /* Scores [T, T] = q_h @ k_h^T, then * scale; no mask. The keys [T, Dh]
         * are already in linear()'s [out, in] weight layout. */
        linear(attn_weights, head_query, weight_f32(head_key), NULL, T, head_dim, T);
        for (int t = 0; t < T; t++) {
            float *row = attn_weights + (size_t)t * T;
            float max_score = -INFINITY;
            for (int s = 0; s < T; s++) {
                row[s] = row[s] * scale;
                if (row[s] > max_score)
                    max_score = row[s];
            }

            /* Softmax over the keys in float32, shifted by the max for range. */
            float sum = 0.0f;
            for (int s = 0; s < T; s++) {
                row[s] = expf(row[s] - max_score);
                sum += row[s];
            }
            for (int s = 0; s < T; s++)
                row[s] /= sum;
        }

        /* Weighted sum of the values, [T, T] @ [T, Dh], written into head h's
         * slice of the concatenation (PyTorch's transpose(1, 2).reshape(T, E)). */
        linear(head_output, attn_weights, weight_f32(head_value_t), NULL, T, T, head_dim);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < head_dim; i++)
                state->attn_output[(size_t)t * E + (size_t)h * head_dim + i] = head_output[(size_t)t * head_dim + i];
    }

    /* out_proj, with bias. */
    linear(out, state->attn_output, weights->out_proj_weight, weights->out_proj_bias, T, E, E);
    /* END SOLUTION */
}

void siglip_mlp(float *out, const float *hidden_states, const siglip_encoder_layer_weights *weights,
                int T, int E, int F, siglip_vision_state *state)
{
    /* BEGIN SOLUTION: siglip_mlp, docs/09_siglip.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * E; i++)
     *         out[i] = 0.0f;
     *     (void)hidden_states; (void)weights; (void)F; (void)state;
     */
    /* fc1: [T, E] -> [T, F]. */
    linear(state->mlp_hidden, hidden_states, weights->fc1_weight, weights->fc1_bias, T, E, F);

    /* gelu_tanh ("gelu_pytorch_tanh"), element by element. */
    for (size_t i = 0; i < (size_t)T * F; i++)
        state->mlp_hidden[i] = gelu_tanh(state->mlp_hidden[i]);

    /* fc2: [T, F] -> [T, E]. */
    linear(out, state->mlp_hidden, weights->fc2_weight, weights->fc2_bias, T, F, E);
    /* END SOLUTION */
}

void siglip_encoder_layer(float *hidden_states, const siglip_encoder_layer_weights *weights,
                          const siglip_vision_config *config, int T, siglip_vision_state *state)
{
    /* BEGIN SOLUTION: siglip_encoder_layer, docs/09_siglip.md "The math"
     * Student placeholder:
     *     (void)hidden_states; (void)weights; (void)config; (void)T; (void)state;
     */
    int E = config->hidden_size;
    size_t count = (size_t)T * E;

    /* h = h + self_attn(layer_norm1(h)) */
    layer_norm(state->normed, hidden_states, weights->layer_norm1_weight, weights->layer_norm1_bias, T, E,
               config->layer_norm_eps);
    siglip_attention(state->branch_output, state->normed, weights, T, E, config->num_attention_heads, state);
    for (size_t i = 0; i < count; i++)
        hidden_states[i] += state->branch_output[i];

    /* h = h + mlp(layer_norm2(h)) */
    layer_norm(state->normed, hidden_states, weights->layer_norm2_weight, weights->layer_norm2_bias, T, E,
               config->layer_norm_eps);
    siglip_mlp(state->branch_output, state->normed, weights, T, E, config->intermediate_size, state);
    for (size_t i = 0; i < count; i++)
        hidden_states[i] += state->branch_output[i];
    /* END SOLUTION */
}

int siglip_vision_model_forward(float *image_features, const float *pixel_values,
                                const siglip_vision_weights *weights, const siglip_vision_config *config,
                                siglip_vision_state *state, siglip_stage_hook hook, void *hook_context,
                                pg_error *err)
{
    if (siglip_vision_config_validate(config, err) != 0)
        return -1;
    int P = siglip_num_patches(config);
    int E = config->hidden_size;
    if (state->max_tokens < P || state->hidden_size != E || state->intermediate_size != config->intermediate_size)
        return pg_error_set(err, "SigLIP state made for %d tokens, hidden_size %d, intermediate_size %d, "
                            "but the config needs %d, %d, %d; create the state from this config",
                            state->max_tokens, state->hidden_size, state->intermediate_size, P, E,
                            config->intermediate_size);

    /* Patch embeddings plus position embeddings: [Cn, I, I] -> [P, E]. */
    float *hidden_states = state->hidden_states;
    siglip_vision_embeddings(hidden_states, pixel_values, weights->patch_embedding_weight,
                             weights->patch_embedding_bias, weights->position_embedding_weight,
                             config->num_channels, config->image_size, config->patch_size, E);
    if (hook != NULL)
        hook(hook_context, SIGLIP_STAGE_EMBEDDINGS, -1, hidden_states, P, E);

    /* The encoder: num_hidden_layers pre-LN layers, in place. */
    for (int layer = 0; layer < config->num_hidden_layers; layer++) {
        siglip_encoder_layer(hidden_states, &weights->layers[layer], config, P, state);
        if (hook != NULL)
            hook(hook_context, SIGLIP_STAGE_ENCODER_LAYER, layer, hidden_states, P, E);
    }

    /* post_layernorm: the image features that go to the projector. */
    layer_norm(image_features, hidden_states, weights->post_layernorm_weight, weights->post_layernorm_bias, P, E,
               config->layer_norm_eps);
    if (hook != NULL)
        hook(hook_context, SIGLIP_STAGE_POST_LAYERNORM, -1, image_features, P, E);
    return 0;
}
