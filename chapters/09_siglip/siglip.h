/*
 * Chapter 9: the SigLIP vision tower.
 *
 * Mirrors the PyTorch classes of golden/modeling_siglip.py, named after
 * Hugging Face's SiglipVisionModel: SiglipVisionConfig, SiglipVisionEmbeddings,
 * SiglipAttention, SiglipMLP, SiglipEncoderLayer, SiglipEncoder and
 * SiglipVisionTransformer (embeddings, encoder, post_layernorm). PaliGemma
 * uses no pooling head, so the output is one feature row per patch:
 *
 *   h = conv_patch(pixels) + position_embedding        patch = row * g + col
 *   for each layer:  h = h + attn(LayerNorm1(h))
 *                    h = h + fc2(gelu_tanh(fc1(LayerNorm2(h))))
 *   image_features = post_layernorm(h)
 *
 * Shapes (letters in common/dims.h; Cn = num_channels, I = image_size,
 * p = patch_size, g = I / p patches per side):
 *   pixel_values             [Cn, I, I]   channels first, float32, after preprocessing
 *   patch_embedding_weight   [E, Cn, p, p]
 *   position_embedding       [P, E]       P = g * g
 *   hidden_states            [T, E]       T = P for the whole tower
 *   q, k, v, out_proj weight [E, E]       = [H * Dh, E], Dh = E / H
 *   fc1 weight               [F, E]
 *   fc2 weight               [E, F]
 *   image_features           [P, E]
 */
#ifndef PG_SIGLIP_H
#define PG_SIGLIP_H

#include "linear.h"
#include "pg_error.h"

/* The fields of Hugging Face's SiglipVisionConfig that the tower reads. */
typedef struct {
    int hidden_size;         /* E */
    int intermediate_size;   /* F */
    int num_hidden_layers;   /* L */
    int num_attention_heads; /* H; head_dim Dh = E / H */
    int num_channels;        /* Cn: 3 for RGB */
    int image_size;          /* I: pixels per side of the square input */
    int patch_size;          /* p: pixels per side of a patch */
    float layer_norm_eps;
} siglip_vision_config;

/* Returns the vision config of paligemma-3b-pt-224 (SigLIP So400m/14 at
 * 224 px): 1152, 4304, 27 layers, 16 heads, 3 channels, 224, 14, 1e-6.
 * transformers' own SiglipVisionConfig defaults describe a smaller base-size
 * tower (768 wide, patch 16), so a config.json is always read in full. */
siglip_vision_config siglip_vision_config_default(void);

/* Checks that every size is positive, that num_attention_heads divides
 * hidden_size, that patch_size divides image_size and that layer_norm_eps is
 * finite and positive. Returns 0, or -1 with a message naming the field. */
int siglip_vision_config_validate(const siglip_vision_config *config, pg_error *err);

/* Returns P = (image_size / patch_size)^2. */
int siglip_num_patches(const siglip_vision_config *config);

/* Returns Dh = hidden_size / num_attention_heads. */
int siglip_head_dim(const siglip_vision_config *config);

/* The parameters of one SiglipEncoderLayer, named after its state dict
 * (encoder.layers.N.<name>); every Linear and LayerNorm has a bias. */
typedef struct {
    const float *layer_norm1_weight, *layer_norm1_bias; /* [E] */
    weight_matrix q_proj_weight;                        /* [E, E] */
    const float *q_proj_bias;                           /* [E] */
    weight_matrix k_proj_weight;                        /* [E, E] */
    const float *k_proj_bias;                           /* [E] */
    weight_matrix v_proj_weight;                        /* [E, E] */
    const float *v_proj_bias;                           /* [E] */
    weight_matrix out_proj_weight;                      /* [E, E] */
    const float *out_proj_bias;                         /* [E] */
    const float *layer_norm2_weight, *layer_norm2_bias; /* [E] */
    weight_matrix fc1_weight;                           /* [F, E] */
    const float *fc1_bias;                              /* [F] */
    weight_matrix fc2_weight;                           /* [E, F] */
    const float *fc2_bias;                              /* [E] */
} siglip_encoder_layer_weights;

/* The parameters of the whole tower (vision_tower.vision_model.*). The
 * struct does not own the memory. The code that fills it (a test, the
 * checkpoint loader) keeps the tensors alive and frees them. */
typedef struct {
    const float *patch_embedding_weight;    /* [E, Cn, p, p] */
    const float *patch_embedding_bias;      /* [E] */
    const float *position_embedding_weight; /* [P, E] */
    siglip_encoder_layer_weights *layers;   /* [L] */
    const float *post_layernorm_weight;     /* [E] */
    const float *post_layernorm_bias;       /* [E] */
} siglip_vision_weights;

/* Scratch buffers for up to max_tokens rows, made once so that a forward
 * pass allocates nothing. hidden_states is the residual stream, so after
 * each step it contains that step's output. */
