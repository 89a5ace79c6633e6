/*
 * Chapter 12: PaliGemmaForConditionalGeneration. See paligemma.h for the
 * walk through a request and docs/12_paligemma.md for the chapter behind
 * each step. Loading lives in load_checkpoint.c, sampling in sampling.c.
 */
#include "paligemma.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "01_kv_cache/kv_cache.h"
#include "10_projector/projector.h"
#include "11_merge/merge.h"
#include "broken_variant.h"
#include "io.h"
#include "seeded_random.h"

/* Forwards the vision tower's stages and Gemma's layers to the named hook,
 * and prints progress. */
typedef struct {
    const paligemma_generation_options *options;
    int num_vision_layers;
    int num_text_layers;
} hook_context;

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static void call_hook(const paligemma_generation_options *options, const char *name, const float *data, int rows,
                      int cols)
{
    if (options->hook != NULL)
        options->hook(options->hook_user_data, name, data, rows, cols);
}

static void on_vision_stage(void *user_data, siglip_stage stage, int layer_idx, const float *hidden_states, int T,
                            int E)
{
    hook_context *context = user_data;
    char name[64];
    if (stage == SIGLIP_STAGE_EMBEDDINGS) {
        snprintf(name, sizeof name, "vision_embeddings");
    } else if (stage == SIGLIP_STAGE_ENCODER_LAYER) {
        snprintf(name, sizeof name, "vision_layer_%d", layer_idx);
        if (context->options->progress != NULL)
            fprintf(context->options->progress, "\rvision layer %d/%d ", layer_idx + 1, context->num_vision_layers);
    } else {
        snprintf(name, sizeof name, "vision_post_layernorm");
    }
    call_hook(context->options, name, hidden_states, T, E);
}

/* Reports a Gemma layer's input and then its attention output, in the order
 * they are computed; on_text_layer adds the last layer's output. */
static void on_text_attention(void *user_data, int layer_idx, const float *layer_input,
                              const float *attention_output, int T, int hidden_size)
{
    hook_context *context = user_data;
    char name[64];
    snprintf(name, sizeof name, "text_layer_%d", layer_idx);
    call_hook(context->options, name, layer_input, T, hidden_size);
    snprintf(name, sizeof name, "text_layer_%d_attention", layer_idx);
    call_hook(context->options, name, attention_output, T, hidden_size);
}

static void on_text_layer(void *user_data, int layer_idx, const float *layer_input, const float *layer_output, int T,
                          int hidden_size)
{
    (void)layer_input; /* reported by on_text_attention */
    hook_context *context = user_data;
    char name[64];
    if (layer_idx == context->num_text_layers - 1) {
        snprintf(name, sizeof name, "text_layer_%d", layer_idx + 1);
        call_hook(context->options, name, layer_output, T, hidden_size);
    }
    if (context->options->progress != NULL)
        fprintf(context->options->progress, "\rprefill layer %d/%d ", layer_idx + 1, context->num_text_layers);
}

/* Everything one request allocates, freed together. */
typedef struct {
    siglip_vision_state vision_state;
    gemma_state text_state;
    kv_cache cache;
    float *vision_output;  /* [P, E] */
    float *image_features; /* [P, D] */
    float *inputs_embeds;  /* [N, D] */
    float *logits;         /* [N, V] when every prefill row is dumped, else [1, V] */
    int *position_ids;     /* [N] */
    int *sort_scratch;     /* [V] for top-p sampling */
} request_buffers;

static void request_buffers_free(request_buffers *buffers)
{
    siglip_vision_state_free(&buffers->vision_state);
    gemma_state_free(&buffers->text_state);
    kv_cache_free(&buffers->cache);
    free(buffers->vision_output);
    free(buffers->image_features);
    free(buffers->inputs_embeds);
    free(buffers->logits);
    free(buffers->position_ids);
    free(buffers->sort_scratch);
    memset(buffers, 0, sizeof *buffers);
}

