/*
 * Chapter 11: merging the image features into the text sequence, and the
 * attention mask and positions of that sequence.
 *
 * Mirrors _merge_input_ids_with_image_features, build_prefix_lm_mask and
 * build_position_ids of golden/modeling_paligemma.py, after Hugging Face's
 * PaliGemmaForConditionalGeneration (transformers 4.42 to 4.48):
 *
 *   row t of inputs_embeds =  image_features[k] / sqrt(D)   if input_ids[t] is <image> (the k-th one)
 *                             0                             if input_ids[t] is the pad token
 *                             embed_tokens[input_ids[t]]    otherwise
 *
 * GemmaModel then multiplies every row by its normalizer sqrt(D), so text
 * rows end up scaled by sqrt(D) and image rows return to the projector
 * output (within one float32 ulp).
 *
 * Shapes (letters in common/dims.h):
 *   input_ids        [T]      int token ids
 *   embed_tokens     [V, D]   Gemma's embedding table
 *   image_features   [P, D]   the projector output, one row per <image> id
 *   inputs_embeds    [T, D]
 *   attention_mask   [T, S]   0.0f = attend, -INFINITY = masked
 *   position_ids     [T]      1-based
 */
#ifndef PG_MERGE_H
#define PG_MERGE_H

#include "linear.h"
#include "pg_error.h"

/* Returns sqrt(hidden_size) rounded to float32, the value both PyTorch steps
 * use: 45.2548332 for D = 2048. The merge divides image rows by it and
 * GemmaModel multiplies every row by it. */
float paligemma_embedding_normalizer(int hidden_size);

/* Writes inputs_embeds [T, D] from input_ids [T], embed_tokens [V, D] and the
 * projected image_features [P, D], as in the formula above. A negative
 * pad_token_id means the model has no pad token (transformers uses -1).
 * Returns -1 with a message, writing nothing, if image_token_index,
 * pad_token_id or any input id lies outside 0..V-1, or if the number of
 * image_token_index ids differs from P. */
int paligemma_merge_input_ids_with_image_features(float *inputs_embeds, const int *input_ids,
                                                  weight_matrix embed_tokens, const float *image_features,
                                                  int T, int V, int D, int P, int image_token_index,
                                                  int pad_token_id, pg_error *err);

/* Writes the prefix-LM attention mask [T, S] for T new tokens that follow
 * past_length cached ones. Query t is at position q = past_length + t. It
 * may attend to key s when s was written (s < past_length + T) and either
 * s < prefix_length or s <= q. So the prefix (image tokens, <bos>, prompt,
 * "\n") attends to itself in both directions, and the suffix is causal.
 * Slots s >= past_length + T of a preallocated cache are masked. Returns -1
 * with a message if a size is negative, T is not positive,
 * S < past_length + T, or prefix_length > past_length + T (because the
 * prefix must be complete). */
int paligemma_prefix_lm_mask(float *attention_mask, int prefix_length, int past_length, int T, int S,
                             pg_error *err);

/* Writes the 1-based positions of T new tokens after past_length cached
 * ones: past_length + 1 .. past_length + T. */
void paligemma_position_ids(int *position_ids, int past_length, int T);

#endif
