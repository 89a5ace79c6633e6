/*
 * Chapter 7: GemmaDecoderLayer, one pre-norm transformer block.
 *
 * Mirrors the PyTorch class GemmaDecoderLayer (golden/modeling_gemma.py):
 *   h = h + self_attn(input_layernorm(h))             (chapters 3 and 6)
 *   h = h + mlp(post_attention_layernorm(h))          (chapters 3 and 4)
 * Both norms are GemmaRMSNorm, which scales by (1 + weight). The residual
 * stream h itself is never normalized inside the layer.
 *
 * Shapes (letters in common/dims.h):
 *   hidden_states, out                        [T, D]
 *   input_layernorm, post_attention_layernorm [D]
 *   self_attn, mlp                            see chapters 6 and 4
 *   attention_mask                            [T, S] or NULL (chapter 6's contract)
 *   position_ids                              [T], 1-based in PaliGemma
 */
#ifndef PG_DECODER_LAYER_H
#define PG_DECODER_LAYER_H

#include "01_kv_cache/kv_cache.h"
#include "04_mlp/mlp.h"
#include "06_attention/attention.h"
#include "pg_error.h"

/* The weights of one layer, named as in the checkpoint
 * (language_model.model.layers.N.<field>.weight). */
typedef struct {
    const float *input_layernorm;          /* [D] */
    gemma_attention_weights self_attn;
    const float *post_attention_layernorm; /* [D] */
    gemma_mlp_weights mlp;
} gemma_decoder_layer_weights;

/* Called inside gemma_decoder_layer with the layer's input and the attention
 * sublayer's output (o_proj, before the residual add), both [T, D]. The
 * pointers are valid only during the call. */
typedef void (*gemma_attention_callback)(void *user_data, int layer_idx, const float *layer_input,
                                         const float *attention_output, int T, int hidden_size);

/* Caller-owned working memory for gemma_decoder_layer. */
typedef struct {
    int max_tokens;        /* T at most */
    int hidden_size;       /* D */
    int intermediate_size; /* F */
    float *normed;         /* [T, D]: the RMSNorm output fed to a sublayer */
    float *sublayer_output; /* [T, D]: attention or MLP output before the residual add */
    float *gate, *up;      /* [T, F]: MLP scratch */
    gemma_attention_scratch attention;
    /* NULL after create; set it to see each attention output (activation dumps). */
    gemma_attention_callback attention_callback;
    void *attention_user_data;
} gemma_decoder_layer_scratch;

/* Allocates the scratch for at most max_tokens new tokens and max_cached
 * cached ones. Returns -1 with a message on invalid sizes (see
 * gemma_attention_scratch_create) or when memory runs out. */
int gemma_decoder_layer_scratch_create(gemma_decoder_layer_scratch *scratch, int max_tokens, int max_cached,
                                       int hidden_size, int intermediate_size, int num_heads,
                                       int num_key_value_heads, int head_dim, pg_error *err);

/* Frees the buffers and zeroes the struct. */
void gemma_decoder_layer_scratch_free(gemma_decoder_layer_scratch *scratch);

/* Writes the layer's output for T new tokens into out [T, D]; out may alias
 * hidden_states. cache and layer_idx are passed to the attention (cache may
 * be NULL). Returns -1 with a message, before writing out, if the sizes
 * disagree with the scratch or the cache, or the cache is full. */
int gemma_decoder_layer(float *out, const float *hidden_states, const gemma_decoder_layer_weights *weights,
                        const float *attention_mask, const int *position_ids, kv_cache *cache, int layer_idx,
                        gemma_decoder_layer_scratch *scratch, int T, int hidden_size, int intermediate_size,
                        int num_heads, int num_key_value_heads, int head_dim, float rms_norm_eps,
                        float rope_theta, pg_error *err);

#endif