/* Picks the next token from one row of logits: argmax, or a seeded sample. */
static int choose_token(const float *logits, int V, const paligemma_generation_options *options, int step,
                        int *sort_scratch)
{
    if (options->temperature <= 0.0f)
        return sample_argmax(logits, V);
    /* One uniform number per step from the seed: the same seed gives the same text. */
    double u = (double)(splitmix64_at(options->seed, (uint64_t)step) >> 11) * (1.0 / 9007199254740992.0);
    return sample_top_p(logits, V, options->temperature, options->top_p, u, sort_scratch);
}

int paligemma_generate(paligemma_model *model, const float *pixel_values, const int *input_ids, int num_input,
                       const paligemma_generation_options *options, int *output_ids, int *num_output,
                       paligemma_timings *timings, pg_error *err)
{
    const paligemma_config *config = &model->config;
    const gemma_config *text = &config->text_config;
    const siglip_vision_config *vision = &config->vision_config;
    int N = num_input, P = paligemma_num_image_tokens(config);
    int D = text->hidden_size, E = vision->hidden_size, V = text->vocab_size;
    paligemma_timings clock = {0};
    *num_output = 0;

    /* The prompt and the answer must fit in max_position_embeddings. */
    if (N < 1 || options->max_new_tokens < 1)
        return pg_error_set(err, "invalid request: %d prompt tokens and max_new_tokens %d; both must be at least 1",
                            N, options->max_new_tokens);
    if ((long)N + options->max_new_tokens > text->max_position_embeddings)
        return pg_error_set(err, "prompt too long: %d prompt tokens plus %d new tokens exceed the %d positions of "
                            "the model (max_position_embeddings); shorten the prompt or lower max_new_tokens",
                            N, options->max_new_tokens, text->max_position_embeddings);
    if (options->temperature > 0.0f && !(options->top_p > 0.0f && options->top_p <= 1.0f))
        return pg_error_set(err, "invalid top_p %g: expected a value in (0, 1]", (double)options->top_p);

    /* Allocate everything the request needs, once. */
    request_buffers buffers = {0};
    int capacity = N + options->max_new_tokens;
    int keep_all_rows = options->hook != NULL;
    size_t logit_rows = keep_all_rows ? (size_t)N : 1;
    int status = -1;
    if (siglip_vision_state_create(&buffers.vision_state, vision, P, err) != 0 ||
        gemma_state_create(&buffers.text_state, text, N, capacity, err) != 0 ||
        kv_cache_create(&buffers.cache, text->num_hidden_layers, text->num_key_value_heads, text->head_dim, capacity,
                        err) != 0)
        goto done;
    buffers.vision_output = pg_calloc((size_t)P * E, sizeof(float), "the vision output", err);
    buffers.image_features = pg_calloc((size_t)P * D, sizeof(float), "the image features", err);
    buffers.inputs_embeds = pg_calloc((size_t)N * D, sizeof(float), "the prompt embeddings", err);
    buffers.logits = pg_calloc(logit_rows * V, sizeof(float), "the logits", err);
    buffers.position_ids = pg_calloc((size_t)N, sizeof(int), "the position ids", err);
    buffers.sort_scratch = pg_calloc((size_t)V, sizeof(int), "the sampling scratch", err);
    if (buffers.vision_output == NULL || buffers.image_features == NULL || buffers.inputs_embeds == NULL ||
        buffers.logits == NULL || buffers.position_ids == NULL || buffers.sort_scratch == NULL)
        goto done;

    hook_context context = {options, vision->num_hidden_layers, text->num_hidden_layers};
    buffers.text_state.layer_callback = on_text_layer;
    buffers.text_state.callback_user_data = &context;
    buffers.text_state.layer.attention_callback = on_text_attention;
    buffers.text_state.layer.attention_user_data = &context;

    /* Step 1: the vision tower, once per request (chapter 9). */
    double start = seconds_now();
    if (siglip_vision_model_forward(buffers.vision_output, pixel_values, &model->vision_tower, vision,
                                    &buffers.vision_state, on_vision_stage, &context, err) != 0)
        goto done;

    /* Step 2: the projector into the text width (chapter 10). */
    paligemma_multi_modal_projector(buffers.image_features, buffers.vision_output, model->projector_weight,
                                    model->projector_bias, P, E, D);
    call_hook(options, "projector", buffers.image_features, P, D);
    clock.vision_seconds = seconds_now() - start;

    /* Step 3: the merge: text rows from embed_tokens, image rows from the
     * projector divided by sqrt(D), pad rows zero (chapter 11). */
    start = seconds_now();
    if (paligemma_merge_input_ids_with_image_features(buffers.inputs_embeds, input_ids,
                                                      model->language_model.embed_tokens, buffers.image_features,
                                                      N, V, D, P, config->image_token_index, config->pad_token_id,
                                                      err) != 0)
        goto done;
    call_hook(options, "merged_embeddings", buffers.inputs_embeds, N, D);

    /* Step 4: the prefill. Positions 1..N; no mask, because the whole prompt
     * is the prefix and attends in both directions (chapter 8). */
    paligemma_position_ids(buffers.position_ids, 0, N);
    const float *prefill_mask = NULL;
#ifdef PG_BROKEN_VARIANTS
    /* Test-only bug: a causal mask, so the prefix no longer attends both ways. */
    float causal_mask[64 * 64];
    if (pg_broken_variant() == PG_BROKEN_CAUSAL_PREFIX && N <= 64 &&
        paligemma_prefix_lm_mask(causal_mask, 0, 0, N, N, err) == 0)
        prefill_mask = causal_mask;
#endif
    if (gemma_for_causal_lm_forward(buffers.logits, keep_all_rows ? 0 : 1, NULL, buffers.inputs_embeds,
                                    prefill_mask, buffers.position_ids, N, &model->language_model, text,
                                    &buffers.cache, &buffers.text_state, err) != 0)
        goto done;
    call_hook(options, "final_norm", buffers.text_state.last_hidden_state, N, D);
    if (keep_all_rows)
        call_hook(options, "prefill_logits", buffers.logits, N, V);
    clock.prefill_seconds = seconds_now() - start;
    if (options->progress != NULL)
        fprintf(options->progress, "\r%40s\r", "");

    /* Step 5: decode. Each step picks a token from the last row of logits,
     * stops at eos, or feeds the token back at the next position. Only
     * Gemma runs here; the image lives on in the KV cache. */
    buffers.text_state.layer_callback = NULL;
    buffers.text_state.layer.attention_callback = NULL;
    start = seconds_now();
    /* BEGIN SOLUTION: the decode loop of paligemma_generate, docs/12_paligemma.md "A request, step by step"
     * Student placeholder:
     *     (void)choose_token; (void)output_ids;
     */
    const float *last_logits = buffers.logits + (logit_rows - 1) * (size_t)V;
    for (int step = 0; step < options->max_new_tokens; step++) {
        char name[64];
        snprintf(name, sizeof name, "step_logits_%d", step);
        call_hook(options, name, last_logits, 1, V);

        int token = choose_token(last_logits, V, options, step, buffers.sort_scratch);
        output_ids[(*num_output)++] = token;
        int stop_at_eos = token == config->eos_token_id && !options->ignore_eos;
        if (stop_at_eos || step + 1 == options->max_new_tokens)
            break;

        int position = N + step + 1; /* 1-based: the prompt used 1..N */
        if (gemma_for_causal_lm_forward(buffers.logits, 1, &token, NULL, NULL, &position, 1, &model->language_model,
                                        text, &buffers.cache, &buffers.text_state, err) != 0)
            goto done;
        last_logits = buffers.logits;
        clock.decode_steps++;
    }
    /* END SOLUTION */
    clock.decode_seconds = seconds_now() - start;
    status = 0;

done:
    if (timings != NULL)
        *timings = clock;
    request_buffers_free(&buffers);
    return status;
}