typedef struct {
    int max_tokens;        /* row capacity of every [*, E] buffer */
    int hidden_size;       /* E the buffers were made for */
    int intermediate_size; /* F the buffers were made for */
    float *hidden_states;  /* [max_tokens, E] */
    float *normed;         /* [max_tokens, E] LayerNorm output, the input of a branch */
    float *query_states;   /* [max_tokens, E] = [T, H, Dh] */
    float *key_states;     /* [max_tokens, E] */
    float *value_states;   /* [max_tokens, E] */
    float *attn_output;    /* [max_tokens, E] heads concatenated, before out_proj */
    float *attn_weights;   /* [max_tokens, max_tokens] scores, then probabilities, of one head */
    float *head_query;     /* [max_tokens, Dh] one head of query_states, contiguous */
    float *head_key;       /* [max_tokens, Dh] */
    float *head_value_t;   /* [Dh, max_tokens] one head of value_states, transposed */
    float *head_output;    /* [max_tokens, Dh] probabilities @ values of one head */
    float *mlp_hidden;     /* [max_tokens, F] gelu_tanh(fc1(x)) */
    float *branch_output;  /* [max_tokens, E] out_proj or fc2 output, added to the residual */
} siglip_vision_state;

/* Allocates the buffers for max_tokens rows of this config (use
 * siglip_num_patches(config) for the whole tower). Returns -1 with a message
 * if the config is invalid, max_tokens is not positive or memory runs out. */
int siglip_vision_state_create(siglip_vision_state *state, const siglip_vision_config *config,
                               int max_tokens, pg_error *err);

/* Frees the buffers and zeroes the struct. */
void siglip_vision_state_free(siglip_vision_state *state);

/* nn.LayerNorm over the last dimension, x and out [T, E]:
 *   out = (x - mean) / sqrt(var + eps) * weight + bias,  var biased (divided by E).
 * This is the standard LayerNorm, not Gemma's RMSNorm with its 1 + weight.
 * out may alias x. */
void layer_norm(float *out, const float *x, const float *weight, const float *bias, int T, int E,
                float eps);

/* SiglipVisionEmbeddings: the stride-p convolution over the patch grid, then
 * the position embedding. embeddings [P, E]; row p is the patch in grid row
 * p / g and column p % g. */
void siglip_vision_embeddings(float *embeddings, const float *pixel_values,
                              const float *patch_embedding_weight, const float *patch_embedding_bias,
                              const float *position_embedding_weight, int num_channels, int image_size,
                              int patch_size, int E);

/* SiglipAttention on hidden_states [T, E] into out [T, E] (out must not alias
 * hidden_states): every token attends to every token, no mask. Uses the
 * query, key, value, attention and per-head buffers of state;
 * T <= state->max_tokens. */
void siglip_attention(float *out, const float *hidden_states, const siglip_encoder_layer_weights *weights,
                      int T, int E, int H, siglip_vision_state *state);

/* SiglipMLP on hidden_states [T, E] into out [T, E] (out must not alias
 * hidden_states). Uses state->mlp_hidden; T <= state->max_tokens. */
void siglip_mlp(float *out, const float *hidden_states, const siglip_encoder_layer_weights *weights,
                int T, int E, int F, siglip_vision_state *state);

/* SiglipEncoderLayer, in place on hidden_states [T, E]. Uses state->normed,
 * state->branch_output and the buffers of the two branches, so hidden_states
 * may be state->hidden_states but no other state buffer. */
void siglip_encoder_layer(float *hidden_states, const siglip_encoder_layer_weights *weights,
                          const siglip_vision_config *config, int T, siglip_vision_state *state);

/* Where a hook is called from during siglip_vision_model_forward. */
typedef enum {
    SIGLIP_STAGE_EMBEDDINGS,    /* after SiglipVisionEmbeddings; layer_idx is -1 */
    SIGLIP_STAGE_ENCODER_LAYER, /* after encoder layer layer_idx */
    SIGLIP_STAGE_POST_LAYERNORM /* the final image features; layer_idx is -1 */
} siglip_stage;

/* Called with each stage's output, hidden_states [T, E], valid only during
 * the call. A tool that dumps activations or a test that checks them per
 * stage passes one; the forward pass itself needs none. */
typedef void (*siglip_stage_hook)(void *context, siglip_stage stage, int layer_idx,
                                  const float *hidden_states, int T, int E);

/* SiglipVisionModel: pixel_values [Cn, I, I] -> image_features [P, E]. Calls
 * hook (if not NULL) after the embeddings, after every layer and with the
 * post-layernorm output. Returns -1 with a message if the config is invalid
 * or state was made for another size; nothing is computed then. */
int siglip_vision_model_forward(float *image_features, const float *pixel_values,
                                const siglip_vision_weights *weights, const siglip_vision_config *config,
                                siglip_vision_state *state, siglip_stage_hook hook, void *hook_context,
                                pg_error *err);

#endif
