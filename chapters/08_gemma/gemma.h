/*
 * Chapter 8: GemmaModel and GemmaForCausalLM, the language half of PaliGemma.
 *
 * Mirrors the PyTorch classes GemmaConfig, GemmaModel and GemmaForCausalLM
 * (golden/modeling_gemma.py, after transformers 4.42 to 4.48):
 *   h = embed_tokens[input_ids]  (or the caller's inputs_embeds)
 *   h = h * normalizer           normalizer = float32(sqrt(hidden_size)), 45.2548332 at 2048
 *   h = layers[l](h)             l = 0 .. L-1 (chapter 7), each with the same mask and positions
 *   h = norm(h)                  the final GemmaRMSNorm, (1 + w) as in every layer
 *   logits = h @ embed_tokens^T  lm_head is tied to embed_tokens; no soft-capping in Gemma 1
 *
 * A forward pass takes T new tokens, their 1-based positions, the mask of
 * chapter 6 ([T, S] additive, or NULL to attend to all S cached tokens) and
 * the KV cache of chapter 1. For PaliGemma:
 *   prefill  T = N prompt tokens (image, <bos>, text, "\n"), positions 1..N, mask NULL
 *   decode   T = 1, step k at position N + k, mask NULL
 *
 * Shapes (letters in common/dims.h):
 *   input_ids          [T]      or NULL when inputs_embeds is given
 *   inputs_embeds      [T, D]   or NULL when input_ids is given; not yet scaled
 *   attention_mask     [T, S]   or NULL
 *   position_ids       [T]
 *   last_hidden_state  [T, D]   after the final norm
 *   logits             [R, V]   R = num_logits_to_keep, or T when it is 0
 *   embed_tokens       [V, D]
 */
#ifndef PG_GEMMA_H
#define PG_GEMMA_H

#include "01_kv_cache/kv_cache.h"
#include "07_decoder_layer/decoder_layer.h"
#include "pg_error.h"

/* The text configuration, with Hugging Face's field names (config.json's
 * text_config). */
typedef struct {
    int vocab_size;              /* V */
    int hidden_size;             /* D */
    int intermediate_size;       /* F */
    int num_hidden_layers;       /* L */
    int num_attention_heads;     /* H */
    int num_key_value_heads;     /* K */
    int head_dim;                /* Dh; not hidden_size / num_attention_heads in general */
    int max_position_embeddings; /* maximum sequence length the model was trained for */
    float rms_norm_eps;
    float rope_theta;
    int pad_token_id;
    int bos_token_id;
    int eos_token_id;
} gemma_config;

/* Fills the text configuration of paligemma-3b-pt-224 (Gemma-2B): V 257216,
 * D 2048, F 16384, L 18, H 8, K 1, Dh 256, max_position_embeddings 8192,
 * eps 1e-6, theta 10000, pad 0, bos 2, eos 1. */
void gemma_config_paligemma_3b(gemma_config *config);

/* Checks that a configuration describes a model this code can run, and
 * returns -1 with a message naming the field, its value and the rule
 * otherwise. Rejected: a size that is not positive, num_attention_heads not
 * a multiple of num_key_value_heads, an odd head_dim, an eps or theta that is
 * not finite and positive (eps may be 0), a special token id outside the
 * vocabulary. */
int gemma_config_validate(const gemma_config *config, pg_error *err);

/* Pointers to the model's float32 tensors, filled by a checkpoint loader
 * (or by gemma_random_weights_create). Nothing here owns memory. */
typedef struct {
    weight_matrix embed_tokens;                /* [V, D]; also the lm_head */
    const gemma_decoder_layer_weights *layers; /* [L] */
    const float *norm;                         /* [D], the final norm */
} gemma_weights;

/* Called after every decoder layer with that layer's input and output,
 * both [T, D]; layer 0's input is the scaled embedding. The pointers are
 * valid only during the call. */
typedef void (*gemma_layer_callback)(void *user_data, int layer_idx, const float *layer_input,
                                     const float *layer_output, int T, int hidden_size);

/* Working memory of a forward pass, made once per model so that no step
 * allocates. Set layer_callback (and callback_user_data) after creating it
 * to see every layer's input and output; it is NULL by default. */
typedef struct {
    int max_tokens;              /* T at most per forward pass */
    int max_cached;              /* S at most: the KV cache capacity */
    float *layer_input;          /* [T, D] */
    float *layer_output;         /* [T, D] */
    float *last_hidden_state;    /* [T, D] after the final norm */
    gemma_decoder_layer_scratch layer;
    gemma_layer_callback layer_callback;
    void *callback_user_data;
} gemma_state;

/* Allocates the state for forward passes of up to max_tokens new tokens over
 * up to max_cached cached ones (use the KV cache capacity). Returns -1 with a
 * message if the config is invalid, a size is not positive, or memory runs out. */
int gemma_state_create(gemma_state *state, const gemma_config *config, int max_tokens, int max_cached,
                       pg_error *err);

/* Frees the buffers and zeroes the struct. */
void gemma_state_free(gemma_state *state);

/* Runs GemmaModel over T new tokens and writes last_hidden_state [T, D] (may
 * be state->last_hidden_state). Exactly one of input_ids and inputs_embeds
 * must be non-NULL. With a cache, every layer appends its T keys and values,
 * so the cached length grows from S - T to S in all layers; cache may be NULL
 * for a pass without one (S = T). Returns -1 with a message, before changing
 * the cache, if an id is outside the vocabulary, T does not fit the state, the
 * cache's layout differs from the config, its layers disagree in length, or it
 * is full. */
int gemma_model_forward(float *last_hidden_state, const int *input_ids, const float *inputs_embeds,
                        const float *attention_mask, const int *position_ids, int T, const gemma_weights *weights,
                        const gemma_config *config, kv_cache *cache, gemma_state *state, pg_error *err);

/* Runs GemmaForCausalLM: gemma_model_forward into state->last_hidden_state,
 * then the logits of its last num_logits_to_keep rows, or of all T rows when
 * num_logits_to_keep is 0 (transformers' convention). Returns -1 with a
 * message as gemma_model_forward does, or if num_logits_to_keep is outside
 * 0..T. */
int gemma_for_causal_lm_forward(float *logits, int num_logits_to_keep, const int *input_ids,
                                const float *inputs_embeds, const float *attention_mask, const int *position_ids,
                                int T, const gemma_weights *weights, const gemma_config *config, kv_cache *cache,
                                gemma_state *state, pg_error *err);

#endif
